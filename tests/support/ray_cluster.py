"""A private Ray cluster for tests: ``whisperd serve --ray`` in a subprocess, and every process it made.

Every process of the cluster (the driver, GCS, raylet, agents, Serve's controller, proxy and replicas)
inherits the driver's environment, so a marker variable set there finds them all in ``/proc``, and
only them: another engineer's Ray on the same machine is never counted, nor touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import RunningServer, start_server

__all__ = ["MARK", "RayServer", "marked_processes", "start_ray_server"]

MARK = "WHISPERD_TEST_RAY_CLUSTER"


@dataclass
class RayServer:
    """``whisperd serve --ray`` and what a client of its cluster needs to join it."""

    server: RunningServer
    mark: str
    ray_env: dict[str, str]
    """``RAY_TMPDIR`` and the auth token: what ``--ray auto`` needs to find and join this cluster."""

    def processes(self) -> dict[int, str]:
        return marked_processes(self.mark)


def marked_processes(mark: str) -> dict[int, str]:
    """Live processes whose environment holds ``MARK=mark``: pid -> command name."""
    found: dict[int, str] = {}
    needle = f"{MARK}={mark}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found[int(entry.name)] = (entry / "comm").read_text().strip()
    return found


@contextlib.contextmanager
def start_ray_server(
    root: Path, *, replicas: int = 2, extra_env: dict[str, str] | None = None
) -> Iterator[RayServer]:
    """Serve on a private two-replica cluster; at the end stop it and remove its folder."""
    # Ray's socket paths must stay short (108 bytes): its folder is not under pytest's deep tmp path
    ray_dir = Path(tempfile.mkdtemp(prefix="wdr-"))
    mark = uuid.uuid4().hex
    ray_env = {"RAY_TMPDIR": str(ray_dir), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex}
    server = start_server(
        root,
        args=["--ray", "--replicas", str(replicas)],
        extra_env={**ray_env, MARK: mark, **(extra_env or {})},
        wait=False,
    )
    try:
        server.wait_healthy(timeout=240)
        yield RayServer(server, mark, ray_env)
    finally:
        server.stop(signal.SIGTERM, timeout=90)
        deadline = time.monotonic() + 30
        while marked_processes(mark) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in marked_processes(mark):  # only ours, by marker; a failed test must not leak them
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(ray_dir, ignore_errors=True)
