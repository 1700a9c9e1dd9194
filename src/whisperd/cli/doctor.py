"""``whisperd doctor [--server URL]``: find out why a set-up does not work, and say how to fix it.

Without ``--server`` it checks this machine as a server: Python and packages, CUDA as CTranslate2 and
the driver see it, the default model, the configured port, the installed service unit, and, when a
whisperd already listens on the port, that server too. With ``--server`` it checks from a client
machine: the server's ``/health``, a 1-second clip's round trip, and its latency; ``--server auto``
first finds the server on the LAN (mDNS) and says whether it did. Exit status 0 only when every needed
check passes (warnings and notes do not count).
"""

from __future__ import annotations

import argparse
import errno
import importlib.metadata
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

from whisperd.cli.client import WhisperdClient, api_key_from, error_message
from whisperd.cli.diagnosis import (
    Check,
    check_cuda,
    check_discovery,
    check_health,
    check_model,
    check_packages,
    check_port,
    check_python,
    check_round_trip,
    check_unit,
    exit_code,
    format_check,
    pinned_requirements,
)
from whisperd.cli.discover import AUTO, DEFAULT_TIMEOUT, find_server

__all__ = [
    "WSL_NVIDIA_SMI",
    "list_gpus",
    "local_url",
    "model_check",
    "nvidia_smi_path",
    "one_second_wav",
    "packages_check",
    "port_check",
    "register",
    "run",
    "server_checks",
    "server_key",
    "unit_check",
]

WSL_NVIDIA_SMI = Path("/usr/lib/wsl/lib/nvidia-smi")


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "doctor", help="check the set-up and explain what to fix", description=__doc__
    )
    parser.add_argument(
        "--server",
        metavar="URL",
        help="check a server from this (client) machine ('auto': find it on the LAN); "
        "the key comes from $WHISPER_API_KEY or $OPENAI_API_KEY",
    )
    parser.set_defaults(run=run)


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def packages_check() -> Check:
    whisperd = _version("whisperd")
    try:
        requires = importlib.metadata.requires("whisperd") or []
    except importlib.metadata.PackageNotFoundError:
        requires = []
    pins = pinned_requirements(requires)
    return check_packages(whisperd, pins, {name: _version(name) for name in pins})


def nvidia_smi_path() -> str | None:
    found = shutil.which("nvidia-smi")
    if found:
        return found
    return str(WSL_NVIDIA_SMI) if WSL_NVIDIA_SMI.is_file() else None


def list_gpus(nvidia_smi: str) -> list[str] | None:
    try:
        done = subprocess.run(
            [nvidia_smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def model_check(settings: Any) -> Check:
    from whisperd.engine.catalog import ModelCatalog, ModelUnavailable

    local = ModelCatalog(settings.cache_dir, settings.model_dirs)
    available = [entry.name for entry in local.entries()]
    try:
        entry = local.resolve(settings.model, allow_path=True)
    except ModelUnavailable as exc:
        return check_model(settings.model, None, exc.reason, available)
    return check_model(settings.model, (entry.origin, str(entry.path)), None, available)


def port_check(host: str, port: int, client: WhisperdClient) -> tuple[Check, bool]:
    """The verdict, and whether a whisperd answers on that port."""
    bind_error = errno_name = None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            bind_error = exc.strerror or str(exc)
            errno_name = errno.errorcode.get(exc.errno or 0)
    model = None
    if errno_name == "EADDRINUSE":
        try:
            body = client.get("/health", timeout=5).json()
            if isinstance(body, dict) and {"status", "model"} <= body.keys():
                model = str(body["model"])
        except Exception:
            model = None
    return check_port(host, port, bind_error, errno_name, model), model is not None


def unit_check() -> Check:
    from whisperd.cli.systemd_unit import parse_unit, unit_path

    path = unit_path(os.environ)
    if not path.is_file():
        return check_unit(str(path), None, False)
    words = parse_unit(path.read_text()).exec_start
    usable = bool(words) and os.path.isfile(words[0]) and os.access(words[0], os.X_OK)
    return check_unit(str(path), words, usable)


def one_second_wav() -> bytes:
    """One second of a quiet 440 Hz tone, 16 kHz mono: valid audio that every decoder accepts."""
    import math

    frames = bytearray()
    for n in range(16_000):
        frames += int(3000 * math.sin(2 * math.pi * 440 * n / 16_000)).to_bytes(2, "little", signed=True)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(bytes(frames))
    return buffer.getvalue()


def server_checks(client: WhisperdClient) -> list[Check]:
    try:
        health = client.get("/health", timeout=10)
    except Exception as exc:
        return [check_health(client.root, None, None, str(exc))]
    try:
        body = health.json()
    except ValueError:
        body = None
    checks = [check_health(client.root, health.status_code, body if isinstance(body, dict) else None, None)]
    if health.status_code != 200:
        return checks
    started = time.perf_counter()
    try:
        response = client.post(
            "/v1/audio/transcriptions",
            files={"file": ("doctor.wav", one_second_wav(), "audio/wav")},
            data={"model": "whisper-1", "response_format": "json"},
        )
    except Exception as exc:
        return [*checks, check_round_trip(None, None, str(exc))]
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        return [*checks, check_round_trip(response.status_code, None, error_message(response))]
    if not isinstance(_json(response).get("text"), str):
        return [
            *checks,
            check_round_trip(200, None, "the answer has no text: is this an OpenAI-compatible server?"),
        ]
    return [*checks, check_round_trip(200, seconds, None)]


def server_key(keys: list[str], keys_file: Path | None) -> str | None:
    """On the server's own machine, one of its keys lets doctor try a real request."""
    if keys:
        return keys[0]
    if keys_file is not None:
        try:
            for line in keys_file.read_text().splitlines():
                key = line.split("#", 1)[0].strip()
                if key:
                    return key
        except OSError:
            return None
    return None


def local_url(host: str, port: int) -> str:
    """Where a client on this machine reaches a server bound to ``host``."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def run(args: argparse.Namespace) -> int:
    checks = [check_python(tuple(sys.version_info[:3])), packages_check()]
    if args.server == AUTO:
        found = find_server(DEFAULT_TIMEOUT)
        checks.append(check_discovery(found, DEFAULT_TIMEOUT))
        if found is None:
            return _report(checks)
        args.server = found
    if args.server:
        with WhisperdClient(args.server, api_key_from(os.environ), retry_seconds=0) as client:
            checks += server_checks(client)
        return _report(checks)
    from whisperd.config import Settings
    from whisperd.engine.faster_whisper.adapter import cuda_device_count

    settings = Settings()
    smi = nvidia_smi_path()
    checks += check_cuda(settings.device, cuda_device_count(), smi, list_gpus(smi) if smi else None)
    checks.append(model_check(settings))
    checks.append(unit_check())
    key = api_key_from(os.environ) or server_key(settings.api_keys, settings.api_keys_file)
    with WhisperdClient(local_url(settings.host, settings.port), key, retry_seconds=0) as client:
        port, running = port_check(settings.host, settings.port, client)
        checks.append(port)
        if running:
            checks += server_checks(client)
    return _report(checks)


def _report(checks: list[Check]) -> int:
    for check in checks:
        print(format_check(check))
    code = exit_code(checks)
    failed = sum(check.status == "fail" for check in checks)
    print("\nAll needed checks passed." if code == 0 else f"\n{failed} check(s) failed; see the fixes above.")
    return code
