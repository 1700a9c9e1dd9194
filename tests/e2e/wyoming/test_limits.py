"""Wyoming has no authentication, so its bounds are its protection: where it listens, who may connect,
how many, for how long, with how much audio, and the one scheduler it shares with HTTP."""

from __future__ import annotations

import asyncio
import io
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from wyoming.event import Event, read_event, write_event
from wyoming.info import Describe

from tests.support.commands import clean_env, whisperd
from tests.support.media import long_speech, upload
from tests.support.metrics import scrape, value
from tests.support.servers import RunningServer, free_port, start_server
from tests.support.wyoming import connect, read_until, utterance


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    """Small bounds that a test can reach: 1 s idle, 2 connections, 2 s per utterance, one job slot and
    no queue, and only 127.0.0.1 may connect (127.0.0.2, also this machine, may not)."""
    running = start_server(
        tmp_path_factory.mktemp("wyoming-bounded"),
        wyoming=True,
        extra_env={
            "WHISPERD_WYOMING_IDLE_SECONDS": "1",
            "WHISPERD_WYOMING_MAX_CONNECTIONS": "2",
            "WHISPERD_WYOMING_MAX_UTTERANCE_SECONDS": "2",
            "WHISPERD_WYOMING_ALLOW_NETWORKS": "127.0.0.1/32",
            "WHISPERD_MAX_CONCURRENT_JOBS": "1",
            "WHISPERD_MAX_QUEUED_JOBS": "0",
        },
    )
    yield running
    running.stop(signal.SIGTERM)


def _port(server: RunningServer) -> int:
    assert server.wyoming_port is not None
    return server.wyoming_port


def _events(data: bytes) -> list[Event]:
    stream = io.BytesIO(data)
    events = []
    while (event := read_event(stream)) is not None:
        events.append(event)
    return events


