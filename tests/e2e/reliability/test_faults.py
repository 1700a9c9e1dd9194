"""Faults: kill -9 mid-upload then restart; SIGTERM lets in-flight work finish; an engine failure stays local."""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from bench.wer import wer
from fastapi.testclient import TestClient

from tests.support.media import JFK_TEXT, long_speech, upload
from tests.support.servers import RunningServer, start_server
from whisperd.config import Settings
from whisperd.engine.faster_whisper.adapter import WhisperEngine
from whisperd.http.app import create_app
from whisperd.runtime import Runtime


def _stalled_upload(server: RunningServer) -> socket.socket:
    """Open a request that has sent half of its file and then waits: the server holds a temp file."""
    body_head = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="half.wav"\r\n\r\n' + b"\x00" * 200_000
    )
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(
        b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n" + body_head
    )
    deadline = time.monotonic() + 10
    while not server.upload_files():
        assert time.monotonic() < deadline, "the server did not start writing the upload"
        time.sleep(0.01)
    return sock


def test_kill_9_then_restart_sweeps_and_serves(tmp_path: Path, cache_dir: Path, jfk: Path) -> None:
    first = start_server(tmp_path)
    sock = _stalled_upload(first)
    left = first.upload_files()
    assert len(left) == 1
    first.stop(signal.SIGKILL)
    sock.close()
    assert left[0].exists(), "a crash leaves its upload behind"
    (tmp_path / "tmp" / "unrelated.txt").write_text("not ours")
    second = start_server(tmp_path, port=first.port)
    try:
        assert not left[0].parent.exists(), "the start-up sweep removes the dead run's folder"
        assert (tmp_path / "tmp" / "unrelated.txt").exists(), "nothing outside its own folder is touched"
        assert httpx.get(f"{second.url}/health").json()["status"] == "ok"
        response = httpx.post(
            f"{second.api_url}/audio/transcriptions", files={"file": upload(jfk)}, timeout=60
        )
        assert wer(JFK_TEXT, response.json()["text"]) < 0.1
        assert second.upload_files() == []
        assert "removed 1 upload folder(s) left by earlier crashed runs" in second.log_file.read_text()
    finally:
        second.stop()


def test_sigterm_finishes_in_flight_requests(tmp_path: Path, cache_dir: Path) -> None:
    server = start_server(tmp_path / "server")
    clip = long_speech(tmp_path / "jfk-x3.wav", 3)
    result: list[httpx.Response] = []
    thread = threading.Thread(
        target=lambda: result.append(
            httpx.post(f"{server.api_url}/audio/transcriptions", files={"file": upload(clip)}, timeout=120)
        )
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.upload_files():  # the request is in the server
        assert time.monotonic() < deadline
        time.sleep(0.01)
    server.process.send_signal(signal.SIGTERM)
    thread.join()
    assert server.process.wait(60) == 0
    assert result[0].status_code == 200
    assert result[0].json()["text"].lower().count("country") >= 4
    assert server.upload_files() == []
    assert not any(server.upload_root.glob("run-*")), "a clean exit removes its upload folder"


def test_engine_failure_fails_only_that_request(
    tmp_path: Path, jfk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        model="tiny.en", log_dir=tmp_path / "logs", temp_dir=tmp_path / "tmp", cache_dir=tmp_path / "cache",
    )  # fmt: skip
    with TestClient(create_app(settings), raise_server_exceptions=False) as http:
        deadline = time.monotonic() + 60
        while http.get("/health").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        runtime: Runtime = http.app.state.runtime  # type: ignore[attr-defined]
        engine = runtime.models._resident["tiny.en"].engine
        assert isinstance(engine, WhisperEngine)
        real = engine._model.transcribe
        calls = [0]

        def flaky(*args: object, **kwargs: object) -> object:
            calls[0] += 1
            if calls[0] == 1:
                raise RuntimeError("CUDA failed: /secret/path/model.bin")
            return real(*args, **kwargs)

        monkeypatch.setattr(engine._model, "transcribe", flaky)
        failed = http.post("/v1/audio/transcriptions", files={"file": upload(jfk)})
        assert failed.status_code == 500
        assert failed.json()["error"]["type"] == "server_error"
        assert "secret" not in failed.text
        assert "Traceback" not in failed.text
        assert failed.headers["x-should-retry"] == "false"
        ok = http.post("/v1/audio/transcriptions", files={"file": upload(jfk)})
        assert ok.status_code == 200
        assert wer(JFK_TEXT, ok.json()["text"]) < 0.1
        assert list((tmp_path / "tmp").rglob("upload-*")) == []
