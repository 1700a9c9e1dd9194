"""Quotas: jobs waiting or running, audio stored; a job's upload limit. Each a 429 (or 413) in OpenAI's
shape, refused before the body when the size is declared, and while it streams when it is not."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.jobs import submit, wait_for, wait_until
from tests.support.media import encode, speech_with_pauses
from tests.support.servers import RunningServer, start_server

STORED = 5_000_000


@pytest.fixture(scope="module")
def quota_server(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("quota"),
        extra_env={
            "WHISPERD_JOB_MAX_QUEUED": "2",
            "WHISPERD_JOB_MAX_STORED_BYTES": str(STORED),
            "WHISPERD_JOB_MAX_UPLOAD_BYTES": "4000000",
        },
    )
    yield running
    running.stop(signal.SIGTERM)


def _refused(response: httpx.Response, status: int = 429, code: str = "quota_exceeded") -> str:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    if status == 429:
        assert int(response.headers["retry-after"]) > 0
        assert response.headers["x-should-retry"] == "true"
    message: str = response.json()["error"]["message"]
    return message


def _chunked(path: Path, boundary: str) -> Iterator[bytes]:
    """A multipart body without a Content-Length: the server learns its size only as it arrives."""
    yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n\r\n'.encode()
    data = path.read_bytes()
    for start in range(0, len(data), 64 * 1024):
        yield data[start : start + 64 * 1024]
    yield f"\r\n--{boundary}--\r\n".encode()


def test_jobs_and_stored_audio_are_bounded(quota_server: RunningServer, jfk: Path, tmp_path: Path) -> None:
    talk = encode(speech_with_pauses(tmp_path / "talk.wav", 35), tmp_path / "talk.ogg", "libopus", 48_000)
    big = encode(speech_with_pauses(tmp_path / "big.wav", 25), tmp_path / "big.ogg", "libopus", 48_000)
    size = talk.stat().st_size
    assert 2_500_000 < size < 4_000_000, size
    assert size + big.stat().st_size > STORED
    first = submit(quota_server, talk).json()
    second = submit(quota_server, jfk).json()  # waits behind the first (one job at a time)
    assert "WHISPERD_JOB_MAX_QUEUED" in _refused(submit(quota_server, jfk))
    httpx.delete(f"{quota_server.api_url}/audio/jobs/{second['id']}")
    # the stored audio: a file that would pass the total is refused before its body is read...
    assert "WHISPERD_JOB_MAX_STORED_BYTES" in _refused(submit(quota_server, big))
    # ... and, when its size is not declared, as soon as its bytes pass it
    boundary = uuid.uuid4().hex
    streamed = httpx.post(
        f"{quota_server.api_url}/audio/jobs",
        content=_chunked(big, boundary),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=60,
    )
    _refused(streamed)
    assert {p.name for p in quota_server.job_files()} <= {first["id"]}, "nothing of the refused uploads"
    assert submit(quota_server, jfk).status_code == 202, "what fits still goes in"
    httpx.delete(f"{quota_server.api_url}/audio/jobs/{first['id']}")
    for job in httpx.get(f"{quota_server.api_url}/audio/jobs").json()["data"]:
        wait_for(quota_server, job["id"])
    wait_until(lambda: quota_server.job_files() == [], "the data folder to empty")
    # one job's upload limit: a 413 the moment the file passes it
    huge = tmp_path / "huge.wav"
    huge.write_bytes(b"\0" * 4_100_000)
    _refused(submit(quota_server, huge), 413, "file_too_large")
    assert quota_server.job_files() == []
    assert quota_server.deleted_open_files() == []
