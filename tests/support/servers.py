"""Start and stop real whisperd servers on 127.0.0.1 for tests: a subprocess, a free port, its own folders."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["RunningServer", "free_port", "speaker_weights", "start_server"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningServer:
    """A whisperd process and the folders it writes to."""

    process: subprocess.Popen[bytes]
    port: int
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    wyoming_port: int | None = None
    """The Wyoming listener's port, when started with ``wyoming=True``."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def upload_root(self) -> Path:
        return self.root / "tmp" / "whisperd-uploads"

    def upload_files(self) -> list[Path]:
        """Upload files on disk right now, in every run folder (should be none between requests)."""
        return sorted(self.upload_root.glob("run-*/upload-*")) if self.upload_root.is_dir() else []

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def job_files(self) -> list[Path]:
        """Job audio and job uploads on disk right now."""
        return sorted([*self.data_dir.glob("audio/*"), *self.data_dir.glob("incoming/*")])

    @property
    def log_file(self) -> Path:
        return self.root / "logs" / "whisperd.log"

    def log_lines(self) -> list[str]:
        return self.log_file.read_text().splitlines() if self.log_file.exists() else []

    def wait_for_log(self, *needles: str, after: int = 0, timeout: float = 30.0) -> str:
        """The first log line after line ``after`` with every needle (a request's line comes as it ends)."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_lines()[after:]:
                if all(needle in line for needle in needles):
                    return line
            if time.monotonic() > deadline:
                raise TimeoutError(f"no log line with {needles}; last lines: {self.log_lines()[-5:]}")
            time.sleep(0.05)

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not healthy after {timeout}s: {self.output()}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def open_fds(self) -> int:
        """File descriptors the server process holds right now."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def deleted_open_files(self) -> list[str]:
        """Descriptors that point to files already deleted: space the disk cannot get back."""
        found = []
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                target = os.readlink(f"/proc/{self.pid}/fd/{fd}")
            except FileNotFoundError:  # closed since it was listed
                continue
            if target.endswith(" (deleted)"):
                found.append(target)
        return found

    def threads(self) -> int:
        """Threads of the server process right now (compare with :data:`POOL_GROWTH` in mind)."""
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def cpu_seconds(self) -> float:
        """User and system CPU time the server process has used so far (all its threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mib(self, field: str = "VmRSS") -> float:
        """``VmRSS`` (resident now) or ``VmHWM`` (the peak resident size so far), in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
        raise KeyError(field)

    def settled_memory_mib(self) -> float:
        """Resident MiB once an idle server has given its free memory back: the median of five readings
        0.3 s apart. A reading taken as a reply arrives races the idle trim, which runs just after the
        request's slot is released (seen: 320 or 420 MiB for the same state, 320 a moment later)."""
        readings = []
        for _ in range(5):
            time.sleep(0.3)
            readings.append(self.memory_mib())
        return statistics.median(readings)

    def output(self) -> str:
        path = self.root / "server.out"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def speaker_weights() -> Path:
    """The speaker model that ``make setup`` installed (``whisperd models pull campplus``), for every server."""
    from whisperd.config import Settings

    return Settings().speaker_weights()


POOL_GROWTH = 1
"""Threads a serving process may add between two readings while holding nothing: the event loop's default
pool (``asyncio.to_thread``) starts its next worker only when two of its calls meet, which can happen at
any request (seen: 16 -> 17 threads after the 2nd, the 3rd or the 7th of identical requests in a row);
the worker stays, as pools' workers do, bounded by Python. A thread kept per request or per connection
shows as more than this after a few of them."""


def start_server(
    root: Path,
    *,
    model: str = "tiny.en",
    extra_env: dict[str, str] | None = None,
    args: list[str] | None = None,
    wait: bool = True,
    port: int | None = None,
    wyoming: bool = False,
    prefix: list[str] | None = None,
    advertise: bool = False,
) -> RunningServer:
    """Run ``whisperd serve`` as a user would, with every folder under ``root``.

    ``wyoming`` also serves Wyoming on 127.0.0.1 (a free port); ``prefix`` runs the command under
    another one (``ip netns exec NAME``), in which case the caller waits for it to be ready. A test
    server never announces itself (it could reach this machine's real network) unless ``advertise``
    leaves the decision to the server, for a server inside a network namespace of the test's own.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "tmp").mkdir(exist_ok=True)
    port = port or free_port()
    wyoming_port = free_port() if wyoming else None
    if wyoming_port is not None:
        args = [*(args or []), "--wyoming", f"tcp://127.0.0.1:{wyoming_port}"]
    env = {
        **os.environ,
        "WHISPERD_MODEL": model,
        "WHISPERD_PORT": str(port),
        "WHISPERD_HOST": "127.0.0.1",
        **({} if advertise else {"WHISPERD_ADVERTISE": "false"}),
        "WHISPERD_LOG_DIR": str(root / "logs"),
        "WHISPERD_TEMP_DIR": str(root / "tmp"),
        "WHISPERD_DATA_DIR": str(root / "data"),
        "WHISPERD_CACHE_DIR": os.environ.get("WHISPERD_TEST_CACHE_DIR", str(root / "cache")),
        "WHISPERD_SPEAKER_MODEL": str(speaker_weights()),
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    with (root / "server.out").open("ab") as out:
        process = subprocess.Popen(
            [*(prefix or []), sys.executable, "-m", "whisperd.cli.main", "serve", *(args or [])],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    server = RunningServer(process, port, root, env, wyoming_port)
    if wait:
        try:
            server.wait_healthy()
        except Exception:
            server.stop(signal.SIGKILL)
            raise
    return server
