"""``clients/transcribe.sh`` run by a POSIX shell against real servers, as an assistant would call it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from bench.wer import wer

from tests.support.media import JFK_TEXT, upload
from tests.support.servers import RunningServer, free_port, start_server

SCRIPT = Path(__file__).resolve().parents[3] / "clients" / "transcribe.sh"
QUOTES = "He said, \"I can't do it.\" She replied: \"Don't worry, it's Tom's job, isn't it?\""


def run_script(
    *args: str | Path, url: str, shell: tuple[str, ...] = ("sh",), **env: str
) -> subprocess.CompletedProcess[bytes]:
    """The script as a user runs it: only the environment it documents, plus PATH."""
    environment = {"PATH": os.environ["PATH"], "WHISPER_API_URL": url, "TRANSCRIBE_RETRY_SECONDS": "0", **env}
    return subprocess.run(
        [*shell, str(SCRIPT), *map(str, args)], env=environment, capture_output=True, timeout=120
    )


def endpoint(server: RunningServer) -> str:
    return f"{server.api_url}/audio/transcriptions"


def server_text(server: RunningServer, path: Path, key: str | None = None) -> bytes:
    """What the server itself answers for ``response_format=text``: the script must print exactly this."""
    response = httpx.post(
        endpoint(server),
        files={"file": upload(path)},
        data={"model": "whisper-1", "response_format": "text"},
        headers={"Authorization": f"Bearer {key}"} if key else {},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return response.content


@pytest.fixture(scope="module")
def quotes_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("speech") / "quotes.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), QUOTES], check=True)
    return path


@pytest.mark.parametrize("shell", [("dash",), ("bash", "--posix")], ids=["dash", "bash"])
def test_prints_the_transcript_and_keeps_the_file(
    server: RunningServer, jfk: Path, tmp_path: Path, shell: tuple[str, ...]
) -> None:
    if shutil.which(shell[0]) is None:
        pytest.skip(f"{shell[0]} is not installed")
    audio = shutil.copy(jfk, tmp_path / "voice.flac")
    result = run_script(audio, url=endpoint(server), shell=shell)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert result.stdout == server_text(server, jfk)
    assert wer(JFK_TEXT, result.stdout.decode()) < 0.15
    assert Path(audio).exists()


def test_quotes_and_apostrophes_pass_through_unchanged(server: RunningServer, quotes_wav: Path) -> None:
    expected = server_text(server, quotes_wav)
    assert b"'" in expected  # the premise: tiny.en hears "can't", "it's", "Tom's"
    result = run_script(quotes_wav, url=endpoint(server))
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


def test_file_names_that_curl_would_misread(server: RunningServer, jfk: Path, tmp_path: Path) -> None:
    odd = Path(shutil.copy(jfk, tmp_path / 'a;type=text;b,c "d" \\e.flac'))
    result = run_script(odd, url=endpoint(server))
    assert result.returncode == 0, result.stderr
    assert result.stdout == server_text(server, jfk)


class _Recorder(BaseHTTPRequestHandler):
    """Answers with a body no JSON-scraping script survives, and remembers what it was sent."""

    body = 'He said "stop" \\n, then \\"no\\" -n -e %s $(true) `true`\n\ttabbed\nline 3 \u00e9\u4e2d\n'
    seen: list[tuple[dict[str, str], bytes]] = []  # noqa: RUF012 - one test at a time reads it

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        _Recorder.seen.append((dict(self.headers), self.rfile.read(length)))
        payload = self.body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_any_text_body_is_printed_byte_for_byte(jfk: Path) -> None:
    """Backslashes, quotes, option-like words and newlines that no model emits but a server may."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Recorder.seen.clear()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/v1/audio/transcriptions"
        result = run_script(jfk, url=url, WHISPER_API_KEY='k"e\\y')
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.returncode == 0, result.stderr
    assert result.stdout == _Recorder.body.encode()
    ((headers, form),) = _Recorder.seen
    assert headers["Authorization"] == 'Bearer k"e\\y'
    assert b'name="response_format"\r\n\r\ntext\r\n' in form
    assert b'name="model"\r\n\r\nwhisper-1\r\n' in form
    assert jfk.read_bytes() in form


def test_delete_input_only_when_asked_and_only_after_success(
    server: RunningServer, jfk: Path, tmp_path: Path
) -> None:
    audio = Path(shutil.copy(jfk, tmp_path / "note.flac"))
    result = run_script(audio, url=endpoint(server), TRANSCRIBE_DELETE_INPUT="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout
    assert not audio.exists()

    broken = tmp_path / "broken.ogg"
    broken.write_bytes(b"OggS but not really audio" * 10)
    result = run_script(broken, url=endpoint(server), TRANSCRIBE_DELETE_INPUT="1")
    assert result.returncode == 1
    assert result.stdout == b""
    assert b"HTTP 400" in result.stderr
    assert b"invalid_file_format" in result.stderr
    assert broken.exists()


def test_server_down_is_an_error_with_a_message(jfk: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1/audio/transcriptions"
    result = run_script(jfk, url=url, TRANSCRIBE_RETRY_SECONDS="1")
    assert result.returncode == 1
    assert result.stdout == b""
    assert b"cannot reach" in result.stderr
    assert b"is the server running?" in result.stderr
    assert jfk.exists()


def test_waits_for_a_server_that_is_starting(tmp_path: Path, jfk: Path, cache_dir: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/audio/transcriptions"
    environment = {"PATH": os.environ["PATH"], "WHISPER_API_URL": url, "TRANSCRIBE_RETRY_SECONDS": "90"}
    script = subprocess.Popen(
        ["sh", str(SCRIPT), str(jfk)], env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    server = start_server(tmp_path, port=port)  # loads a model: the script meets refusals and 503s first
    try:
        stdout, stderr = script.communicate(timeout=120)
    finally:
        script.kill()
        server.stop(signal.SIGTERM)
    assert script.returncode == 0, stderr
    assert wer(JFK_TEXT, stdout.decode()) < 0.15


def test_401_without_or_with_a_wrong_key(keyed_server: RunningServer, jfk: Path) -> None:
    url = endpoint(keyed_server)
    for key in ("", "wrong"):
        result = run_script(jfk, url=url, WHISPER_API_KEY=key)
        assert result.returncode == 1
        assert result.stdout == b""
        assert b"HTTP 401" in result.stderr
        assert b"WHISPER_API_KEY" in result.stderr
        assert b"invalid_api_key" in result.stderr
    result = run_script(jfk, url=url, WHISPER_API_KEY="secret")
    assert result.returncode == 0, result.stderr
    assert result.stdout == server_text(keyed_server, jfk, key="secret")


def test_usage_errors(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/v1/audio/transcriptions"
    assert run_script(url=url).returncode == 2
    missing = run_script(tmp_path / "nope.ogg", url=url)
    assert missing.returncode == 2
    assert b"cannot read" in missing.stderr
    audio = tmp_path / "note.ogg"
    audio.write_bytes(b"x")
    bad_retry = run_script(audio, url=url, TRANSCRIBE_RETRY_SECONDS="soon")
    assert bad_retry.returncode == 2
    assert b"TRANSCRIBE_RETRY_SECONDS" in bad_retry.stderr
