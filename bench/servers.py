"""The two servers under test as subprocesses on 127.0.0.1: started, timed to health, measured, stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["Server", "free_port", "peak_rss_mib", "start_reference", "start_whisperd"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory (``VmHWM``), in MiB; 0 when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class Server:
    """A running server process and how long it took to answer ``/health`` with 200."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    ready_seconds: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def transcriptions_url(self) -> str:
        return f"{self.url}/v1/audio/transcriptions"

    def wait_ready(self, started: float, timeout: float = 120.0) -> None:
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {self.tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    self.ready_seconds = time.monotonic() - started
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        raise TimeoutError(f"{self.name} not ready after {timeout}s: {self.tail()}")

    def peak_rss_mib(self) -> float:
        return peak_rss_mib(self.process.pid)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start(name: str, command: list[str], env: dict[str, str], port: int, folder: Path) -> Server:
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{name}.out"
    started = time.monotonic()
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=folder
        )
    server = Server(name, process, port, log)
    try:
        server.wait_ready(started)
    except BaseException:
        server.stop()
        raise
    return server


def start_reference(model_dir: Path, folder: Path, device: str, compute_type: str) -> Server:
    """The Flask re-implementation of the reference design (:mod:`bench.reference_server`)."""
    port = free_port()
    command = [
        sys.executable, "-m", "bench.reference_server", "--model-dir", str(model_dir), "--port", str(port),
        "--device", device, "--compute-type", compute_type,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "PYTHONUNBUFFERED": "1"}
    return _start("reference", command, env, port, folder)


def start_whisperd(
    cache_dir: Path, folder: Path, device: str, profile: str, extra_env: dict[str, str] | None = None
) -> Server:
    """``whisperd serve`` as a user runs it, with the ``base`` model from the shared model cache."""
    port = free_port()
    env = {
        **os.environ,
        "WHISPERD_MODEL": "base",
        "WHISPERD_PORT": str(port),
        "WHISPERD_HOST": "127.0.0.1",
        "WHISPERD_DEVICE": device,
        "WHISPERD_PROFILE": profile,
        "WHISPERD_CACHE_DIR": str(cache_dir),
        "WHISPERD_LOG_DIR": str(folder / f"logs-{profile}"),
        "WHISPERD_TEMP_DIR": str(folder),
        "WHISPERD_JOBS": "false",  # two servers side by side; the bench sends no jobs
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    command = [sys.executable, "-m", "whisperd.cli.main", "serve"]
    return _start(f"whisperd-{profile}", command, env, port, folder)
