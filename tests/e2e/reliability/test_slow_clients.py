"""Uploads in flight are bounded, and a body that stalls or trickles is dropped: nothing held for long.

Measured in review: 400 clients that each sent headers and 1 kB of a declared 20 MB body, then one
byte every 10 s, were all held for a minute and more (811 descriptors, 400 upload files).
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.media import upload
from tests.support.raw_http import answer_within, open_upload, reply_or_close
from tests.support.servers import RunningServer, start_server

CAP = 4
CLIENTS = 12


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("guarded"),
        extra_env={
            "WHISPERD_MAX_UPLOADS_IN_FLIGHT": str(CAP),
            "WHISPERD_UPLOAD_STALL_SECONDS": "2",
            "WHISPERD_UPLOAD_MIN_BYTES_PER_SECOND": "1000",
            "WHISPERD_UPLOAD_GRACE_SECONDS": "3",
        },
    )
    yield running
    running.stop(signal.SIGTERM)


def test_trickling_clients_are_refused_beyond_the_cap_and_dropped(guarded: RunningServer, jfk: Path) -> None:
    idle = guarded.open_fds()
    sockets = [open_upload(guarded, declared=20_000_000, first=b"\0" * 1024) for _ in range(CLIENTS)]
    try:
        answers = {id(s): answer_within(s, 0.5) for s in sockets}
        refused = [s for s in sockets if answers[id(s)].startswith(b"HTTP/1.1 429")]
        assert len(refused) == CLIENTS - CAP, [a[:40] for a in answers.values()]
        held = [s for s in sockets if s not in refused]
        # one byte every second: under the stall limit, far under the minimum rate once the grace ends
        dropped: dict[int, bytes] = {}
        deadline = time.monotonic() + 30  # about 4 s on an idle machine; room for a loaded one
        while len(dropped) < len(held):
            assert time.monotonic() < deadline, f"{len(held) - len(dropped)} trickling uploads still held"
            for sock in held:
                if id(sock) in dropped:
                    continue
                try:
                    sock.sendall(b"\0")
                except OSError:
                    dropped[id(sock)] = b""
                    continue
                answer = reply_or_close(sock, 0.05)
                if answer is not None:
                    dropped[id(sock)] = answer
            time.sleep(1.0)
        for answer in dropped.values():
            assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:80]
    finally:
        for sock in sockets:
            sock.close()
    assert guarded.upload_files() == []
    deadline = time.monotonic() + 10
    while guarded.open_fds() > idle + 2:
        assert time.monotonic() < deadline, f"{guarded.open_fds()} descriptors, {idle} when idle"
        time.sleep(0.1)
    served = httpx.post(f"{guarded.api_url}/audio/transcriptions", files={"file": upload(jfk)}, timeout=60)
    assert served.status_code == 200


def _stall(server: RunningServer) -> socket.socket:
    return open_upload(server, declared=20_000_000, first=b"\0" * 1024)


def test_a_body_that_stops_is_answered_408(guarded: RunningServer) -> None:
    with _stall(guarded) as sock:
        answer = answer_within(sock, 6)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"code":"upload_timeout"' in answer.replace(b" ", b"") or b"upload_timeout" in answer
    assert guarded.upload_files() == []
