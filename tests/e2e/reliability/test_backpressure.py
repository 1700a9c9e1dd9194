"""A full queue answers 429 with Retry-After; a client that leaves frees its slot and stops its job."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.media import long_speech, upload
from tests.support.overload import assert_some_refused, at_once
from tests.support.raw_http import answer_within, open_upload
from tests.support.servers import RunningServer, start_server


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    """One job at a time, one waiting: the smallest server that can be overloaded."""
    running = start_server(
        tmp_path_factory.mktemp("one-slot"),
        extra_env={"WHISPERD_MAX_CONCURRENT_JOBS": "1", "WHISPERD_MAX_QUEUED_JOBS": "1"},
    )
    yield running
    running.stop(signal.SIGTERM)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough (2 min) that the running request still runs while the next ones arrive, under load too."""
    return long_speech(tmp_path_factory.mktemp("long") / "jfk-x12.wav", 12)


def _post(
    server: RunningServer, path: Path, timeout: float = 120, request_id: str | None = None
) -> httpx.Response:
    headers = {"X-Request-ID": request_id} if request_id else {}
    return httpx.post(
        f"{server.api_url}/audio/transcriptions",
        files={"file": upload(path)},
        timeout=timeout,
        headers=headers,
    )


def _log_line(server: RunningServer, request_id: str) -> str:
    """The request's log line; written just after the response is sent, so it may need a moment."""
    deadline = time.monotonic() + 10
    while True:
        for line in server.log_file.read_text().splitlines():
            if f"request_id={request_id} " in line:
                return line
        assert time.monotonic() < deadline, f"no log line for {request_id}"
        time.sleep(0.05)


def _wait_until_transcribing(server: RunningServer) -> None:
    """The upload file appears while it streams in and is deleted once decoded, inside the job slot."""
    deadline = time.monotonic() + 30
    while not server.upload_files():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    while server.upload_files():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def _sizes(paths: list[Path]) -> list[int]:
    sizes = []
    for path in paths:
        with contextlib.suppress(FileNotFoundError):  # deleted since it was listed
            sizes.append(path.stat().st_size)
    return sizes


def _wait_until_uploaded(server: RunningServer, size: int) -> None:
    """A queued request: its whole upload is on disk, waiting for the slot to be decoded."""
    deadline = time.monotonic() + 30
    while size not in _sizes(server.upload_files()):
        assert time.monotonic() < deadline
        time.sleep(0.01)


def _field(line: str, name: str) -> str:
    return next(part.split("=", 1)[1] for part in line.split() if part.startswith(f"{name}="))


def test_full_queue_is_429_with_retry_after(one_slot: RunningServer, long_clip: Path) -> None:
    assert_some_refused(at_once(lambda: _post(one_slot, long_clip), 4), served=2)
    assert one_slot.upload_files() == []


def test_sdk_sees_rate_limit_error(one_slot: RunningServer, long_clip: Path, jfk: Path) -> None:
    import openai

    running = threading.Thread(target=_post, args=(one_slot, long_clip))
    running.start()
    _wait_until_transcribing(one_slot)
    queued = threading.Thread(target=_post, args=(one_slot, long_clip))
    queued.start()
    _wait_until_uploaded(one_slot, long_clip.stat().st_size)
    try:
        with (
            openai.OpenAI(base_url=one_slot.api_url, api_key="x", max_retries=0) as sdk,
            pytest.raises(openai.RateLimitError) as caught,
        ):
            sdk.audio.transcriptions.create(model="whisper-1", file=upload(jfk))
        assert caught.value.status_code == 429
    finally:
        running.join()
        queued.join()


def test_client_that_leaves_stops_its_job(one_slot: RunningServer, long_clip: Path, jfk: Path) -> None:
    full = _post(one_slot, long_clip, request_id="full-run")
    assert full.status_code == 200
    full_segments = int(_field(_log_line(one_slot, "full-run"), "segments"))
    assert full_segments >= 4
    with pytest.raises(httpx.TimeoutException):
        _post(one_slot, long_clip, timeout=1.5, request_id="leaves-early")
    # the slot is free again: a short request goes through, after the abandoned job stopped
    assert _post(one_slot, jfk, request_id="next").status_code == 200
    line = _log_line(one_slot, "leaves-early")
    assert "status=499" in line
    assert "cancelled=True" in line
    assert int(_field(line, "segments")) < full_segments
    assert one_slot.upload_files() == []


def test_client_that_leaves_the_queue_is_dropped(one_slot: RunningServer, long_clip: Path) -> None:
    holder = threading.Thread(target=_post, args=(one_slot, long_clip), kwargs={"request_id": "holder"})
    holder.start()
    _wait_until_transcribing(one_slot)
    try:
        with pytest.raises(httpx.TimeoutException):
            _post(one_slot, long_clip, timeout=1.0, request_id="gave-up-waiting")
    finally:
        holder.join()
    _log_line(one_slot, "holder")
    lines = one_slot.log_file.read_text().splitlines()
    gave_up = next(i for i, ln in enumerate(lines) if "request_id=gave-up-waiting " in ln)
    held = next(i for i, ln in enumerate(lines) if "request_id=holder " in ln)
    assert gave_up < held, "the abandoned request waited for the running job instead of leaving the queue"
    assert "status=499" in lines[gave_up]
    assert "audio_s=" not in lines[gave_up]  # it was never even decoded


def test_a_full_queue_is_answered_before_the_body_is_read(one_slot: RunningServer, long_clip: Path) -> None:
    running = threading.Thread(target=_post, args=(one_slot, long_clip))
    running.start()
    _wait_until_transcribing(one_slot)
    queued = threading.Thread(target=_post, args=(one_slot, long_clip))
    queued.start()
    _wait_until_uploaded(one_slot, long_clip.stat().st_size)
    try:
        with open_upload(one_slot, declared=20_000_000, first=b"\0" * 1024) as sock:
            answer = answer_within(sock, 5)
        assert answer.startswith(b"HTTP/1.1 429"), answer[:200]
        assert b"retry-after" in answer.lower()
    finally:
        running.join()
        queued.join()
