"""``whisperd transcribe`` against real servers and in-process, piped and on a terminal."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import srt
import webvtt
from bench.wer import wer

from tests.support.commands import WHISPERD, clean_env, on_terminal, whisperd
from tests.support.media import JFK_TEXT
from tests.support.servers import RunningServer, free_port, start_server
from whisperd import __version__


@pytest.fixture(scope="module")
def long_audio(tmp_path_factory: pytest.TempPathFactory, jfk: Path) -> Path:
    """44 s of real speech (JFK four times): long enough for a progress line."""
    path = tmp_path_factory.mktemp("long") / "long.flac"
    subprocess.run(["sox", *[str(jfk)] * 4, str(path)], check=True)
    return path


def test_version() -> None:
    result = whisperd("--version")
    assert result.returncode == 0
    assert result.stdout.decode().strip() == f"whisperd {__version__}"


def test_one_file_prints_its_transcript_and_nothing_else(server: RunningServer, jfk: Path) -> None:
    result = whisperd("transcribe", "--server", server.url, jfk)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert wer(JFK_TEXT, result.stdout.decode()) < 0.15
    assert result.stdout.endswith(b".\n")


def test_server_and_key_from_the_environment(keyed_server: RunningServer, jfk: Path) -> None:
    script_style = clean_env(
        WHISPER_API_URL=f"{keyed_server.api_url}/audio/transcriptions", WHISPER_API_KEY="secret"
    )
    sdk_style = clean_env(OPENAI_BASE_URL=keyed_server.api_url, OPENAI_API_KEY="secret")
    for env in (script_style, sdk_style):
        result = whisperd("transcribe", jfk, env=env)
        assert result.returncode == 0, result.stderr
        assert wer(JFK_TEXT, result.stdout.decode()) < 0.15
    no_key = whisperd("transcribe", jfk, jfk, env=clean_env(OPENAI_BASE_URL=keyed_server.api_url))
    assert no_key.returncode == 1
    assert no_key.stdout == b""
    errors = no_key.stderr.decode()
    assert "HTTP 401" in errors
    assert "WHISPER_API_KEY" in errors
    assert "not attempted" in errors  # a wrong key fails every file alike: the run stops


def test_many_files_one_output_each_past_a_bad_one(server: RunningServer, jfk: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.ogg"
    bad.write_bytes(b"OggS and then nothing useful" * 20)
    missing = tmp_path / "missing.wav"
    out = tmp_path / "out"
    mp3 = jfk.with_suffix(".mp3")
    result = whisperd(
        "transcribe", "--server", server.url, "--format", "srt", "--output-dir", out, jfk, bad, missing, mp3
    )
    assert result.returncode == 1
    assert result.stdout == b""
    errors = result.stderr.decode()
    assert f"{bad}: HTTP 400" in errors
    assert f"{missing}: no such file" in errors
    assert errors.strip().splitlines()[-1] == f"whisperd: 2 of 4 file(s) failed: {bad}, {missing}"
    assert sorted(p.name for p in out.iterdir()) == ["jfk.mp3.srt", "jfk.srt"]
    for name in ("jfk.srt", "jfk.mp3.srt"):
        cues = list(srt.parse((out / name).read_text()))
        assert wer(JFK_TEXT, " ".join(c.content for c in cues)) < 0.15


def test_several_files_default_to_the_current_folder(
    server: RunningServer, jfk: Path, tmp_path: Path
) -> None:
    first = Path(shutil.copy(jfk, tmp_path / "one.flac"))
    second = Path(shutil.copy(jfk, tmp_path / "two.flac"))
    work = tmp_path / "work"
    work.mkdir()
    result = whisperd("transcribe", "--server", server.url, "--format", "vtt", first, second, cwd=work)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert sorted(p.name for p in work.iterdir()) == ["one.vtt", "two.vtt"]
    captions = webvtt.read(str(work / "one.vtt")).captions
    assert wer(JFK_TEXT, " ".join(c.text for c in captions)) < 0.15


@pytest.mark.parametrize("fmt", ["json", "verbose_json"])
def test_json_formats(server: RunningServer, jfk: Path, fmt: str) -> None:
    result = whisperd("transcribe", "--server", server.url, "--format", fmt, jfk)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert wer(JFK_TEXT, body["text"]) < 0.15
    assert ("segments" in body) == (fmt == "verbose_json")


def test_local_gives_the_servers_text(server: RunningServer, jfk: Path) -> None:
    remote = whisperd("transcribe", "--server", server.url, "--format", "verbose_json", jfk)
    local = whisperd("transcribe", "--local", "--model", "tiny.en", "--format", "verbose_json", jfk)
    assert local.returncode == 0, local.stderr
    assert local.stderr == b""
    assert json.loads(local.stdout)["text"] == json.loads(remote.stdout)["text"]


def test_local_reports_bad_files_and_a_missing_model(jfk: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEnope")
    out = tmp_path / "out"
    result = whisperd("transcribe", "--local", "--model", "tiny.en", "--output-dir", out, bad, jfk)
    assert result.returncode == 1
    assert f"{bad}: " in result.stderr.decode()
    assert [p.name for p in out.iterdir()] == ["jfk.txt"]
    unknown = whisperd("transcribe", "--local", "--model", "no-such-model", jfk)
    assert unknown.returncode == 1
    assert "model no-such-model is not available" in unknown.stderr.decode()


def test_progress_on_a_terminal_and_silence_in_a_pipe(server: RunningServer, long_audio: Path) -> None:
    local = on_terminal("transcribe", "--local", "--model", "tiny.en", long_audio)
    assert local.returncode == 0, local.stderr
    shown = local.stderr.decode()
    assert "44.0/44.0 s audio" in shown
    assert "x real time" in shown
    assert "ETA" in shown
    assert wer(" ".join([JFK_TEXT] * 4), local.stdout.decode()) < 0.2

    remote = on_terminal("transcribe", "--server", server.url, long_audio)
    assert remote.returncode == 0, remote.stderr
    assert "transcribing 44.0 s of audio on the server" in remote.stderr.decode()

    piped = whisperd("transcribe", "--server", server.url, long_audio)
    assert piped.returncode == 0
    assert piped.stderr == b""


def test_short_files_need_no_progress_line(server: RunningServer, jfk: Path) -> None:
    result = on_terminal("transcribe", "--server", server.url, jfk)
    assert result.returncode == 0
    assert result.stderr == b""


def test_server_down_stops_at_once_and_says_so(jfk: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = whisperd("transcribe", "--server", url, "--retry-seconds", "0", jfk, jfk)
    assert result.returncode == 1
    errors = result.stderr.decode()
    assert f"cannot reach the server at {url}" in errors
    assert "not attempted" in errors


def test_usage_errors(jfk: Path) -> None:
    assert whisperd("transcribe", "--language", "klingon", jfk).returncode == 2
    assert whisperd("transcribe", "--translate", "--language", "de", jfk).returncode == 2
    assert whisperd("transcribe", "--local", "--server", "http://x", jfk).returncode == 2
    assert whisperd("transcribe").returncode == 2


def test_translate_with_an_english_only_model_is_refused_with_a_reason(
    server: RunningServer, jfk: Path
) -> None:
    for where in (["--server", server.url], ["--local", "--model", "tiny.en"]):
        result = whisperd("transcribe", *where, "--translate", jfk)
        assert result.returncode == 1
        assert "English-only" in result.stderr.decode()


def test_a_server_that_starts_late_is_waited_for(tmp_path: Path, jfk: Path, cache_dir: Path) -> None:
    port = free_port()
    command = subprocess.Popen(
        [str(WHISPERD), "transcribe", "--server", f"http://127.0.0.1:{port}", jfk],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    server = start_server(tmp_path, port=port)
    try:
        stdout, stderr = command.communicate(timeout=120)
    finally:
        command.kill()
        server.stop(signal.SIGTERM)
    assert command.returncode == 0, stderr
    assert wer(JFK_TEXT, stdout.decode()) < 0.15
