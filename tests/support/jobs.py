"""Jobs from a test's side: submit one, wait for it, and a webhook receiver on 127.0.0.1."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.support.servers import RunningServer

__all__ = ["SECRET", "Delivery", "Receiver", "submit", "wait_for", "wait_until"]

SECRET = "whsec_" + base64.b64encode(b"whisperd test webhook secret, 32B").decode()


def submit(
    server: RunningServer,
    path: Path,
    *,
    key: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 120,
    data: dict[str, str] | None = None,
    **fields: str,
) -> httpx.Response:
    """POST /v1/audio/jobs with ``path`` as the file and ``data`` and ``fields`` as form fields."""
    sent = dict(headers or {})
    if key:
        sent["Authorization"] = f"Bearer {key}"
    return httpx.post(
        f"{server.api_url}/audio/jobs",
        files={"file": (path.name, path.read_bytes())},
        data={"model": "whisper-1", **(data or {}), **fields},
        headers=sent,
        timeout=timeout,
    )


def wait_until(check: Any, what: str, timeout: float = 300, every: float = 0.1) -> Any:
    """Poll ``check()`` until it returns something truthy; fail after ``timeout`` seconds saying ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(every)


def wait_for(
    server: RunningServer,
    job_id: str,
    statuses: tuple[str, ...] = ("succeeded", "failed", "cancelled"),
    *,
    key: str | None = None,
    timeout: float = 600,
) -> dict[str, Any]:
    """The job object once its status is one of ``statuses``."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}

    def check() -> dict[str, Any] | None:
        job: dict[str, Any] = httpx.get(
            f"{server.api_url}/audio/jobs/{job_id}", headers=headers, timeout=30
        ).json()
        return job if job.get("status") in statuses else None

    found: dict[str, Any] = wait_until(check, f"job {job_id} to be {' or '.join(statuses)}", timeout, 0.2)
    return found


@dataclass
class Delivery:
    """One request the receiver got."""

    headers: dict[str, str]
    body: str
    answered: int


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1 that records what arrives and answers ``statuses`` in turn (then 200)."""

    statuses: list[int] = field(default_factory=list)
    received: list[Delivery] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/whisperd"

    def start(self, port: int = 0) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                with receiver._lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.received.append(Delivery(dict(self.headers.items()), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def deliveries(self) -> Iterator[Delivery]:
        with self._lock:
            yield from list(self.received)
