"""``/health`` is 503 until the model can serve, and transcriptions wait for it with a retryable 503."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.support.media import upload
from tests.support.raw_http import answer_within, open_upload
from tests.support.servers import start_server
from whisperd.observability.logs import sanitize


def test_health_never_goes_back_from_ok_while_starting(tmp_path: Path, cache_dir: Path) -> None:
    server = start_server(tmp_path, wait=False)
    seen: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not seen or seen[-1] != 200:
            assert time.monotonic() < deadline
            try:
                seen.append(httpx.get(f"{server.url}/health", timeout=2).status_code)
            except httpx.TransportError:
                time.sleep(0.02)
        assert set(seen) <= {200, 503}
        assert seen.index(200) == len(seen) - 1
    finally:
        server.stop()


def test_a_model_that_cannot_load_is_503_not_a_crash(tmp_path: Path, cache_dir: Path, jfk: Path) -> None:
    server = start_server(tmp_path, model="no-such-model", wait=False)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline
            try:
                health = httpx.get(f"{server.url}/health", timeout=2)
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            if health.json()["status"] == "error":
                break
            time.sleep(0.05)
        assert health.status_code == 503
        assert health.headers["retry-after"]
        response = httpx.post(
            f"{server.api_url}/audio/transcriptions", files={"file": upload(jfk)}, timeout=30
        )
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "model_loading"
        assert "no-such-model" in error["message"]
        assert response.headers["retry-after"]
        assert server.upload_files() == []
    finally:
        server.stop()


def test_file_names_cannot_forge_log_lines() -> None:
    assert "\n" not in sanitize("voice\n2026-01-01 INFO whisperd request_id=forged status=200.ogg")
    assert sanitize("a\"b'c$(rm).mp3") == "a_b_c_(rm).mp3"
    assert len(sanitize("x" * 500)) == 80


def test_not_ready_is_answered_before_the_body_is_read(tmp_path: Path, cache_dir: Path) -> None:
    server = start_server(tmp_path, model="no-such-model", wait=False)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline
            try:
                if httpx.get(f"{server.url}/health", timeout=2).json()["status"] == "error":
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        with open_upload(server, declared=20_000_000, first=b"\0" * 1024) as sock:
            answer = answer_within(sock, 5)
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
        assert server.upload_files() == []
    finally:
        server.stop()
