"""Every bad input gets the OpenAI error shape with the right status and param, and leaves no file behind."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.media import encode, tone_wav, upload
from tests.support.raw_http import FILE_PART
from tests.support.servers import RunningServer, start_server


def _post(server: RunningServer, files: Any = None, data: Any = None, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{server.api_url}/audio/transcriptions", files=files, data=data, timeout=60, **kwargs)


def _assert_error(
    response: httpx.Response, status: int, param: str | None, code: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    assert error["param"] == param
    if code is not None:
        assert error["code"] == code
    assert "/tmp" not in error["message"]
    assert "Traceback" not in response.text
    return error


@pytest.fixture(autouse=True)
def _nothing_left_behind(server: RunningServer) -> Iterator[None]:
    yield
    assert server.upload_files() == []


def test_missing_file(server: RunningServer) -> None:
    error = _assert_error(_post(server, files={"model": (None, "whisper-1")}), 400, "file", "missing_file")
    assert error["type"] == "invalid_request_error"


def test_not_multipart(server: RunningServer) -> None:
    response = httpx.post(f"{server.api_url}/audio/transcriptions", json={"model": "whisper-1"}, timeout=10)
    _assert_error(response, 400, "file", "missing_file")


def test_empty_file(server: RunningServer) -> None:
    _assert_error(_post(server, files={"file": ("empty.mp3", b"")}), 400, "file", "empty_file")


@pytest.mark.parametrize(
    "payload",
    [
        b"this is not audio at all\n" * 50,
        bytes(range(256)) * 40,
        b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 64,
    ],
    ids=["text", "binary", "bad-wav-header"],
)
def test_undecodable_audio(server: RunningServer, payload: bytes) -> None:
    error = _assert_error(
        _post(server, files={"file": ("voice.mp3", payload)}), 400, "file", "invalid_file_format"
    )
    assert error["message"].startswith("Invalid file format.")


def test_truncated_audio_is_never_a_500(server: RunningServer, jfk: Path) -> None:
    data = jfk.read_bytes()
    for cut in (100, 4096, len(data) // 2):
        response = _post(server, files={"file": ("cut.flac", data[:cut])})
        assert response.status_code in (200, 400), response.text


def test_video_without_audio_track_is_invalid(server: RunningServer, tmp_path: Path) -> None:
    import av

    path = tmp_path / "silent.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=5)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height = 32, 32
        for _ in range(5):
            frame = av.VideoFrame(32, 32, "yuv420p")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    _assert_error(_post(server, files={"file": upload(path)}), 400, "file", "invalid_file_format")


@pytest.mark.parametrize(
    ("field", "value", "param"),
    [
        ("response_format", "xml", "response_format"),
        ("temperature", "2", "temperature"),
        ("temperature", "warm", "temperature"),
        ("language", "klingon", "language"),
        ("stream", "maybe", "stream"),
    ],
)
def test_invalid_parameters(server: RunningServer, jfk: Path, field: str, value: str, param: str) -> None:
    _assert_error(
        _post(server, files={"file": upload(jfk)}, data={field: value}), 400, param, "invalid_value"
    )


def test_word_granularity_needs_verbose_json(server: RunningServer, jfk: Path) -> None:
    response = _post(server, files={"file": upload(jfk)}, data={"timestamp_granularities[]": "word"})
    _assert_error(response, 400, "timestamp_granularities")


def test_oversized_field(server: RunningServer, jfk: Path) -> None:
    response = _post(server, files={"file": upload(jfk)}, data={"prompt": "x" * 70_000})
    _assert_error(response, 400, "prompt")


@pytest.mark.parametrize("name", ["no-such-model", "../../etc/passwd", "/etc", "tiny.en/../base"])
def test_unknown_model_is_404(client: openai.OpenAI, jfk: Path, name: str) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.audio.transcriptions.create(model=name, file=upload(jfk))
    assert caught.value.status_code == 404
    body: Any = caught.value.body
    assert body["param"] == "model"
    assert body["code"] == "model_not_found"


def test_sdk_sees_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=("x.ogg", b"OggS not really"))
    assert caught.value.status_code == 400


def test_translation_with_english_only_model(server: RunningServer, jfk: Path) -> None:
    response = httpx.post(
        f"{server.api_url}/audio/translations",
        files={"file": upload(jfk)},
        data={"model": "tiny.en"},
        timeout=60,
    )
    _assert_error(response, 400, "model")


def test_unknown_path_and_method(server: RunningServer) -> None:
    for response, status in [
        (httpx.get(f"{server.api_url}/nothing-here"), 404),
        (httpx.get(f"{server.api_url}/audio/transcriptions"), 405),
    ]:
        _assert_error(response, status, None)
        assert response.headers["x-should-retry"] == "false"


def test_a_multipart_body_without_its_end_is_400_and_holds_nothing(server: RunningServer, jfk: Path) -> None:
    """The body is complete as HTTP says (Content-Length) but the multipart has no closing boundary."""
    before = server.open_fds()
    body = FILE_PART + jfk.read_bytes()
    for _ in range(20):
        response = httpx.post(
            f"{server.api_url}/audio/transcriptions",
            content=body,
            headers={"Content-Type": "multipart/form-data; boundary=b"},
            timeout=60,
        )
        error = _assert_error(response, 400, None)
        assert "multipart" in error["message"].lower()
    assert server.deleted_open_files() == []
    deadline = time.monotonic() + 10
    while server.open_fds() > before + 2:  # the connections' sockets close a moment after the answers
        assert time.monotonic() < deadline, f"{server.open_fds()} descriptors open, {before} before"
        time.sleep(0.05)


def test_deterministic_failures_say_do_not_retry(server: RunningServer) -> None:
    response = _post(server, files={"file": ("voice.mp3", b"garbage" * 100)})
    assert response.headers["x-should-retry"] == "false"


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    """A server with small limits: 100 kB uploads, 5 s of audio."""
    running = start_server(
        tmp_path_factory.mktemp("strict"),
        extra_env={"WHISPERD_MAX_UPLOAD_BYTES": "100000", "WHISPERD_MAX_AUDIO_SECONDS": "5"},
    )
    yield running
    running.stop(signal.SIGTERM)


def test_too_large_is_413_with_declared_length(strict_server: RunningServer, jfk: Path) -> None:
    response = _post(strict_server, files={"file": upload(jfk)})
    _assert_error(response, 413, "file", "file_too_large")
    assert strict_server.upload_files() == []


_CHUNKS = 1600


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_too_large_is_413_while_streaming(strict_server: RunningServer) -> None:
    """A chunked upload with no Content-Length is refused at the limit: neither stored nor buffered.

    The server answers 413 as soon as the limit is crossed; the web server then discards what the client
    still sends for a few seconds (a lingering close, as nginx does) so that the client can read the 413.
    """
    boundary = "whisperdboundary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'.encode()

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(_CHUNKS):  # 100 MB, a thousand times the limit
            yield b"\x00" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    rss_before = _rss_bytes(strict_server.process.pid)
    response = httpx.post(
        f"{strict_server.api_url}/audio/transcriptions",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=30,
    )
    _assert_error(response, 413, "file", "file_too_large")
    assert _rss_bytes(strict_server.process.pid) - rss_before < 30 * 1024 * 1024
    assert strict_server.upload_files() == []
    assert httpx.get(f"{strict_server.url}/health").status_code == 200


def test_sdk_sees_413(strict_server: RunningServer, jfk: Path) -> None:
    with (
        openai.OpenAI(base_url=strict_server.api_url, api_key="x", max_retries=0) as client,
        pytest.raises(openai.APIStatusError) as caught,
    ):
        client.audio.transcriptions.create(model="whisper-1", file=upload(jfk))
    assert caught.value.status_code == 413


def test_too_long_audio(strict_server: RunningServer, jfk: Path, tmp_path: Path) -> None:
    small = encode(jfk, tmp_path / "jfk.ogg", "libopus", container="ogg")  # 11 s, under 100 kB
    assert small.stat().st_size < 100_000
    _assert_error(_post(strict_server, files={"file": upload(small)}), 400, "file", "audio_too_long")
    short = tone_wav(tmp_path / "short.wav", seconds=1.0)
    assert _post(strict_server, files={"file": upload(short)}).status_code == 200
