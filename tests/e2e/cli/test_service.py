"""``whisperd service``: the unit text (snapshot, systemd's own verifier) and the real commands."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.commands import WHISPERD, clean_env, whisperd
from whisperd import __version__
from whisperd.cli.systemd_unit import UnitSpec, parse_assignment, parse_unit, render_unit, split_words

SNAPSHOT = f"""\
# Written by `whisperd service install` (whisperd {__version__}). After editing:
#   systemctl --user daemon-reload && systemctl --user restart whisperd
[Unit]
Description=whisperd: OpenAI-compatible speech-to-text server

[Service]
Type=exec
ExecStart="/home/ann/my apps/venv/bin/whisperd" serve
# SIGHUP re-reads WHISPERD_API_KEYS_FILE: rotate keys without a restart.
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=5
# The server finishes requests in flight for up to 30 s after SIGTERM.
TimeoutStopSec=40
# Each upload in flight holds a socket and a file; systemd's default soft limit of 1024 would stop
# the server accepting anyone long before WHISPERD_MAX_UPLOADS_IN_FLIGHT is reached.
LimitNOFILE=65536
Environment="PYTHONUNBUFFERED=1"
Environment="WHISPERD_HOST=127.0.0.1"
Environment="WHISPERD_PORT=5000"
Environment="WHISPERD_MODEL=base"
Environment="LD_LIBRARY_PATH=/opt/cuda lib:/usr/lib/wsl/lib"
Environment="NOTE=say \\"hi\\" for 100%% of $HOME \\\\o/"