def _raw(port: int, data: bytes, source: str = "127.0.0.1") -> list[Event]:
    """Send ``data`` from ``source``, read what comes back until the server closes (bounded)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0)) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return _events(received)


def _describe_bytes() -> bytes:
    out = io.BytesIO()
    write_event(Describe().event(), out)
    return out.getvalue()


def test_a_network_address_needs_the_allow_flag_even_with_keys(tmp_path: Path) -> None:
    env = clean_env(WHISPERD_LOG_DIR=str(tmp_path), WHISPERD_API_KEYS="secret")
    refused = whisperd(
        "serve", "--port", str(free_port()), "--wyoming", f"tcp://0.0.0.0:{free_port()}", env=env
    )
    assert refused.returncode == 2
    assert b"refusing to serve Wyoming on 0.0.0.0" in refused.stderr
    assert b"API keys do not apply to it" in refused.stderr


def test_a_bad_address_or_a_busy_port_ends_the_command_at_once(tmp_path: Path) -> None:
    env = clean_env(WHISPERD_LOG_DIR=str(tmp_path))
    bad = whisperd("serve", "--port", str(free_port()), "--wyoming", "udp://127.0.0.1:1", env=env)
    assert bad.returncode == 2
    assert b"invalid setting wyoming_uri" in bad.stderr
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        taken = whisperd("serve", "--port", str(free_port()), "--wyoming", f"tcp://127.0.0.1:{port}", env=env)
    assert taken.returncode == 2
    assert b"cannot listen for Wyoming" in taken.stderr


def test_a_client_outside_the_allowed_networks_is_refused(bounded: RunningServer) -> None:
    start = len(bounded.log_lines())
    [error] = _raw(_port(bounded), _describe_bytes(), source="127.0.0.2")
    assert error.type == "error"
    assert error.data["code"] == "client_not_allowed"
    assert "status=403" in bounded.wait_for_log("method=WYOMING", "path=connect", after=start)
    assert "refused 127.0.0.2" in bounded.wait_for_log("WHISPERD_WYOMING_ALLOW_NETWORKS", after=start)
    info, idle = _raw(_port(bounded), _describe_bytes(), source="127.0.0.1")  # the allowed address
    assert info.type == "info"
    assert idle.data["code"] == "upload_timeout"


def test_an_idle_connection_is_closed(bounded: RunningServer) -> None:
    async def idle() -> Event | None:
        client = await connect(_port(bounded))
        try:
            async with asyncio.timeout(10):
                return await read_until(client, "error")
        finally:
            await client.disconnect()

    event = asyncio.run(idle())
    assert event is not None
    assert event.data["code"] == "upload_timeout"


def test_a_stalled_utterance_is_dropped_and_counted(bounded: RunningServer) -> None:
    start = len(bounded.log_lines())
    data = io.BytesIO()
    write_event(Event("audio-start", {"rate": 16000, "width": 2, "channels": 1}), data)
    write_event(Event("audio-chunk", {"rate": 16000, "width": 2, "channels": 1}, b"\x00" * 3200), data)
    [error] = _raw(_port(bounded), data.getvalue())
    assert error.data["code"] == "upload_timeout"
    assert "status=408" in bounded.wait_for_log("method=WYOMING", "path=transcribe", after=start)


def test_connections_beyond_the_bound_are_refused(bounded: RunningServer) -> None:
    async def three() -> Event | None:
        held = [await connect(_port(bounded)) for _ in range(2)]
        try:
            third = await connect(_port(bounded))
            try:
                async with asyncio.timeout(5):
                    return await read_until(third, "error")
            finally:
                await third.disconnect()
        finally:
            for client in held:
                await client.disconnect()

    event = asyncio.run(three())
    assert event is not None
    assert event.data["code"] == "rate_limit_exceeded"
    # once they are gone (the server sees them close a moment later), connections are admitted again
    deadline = time.monotonic() + 5
    while _raw(_port(bounded), _describe_bytes())[0].type != "info":
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_an_utterance_over_the_limit_is_refused(bounded: RunningServer) -> None:
    reply = asyncio.run(utterance(_port(bounded), b"\x00\x00" * 16_000 * 3))
    assert reply.type == "error"
    assert reply.code == "audio_too_long"
    assert asyncio.run(utterance(_port(bounded), b"\x00\x00" * 16_000)).text == ""


def test_utterances_share_the_http_apis_job_slots(bounded: RunningServer, tmp_path: Path) -> None:
    """One slot, no queue: while an HTTP request holds the slot, an utterance is refused like a request."""
    clip = long_speech(tmp_path / "long.wav", 6)
    done: list[int] = []

    def post() -> None:
        response = httpx.post(
            f"{bounded.api_url}/audio/transcriptions", files={"file": upload(clip)}, timeout=120
        )
        done.append(response.status_code)

    holder = threading.Thread(target=post)
    holder.start()
    try:
        deadline = time.monotonic() + 60
        while value(scrape(bounded), "whisperd_jobs_in_flight") < 1:  # the HTTP request holds the slot
            assert time.monotonic() < deadline, "the HTTP request never took the job slot"
            time.sleep(0.01)
        reply = asyncio.run(utterance(_port(bounded), b"\x00\x00" * 8000))
        assert reply.type == "error"
        assert reply.code == "rate_limit_exceeded"
    finally:
        holder.join()
    assert done == [200]
    assert asyncio.run(utterance(_port(bounded), b"\x00\x00" * 8000)).text == ""  # the slot is free again


def test_the_server_stops_cleanly_with_connections_open(tmp_path: Path, cache_dir: Path) -> None:
    running = start_server(tmp_path, wyoming=True)
    held = [socket.create_connection(("127.0.0.1", _port(running)), timeout=10) for _ in range(3)]
    try:
        assert running.stop(signal.SIGTERM, timeout=20) == 0
        assert "Application shutdown complete" in running.output()
        for sock in held:
            assert sock.recv(65536) == b""  # closed by the server, not left hanging
    finally:
        for sock in held:
            sock.close()
