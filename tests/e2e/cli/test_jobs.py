"""``whisperd jobs ...`` and ``whisperd transcribe DIR``: jobs from the command line, folders resumed."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import srt
from bench.wer import wer

from tests.support.commands import WHISPERD, clean_env, on_terminal, whisperd
from tests.support.media import JFK_TEXT, speech_with_pauses, undecodable
from tests.support.servers import RunningServer, start_server


def test_submit_wait_result_status_list_cancel(server: RunningServer, jfk: Path) -> None:
    env = clean_env(WHISPER_API_URL=server.url)
    submitted = whisperd("jobs", "submit", jfk, "--format", "srt", "--metadata", "case=7", env=env)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.decode().strip()
    assert job_id.startswith("job_")
    waited = whisperd("jobs", "wait", job_id, env=env)
    assert waited.returncode == 0, waited.stderr
    assert wer(JFK_TEXT, " ".join(c.content for c in srt.parse(waited.stdout.decode()))) < 0.1
    text = whisperd("jobs", "result", job_id, "--format", "text", env=env)
    assert wer(JFK_TEXT, text.stdout.decode()) < 0.1
    status = whisperd("jobs", "status", job_id, "--json", env=env)
    assert json.loads(status.stdout)["metadata"] == {"case": "7"}
    line = whisperd("jobs", "status", job_id, env=env).stdout.decode()
    assert "succeeded" in line
    assert "0:11 of 0:11" in line
    assert job_id in whisperd("jobs", "list", env=env).stdout.decode()
    assert whisperd("jobs", "cancel", job_id, env=env).returncode == 0
    gone = whisperd("jobs", "status", job_id, env=env)
    assert gone.returncode == 1
    assert "No job found" in gone.stderr.decode()
    direct = whisperd("jobs", "submit", jfk, "--wait", "--format", "text", env=env)
    assert direct.returncode == 0, direct.stderr
    assert wer(JFK_TEXT, direct.stdout.decode()) < 0.1


def test_a_failed_job_exits_1_with_its_error(server: RunningServer, tmp_path: Path) -> None:
    broken = undecodable(tmp_path / "broken.flac")  # its header passes the submit; its frames fail the run
    failed = whisperd("jobs", "submit", broken, "--wait", env=clean_env(WHISPER_API_URL=server.url))
    assert failed.returncode == 1
    assert "failed" in failed.stderr.decode()
    assert "no audio could be decoded" in failed.stderr.decode()


def test_a_job_the_model_cannot_do_is_refused_at_submit(server: RunningServer, jfk: Path) -> None:
    refused = whisperd("jobs", "submit", jfk, "--translate", env=clean_env(WHISPER_API_URL=server.url))
    assert refused.returncode == 1
    assert "English-only" in refused.stderr.decode()
    assert "failed" not in refused.stderr.decode()  # refused, not queued and failed later


@pytest.fixture
def folder(tmp_path: Path, jfk: Path) -> Path:
    """A folder of recordings: two levels, a damaged file, and a file that is not audio."""
    root = tmp_path / "recordings"
    (root / "day1" / "morning").mkdir(parents=True)
    for index in range(3):
        speech_with_pauses(root / "day1" / f"talk{index}.wav", 6 + index)
    shutil.copy(jfk, root / "jfk.flac")
    shutil.copy(jfk, root / "day1" / "morning" / "jfk.flac")
    (root / "day1" / "broken.mp3").write_bytes(b"ID3 this is not an mp3 at all" * 20)
    (root / "notes.txt").write_text("not audio\n")
    return root


EXPECTED = ["day1/morning/jfk.srt", "day1/talk0.srt", "day1/talk1.srt", "day1/talk2.srt", "jfk.srt"]


def _outputs(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


def test_a_folder_run_resumes_after_an_interruption(tmp_path: Path, cache_dir: Path, folder: Path) -> None:
    server = start_server(tmp_path / "server")
    out = tmp_path / "subtitles"
    env = clean_env(WHISPER_API_URL=server.url)
    try:
        command = [
            str(WHISPERD),
            "transcribe",
            str(folder),
            "--recursive",
            "--output-dir",
            str(out),
            "--format",
            "srt",
        ]
        first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 300
        while not any(out.rglob("*.srt")):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "no output appeared"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)  # interrupted as hard as it gets
        first.communicate()
        written = _outputs(out)
        assert 0 < len(written) < len(EXPECTED)

        second = on_terminal(
            "transcribe", folder, "--recursive", "--output-dir", out, "--format", "srt", env=env
        )
        assert second.returncode == 1, "the damaged file failed"
        shown = second.stderr.decode()
        assert f"{len(written)} skipped (output exists)" in shown
        assert "1 failed" in shown
        assert "broken.mp3" in shown
        assert " files [" in shown, "one progress line for the whole run"
        assert "s audio" in shown
        assert _outputs(out) == EXPECTED, "every file once, nothing half-written, notes.txt left alone"
        for path in out.rglob("*.srt"):
            assert list(srt.parse(path.read_text()))
        queued = server.log_file.read_text().count(": queued (")
        assert queued == len(EXPECTED), (
            "files on the server when the first run died were picked up, not sent again"
        )
        assert httpx.get(f"{server.api_url}/audio/jobs").json()["data"] == [], "jobs deleted once written"

        third = whisperd("transcribe", folder, "--recursive", "--output-dir", out, "--format", "srt", env=env)
        assert "0 transcribed, 5 skipped" in third.stderr.decode()
    finally:
        server.stop(signal.SIGTERM)


def test_a_local_folder_run(tmp_path: Path, folder: Path) -> None:
    out = tmp_path / "text"
    for name in ("broken.mp3", "talk0.wav", "talk1.wav", "talk2.wav"):
        (folder / "day1" / name).unlink()
    shallow = whisperd("transcribe", "--local", "--model", "tiny.en", folder, "--output-dir", out)
    assert shallow.returncode == 0, shallow.stderr
    assert _outputs(out) == ["jfk.txt"], "without --recursive, only the folder itself"
    deep = whisperd("transcribe", "--local", "--model", "tiny.en", folder, "-r", "--output-dir", out)
    assert deep.returncode == 0, deep.stderr
    assert _outputs(out) == ["day1/morning/jfk.txt", "jfk.txt"]
    assert "1 transcribed, 1 skipped" in deep.stderr.decode()
    assert wer(JFK_TEXT, (out / "day1" / "morning" / "jfk.txt").read_text()) < 0.1