[Install]
WantedBy=default.target
"""

TRICKY = {"NOTE": 'say "hi" for 100% of $HOME \\o/'}


def spec() -> UnitSpec:
    return UnitSpec(
        Path("/home/ann/my apps/venv/bin/whisperd"),
        {
            "WHISPERD_HOST": "127.0.0.1",
            "WHISPERD_PORT": "5000",
            "WHISPERD_MODEL": "base",
            "LD_LIBRARY_PATH": "/opt/cuda lib:/usr/lib/wsl/lib",
            **TRICKY,
        },
    )


def test_unit_snapshot() -> None:
    assert render_unit(spec()) == SNAPSHOT


def test_the_unit_reads_back() -> None:
    parsed = parse_unit(render_unit(spec()))
    assert parsed.exec_start == ["/home/ann/my apps/venv/bin/whisperd", "serve"]
    assert parsed.environment == {"PYTHONUNBUFFERED": "1", **spec().environment}
    assert parsed.settings["Restart"] == "always"
    assert parsed.settings["RestartSec"] == "5"


_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)
_values = st.text(st.characters(exclude_categories=("Cs", "Cc")) | st.just("\t"), max_size=40)


@given(st.dictionaries(_names, _values, max_size=4), _values.filter(lambda v: "/" not in v))
def test_any_value_survives_the_quoting(environment: dict[str, str], folder: str) -> None:
    executable = Path(f"/opt/{folder or 'x'}/whisperd")
    parsed = parse_unit(render_unit(UnitSpec(executable, environment)))
    assert parsed.exec_start == [str(executable), "serve"]
    assert parsed.environment == {"PYTHONUNBUFFERED": "1", **environment}


def test_values_a_unit_cannot_hold_are_refused() -> None:
    with pytest.raises(ValueError, match="control character"):
        parse_assignment("A=two\nlines")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_assignment("1A=x")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_assignment("no-equals-sign")
    with pytest.raises(ValueError, match="absolute"):
        render_unit(UnitSpec(Path("bin/whisperd")))
    assert split_words('a \'b c\' "d\\"e" 100%%') == ["a", "b c", 'd"e', "100%"]


def home(tmp_path: Path, path: str = "") -> dict[str, str]:
    """A fresh user: HOME and XDG_CONFIG_HOME under ``tmp_path``, and PATH first through ``path``."""
    env = clean_env(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"))
    if path:
        env["PATH"] = f"{path}:{env['PATH']}"
    return env


def unit_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "systemd" / "user" / "whisperd.service"


def fake_systemctl(folder: Path, exit_code: int = 0) -> Path:
    """A ``systemctl`` that records its arguments: the commands are the subject, not systemd itself."""
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / "calls"
    script = folder / "systemctl"
    script.write_text(
        f'#!/bin/sh\necho "$*" >> "{record}"\n'
        + ("" if exit_code == 0 else 'echo "Failed to connect to bus: No medium found" >&2\n')
        + f"exit {exit_code}\n"
    )
    script.chmod(0o755)
    return record


def test_install_writes_a_private_unit_and_prints_the_commands(tmp_path: Path) -> None:
    env = home(tmp_path)
    result = whisperd(
        "service", "install", "--port", "5123", "--model", "tiny.en",
        "--env", "WHISPERD_API_KEYS=secret", "--env", f"NOTE={TRICKY['NOTE']}", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = unit_file(tmp_path)
    out = result.stdout.decode()
    assert f"Wrote {path}" in out
    assert "systemctl --user daemon-reload\n  systemctl --user enable --now whisperd.service" in out
    assert "loginctl enable-linger" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds an API key
    parsed = parse_unit(path.read_text())
    assert parsed.exec_start == [str(WHISPERD), "serve"]
    assert os.path.isabs(parsed.exec_start[0])
    assert os.access(parsed.exec_start[0], os.X_OK)
    assert parsed.environment == {
        "PYTHONUNBUFFERED": "1",
        "WHISPERD_HOST": "127.0.0.1",
        "WHISPERD_PORT": "5123",
        "WHISPERD_MODEL": "tiny.en",
        "WHISPERD_API_KEYS": "secret",
        **TRICKY,
    }
    assert parsed.settings["Restart"] == "always"
    assert parsed.settings["RestartSec"] == "5"
    shown = whisperd("service", "show", env=env)
    assert shown.returncode == 0
    assert shown.stdout.decode() == path.read_text()


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed (apt: systemd)"
)
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    env = home(tmp_path)
    assert whisperd("service", "install", "--env", f"NOTE={TRICKY['NOTE']}", env=env).returncode == 0
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    verify = subprocess.run(
        ["systemd-analyze", "--user", "verify", str(unit_file(tmp_path))],
        env={**env, "XDG_RUNTIME_DIR": str(runtime)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    assert verify.stderr == ""  # systemd only warns about bad quoting; a warning is a failure here


def test_install_now_runs_systemctl(tmp_path: Path) -> None:
    calls = fake_systemctl(tmp_path / "bin")
    result = whisperd("service", "install", "--now", env=home(tmp_path, str(tmp_path / "bin")))
    assert result.returncode == 0, result.stderr
    assert calls.read_text().splitlines() == ["--user daemon-reload", "--user enable --now whisperd.service"]
    assert "Started whisperd.service" in result.stdout.decode()


def test_install_now_without_a_user_manager_still_writes_the_unit(tmp_path: Path) -> None:
    fake_systemctl(tmp_path / "bin", exit_code=1)
    result = whisperd("service", "install", "--now", env=home(tmp_path, str(tmp_path / "bin")))
    assert result.returncode == 1
    errors = result.stderr.decode()
    assert "Failed to connect to bus" in errors
    assert "systemctl --user enable --now whisperd.service" in errors
    assert unit_file(tmp_path).is_file()


def test_a_network_address_needs_keys(tmp_path: Path) -> None:
    refused = whisperd("service", "install", "--host", "0.0.0.0", env=home(tmp_path))
    assert refused.returncode == 2
    assert b"without API keys" in refused.stderr
    assert not unit_file(tmp_path).exists()
    keyed = whisperd(
        "service",
        "install",
        "--host",
        "0.0.0.0",
        "--env",
        "WHISPERD_API_KEYS_FILE=/etc/keys",
        env=home(tmp_path),
    )
    assert keyed.returncode == 0, keyed.stderr
    assert whisperd("service", "install", "--env", "1BAD=x", env=home(tmp_path)).returncode == 2


def test_wyoming_beyond_loopback_needs_the_allow_flag_whatever_the_keys(tmp_path: Path) -> None:
    wyoming = ("--env", "WHISPERD_WYOMING_URI=tcp://0.0.0.0:10300", "--env", "WHISPERD_API_KEYS=k")
    refused = whisperd("service", "install", *wyoming, env=home(tmp_path))
    assert refused.returncode == 2
    assert b"refusing to serve Wyoming on 0.0.0.0" in refused.stderr
    assert not unit_file(tmp_path).exists()
    bad = whisperd("service", "install", "--env", "WHISPERD_WYOMING_URI=http://x:1", env=home(tmp_path))
    assert bad.returncode == 2
    assert b"use tcp://HOST:PORT" in bad.stderr
    allowed = whisperd(
        "service", "install", *wyoming, "--env", "WHISPERD_ALLOW_UNAUTHENTICATED=true", env=home(tmp_path)
    )
    assert allowed.returncode == 0, allowed.stderr
    assert "WHISPERD_WYOMING_URI=tcp://0.0.0.0:10300" in unit_file(tmp_path).read_text()


def test_uninstall_stops_disables_and_removes(tmp_path: Path) -> None:
    calls = fake_systemctl(tmp_path / "bin")
    env = home(tmp_path, str(tmp_path / "bin"))
    assert whisperd("service", "install", env=env).returncode == 0
    result = whisperd("service", "uninstall", env=env)
    assert result.returncode == 0, result.stderr
    assert "--user disable --now whisperd.service" in calls.read_text().splitlines()
    assert not unit_file(tmp_path).exists()
    assert whisperd("service", "show", env=env).returncode == 1
    assert whisperd("service", "uninstall", env=env).returncode == 0  # nothing left: still fine


def test_uninstall_without_systemd_removes_the_enable_link_too(tmp_path: Path) -> None:
    fake_systemctl(tmp_path / "bin", exit_code=1)
    env = home(tmp_path, str(tmp_path / "bin"))
    assert whisperd("service", "install", env=env).returncode == 0
    wants = unit_file(tmp_path).parent / "default.target.wants"
    wants.mkdir()
    (wants / "whisperd.service").symlink_to(unit_file(tmp_path))
    result = whisperd("service", "uninstall", env=env)
    assert result.returncode == 0
    assert b"could not stop it through systemd" in result.stderr
    assert not unit_file(tmp_path).exists()
    assert not (wants / "whisperd.service").is_symlink()


def test_the_unit_raises_the_descriptor_limit() -> None:
    """Each upload in flight holds a socket and a file; systemd's default soft limit of 1,024 would stop
    the server from accepting anyone long before the configured bounds are reached."""
    limit = parse_unit(render_unit(spec())).settings.get("LimitNOFILE", "1024")
    assert int(limit.split(":")[-1]) >= 65536
