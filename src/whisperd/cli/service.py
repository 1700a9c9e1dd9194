"""``whisperd service install|uninstall|show``: run the server as a systemd user service.

``install`` writes ``~/.config/systemd/user/whisperd.service`` (mode 0600: it may hold API keys) and
prints the ``systemctl --user`` commands that start it; with ``--now`` it runs them. Where no systemd
user manager answers (a container, a WSL set-up without systemd), the unit is still written and the
commands are printed for a session that has one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from whisperd.cli.systemd_unit import UNIT_NAME, UnitSpec, parse_assignment, render_unit, unit_path
from whisperd.config import Settings, WyomingEndpoint
from whisperd.security import bind_refusal, wyoming_bind_refusal

__all__ = ["find_executable", "register", "run_install", "run_show", "run_uninstall"]

_ENABLE = (("daemon-reload",), ("enable", "--now", UNIT_NAME))
_TRUE = {"1", "true", "yes", "on"}


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "service", help="run whisperd as a systemd user service"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    install = actions.add_parser("install", help="write the user unit (and start it with --now)")
    install.add_argument("--host", help="address to bind (default 127.0.0.1)")
    install.add_argument("--port", type=int, help="TCP port (default 5000)")
    install.add_argument("--model", help="default model (default base)")
    install.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another environment variable for the server (repeatable), e.g. WHISPERD_API_KEYS_FILE=...",
    )
    install.add_argument("--now", action="store_true", help="reload systemd and enable and start the service")
    install.set_defaults(run=run_install)
    uninstall = actions.add_parser("uninstall", help="stop and disable the service and remove the unit")
    uninstall.set_defaults(run=run_uninstall)
    show = actions.add_parser("show", help="print the installed unit")
    show.set_defaults(run=run_show)


def find_executable() -> Path:
    """The ``whisperd`` script beside this Python (the virtual environment it is installed in)."""
    beside = Path(os.path.abspath(sys.executable)).parent / "whisperd"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("whisperd")
    if found is None:
        raise FileNotFoundError(
            "cannot find the installed whisperd executable; install whisperd with pip first"
        )
    return Path(os.path.abspath(found))


def _environment(args: argparse.Namespace) -> dict[str, str]:
    defaults = Settings.model_fields
    environment = {
        "WHISPERD_HOST": args.host or str(defaults["host"].default),
        "WHISPERD_PORT": str(args.port if args.port is not None else defaults["port"].default),
        "WHISPERD_MODEL": args.model or str(defaults["model"].default),
    }
    for assignment in args.env:
        key, value = parse_assignment(assignment)
        environment[key] = value
    return environment


def _systemctl(*command: str) -> tuple[bool, str]:
    if shutil.which("systemctl") is None:
        return False, "systemctl is not installed"
    try:
        done = subprocess.run(
            ["systemctl", "--user", *command], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return done.returncode == 0, (done.stderr or done.stdout).strip()


def _commands(*commands: tuple[str, ...]) -> str:
    return "\n".join("  systemctl --user " + " ".join(command) for command in commands)


def run_install(args: argparse.Namespace) -> int:
    try:
        environment = _environment(args)
        executable = find_executable()
    except (ValueError, FileNotFoundError) as exc:
        print(f"whisperd: {exc}", file=sys.stderr)
        return 2
    has_keys = bool(environment.get("WHISPERD_API_KEYS") or environment.get("WHISPERD_API_KEYS_FILE"))
    unauthenticated = environment.get("WHISPERD_ALLOW_UNAUTHENTICATED", "").lower() in _TRUE
    refusal = bind_refusal(environment["WHISPERD_HOST"], has_keys, unauthenticated)
    if refusal is None and environment.get("WHISPERD_WYOMING_URI"):
        try:
            endpoint = WyomingEndpoint.parse(environment["WHISPERD_WYOMING_URI"])
        except ValueError as exc:
            print(f"whisperd: {exc}", file=sys.stderr)
            return 2
        refusal = wyoming_bind_refusal(endpoint.host, unauthenticated)
    if refusal:  # the service would only restart every 5 s with this message in the journal
        print(f"whisperd: {refusal} (give it to the service with --env)", file=sys.stderr)
        return 2
    path = unit_path(os.environ)
    path.parent.mkdir(parents=True, exist_ok=True)
    replaced = path.exists()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(render_unit(UnitSpec(executable, environment)))
    os.chmod(path, 0o600)  # also when an older, wider file was replaced
    print(f"{'Replaced' if replaced else 'Wrote'} {path}")
    url = f"http://{environment['WHISPERD_HOST']}:{environment['WHISPERD_PORT']}"
    if args.now:
        for command in _ENABLE:
            ok, output = _systemctl(*command)
            if not ok:
                print(
                    f"whisperd: `systemctl --user {' '.join(command)}` failed: {output or 'no output'}\n"
                    f"The unit is written; in a session with a systemd user manager, run:\n{_commands(*_ENABLE)}",
                    file=sys.stderr,
                )
                return 1
        print(f"Started {UNIT_NAME}; it starts again at every login.")
    else:
        print(f"Start it now and at every login:\n{_commands(*_ENABLE)}")
    print(
        "To start it at boot without a login, and keep it after you log out:\n"
        f"  sudo loginctl enable-linger {os.environ.get('USER', '$USER')}\n"
        f"Logs: journalctl --user -u whisperd -f\n"
        f"Check it: whisperd doctor --server {url}"
    )
    return 0


def run_uninstall(args: argparse.Namespace) -> int:
    path = unit_path(os.environ)
    if not path.exists():
        print(f"{UNIT_NAME} is not installed ({path} does not exist)")
        return 0
    stopped, output = _systemctl("disable", "--now", UNIT_NAME)
    if not stopped:
        print(
            f"note: could not stop it through systemd ({output or 'no output'}); if it runs elsewhere, stop it there",
            file=sys.stderr,
        )
    path.unlink()
    wants = path.parent / "default.target.wants" / UNIT_NAME  # what `disable` removes, when it could not run
    if wants.is_symlink():
        wants.unlink()
    if stopped:
        _systemctl("daemon-reload")
    print(f"Removed {path}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    path = unit_path(os.environ)
    if not path.exists():
        print(
            f"whisperd: {UNIT_NAME} is not installed ({path}); `whisperd service install` writes it",
            file=sys.stderr,
        )
        return 1
    sys.stdout.write(path.read_text())
    return 0
