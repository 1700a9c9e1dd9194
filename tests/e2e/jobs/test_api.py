"""The job API on the session's real tiny.en server: submit, follow, fetch in every format, list, cancel, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import srt
import webvtt
from bench.wer import wer
from openai.types.audio import TranscriptionVerbose

from tests.support.jobs import submit, wait_for, wait_until
from tests.support.media import JFK_TEXT, speech_with_pauses, upload
from tests.support.servers import RunningServer


@pytest.fixture(scope="module")
def long_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About ten minutes of real speech with pauses: long enough to watch a job run."""
    return speech_with_pauses(tmp_path_factory.mktemp("audio") / "talk.wav", 45)


def _get(server: RunningServer, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{server.api_url}/audio/jobs{path}", params=params, timeout=60)


def _error(
    response: httpx.Response, status: int, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    return error


def test_submit_poll_then_the_result_in_every_format(
    server: RunningServer, client: openai.OpenAI, jfk: Path
) -> None:
    response = submit(
        server,
        jfk,
        response_format="srt",
        metadata=json.dumps({"case": "42"}),
        data={"timestamp_granularities[]": "word"},
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/audio/jobs/{job['id']}"
    assert job["object"] == "audio.job"
    assert job["id"].startswith("job_")
    assert job["status"] in ("queued", "running")
    assert (job["model"], job["task"], job["response_format"], job["filename"]) == (
        "whisper-1",
        "transcribe",
        "srt",
        "jfk.flac",
    )
    assert job["duration"] == pytest.approx(11.0, abs=0.1), "known from the file's header at once"
    assert job["metadata"] == {"case": "42"}
    done = wait_for(server, job["id"])
    assert done["status"] == "succeeded", done
    assert done["progress"] == {"seconds": pytest.approx(11.0, abs=0.1), "fraction": 1.0}
    assert done["created_at"] <= done["started_at"] <= done["finished_at"] < done["expires_at"]
    assert (done["runs"], done["resumed_from"], done["error"]) == (1, None, None)
    assert server.job_files() == [], "the audio is deleted when the job ends"

    default = _get(server, f"/{job['id']}/result")
    assert default.headers["content-type"].startswith("application/x-subrip"), "the job's own format"
    cues = list(srt.parse(default.text))
    assert wer(JFK_TEXT, " ".join(c.content for c in cues)) < 0.1
    vtt = _get(server, f"/{job['id']}/result", response_format="vtt")
    assert webvtt.from_string(vtt.text).captions
    text = _get(server, f"/{job['id']}/result", response_format="text")
    assert text.headers["content-type"].startswith("text/plain")
    plain = _get(server, f"/{job['id']}/result", response_format="json").json()
    assert plain["text"] == text.text.strip()
    assert plain["usage"] == {"type": "duration", "seconds": 11}
    verbose = TranscriptionVerbose.model_validate(
        _get(server, f"/{job['id']}/result", response_format="verbose_json").json()
    )
    assert verbose.text == plain["text"]
    assert verbose.words, "word timestamps, as asked at submission"
    same = client.audio.transcriptions.create(model="whisper-1", file=upload(jfk), response_format="text")
    assert text.text == same, "the same text as the synchronous endpoint"


def test_events_show_progress_to_the_end(server: RunningServer, long_file: Path) -> None:
    job = submit(server, long_file).json()
    events: list[dict[str, Any]] = []
    with httpx.stream("GET", f"{server.api_url}/audio/jobs/{job['id']}/events", timeout=600) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    kinds = [event["type"] for event in events]
    assert kinds[0] in ("audio.job.queued", "audio.job.running")
    assert kinds[-1] == "audio.job.succeeded", kinds
    progress = [
        event["job"]["progress"]["seconds"] for event in events if event["type"] == "audio.job.progress"
    ]
    assert len(progress) >= 2, kinds
    assert progress == sorted(progress)
    assert any(0 < seconds < events[-1]["job"]["duration"] for seconds in progress), progress
    assert events[-1]["job"]["progress"]["fraction"] == 1.0


def test_a_retried_submit_returns_the_first_job(server: RunningServer, jfk: Path) -> None:
    first = submit(server, jfk, headers={"Idempotency-Key": "upload-7f3a"})
    again = submit(server, jfk, headers={"Idempotency-Key": "upload-7f3a"})
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    other = submit(server, jfk, headers={"Idempotency-Key": "upload-other"})
    assert other.json()["id"] != first.json()["id"]
    for job in (first.json(), other.json()):
        wait_for(server, job["id"])
    assert server.job_files() == []


def test_the_list_is_openai_shaped_and_pages(server: RunningServer, jfk: Path) -> None:
    made = [submit(server, jfk).json()["id"] for _ in range(3)]
    page = _get(server, "", limit="2").json()
    assert page["object"] == "list"
    assert [job["id"] for job in page["data"]] == made[::-1][:2], "newest first"
    assert (page["first_id"], page["last_id"], page["has_more"]) == (made[2], made[1], True)
    rest = _get(server, "", limit="100", after=page["last_id"]).json()
    assert rest["data"][0]["id"] == made[0]
    _error(_get(server, "", limit="0"), 400)
    for job_id in made:
        wait_for(server, job_id)


def test_cancel_a_running_job(server: RunningServer, long_file: Path) -> None:
    job = submit(server, long_file).json()
    wait_for(server, job["id"], ("running",))
    wait_until(server.job_files, "the job's audio on disk")
    _error(_get(server, f"/{job['id']}/result"), 409, "job_not_finished", "job_id")
    cancelled = httpx.delete(f"{server.api_url}/audio/jobs/{job['id']}", timeout=30)
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["deleted"]) == ("cancelled", True)
    assert server.job_files() == [], "its audio goes at once"
    kept = _get(server, f"/{job['id']}").json()
    assert kept["status"] == "cancelled"
    _error(_get(server, f"/{job['id']}/result"), 409, "job_not_finished")
    wait_until(lambda: server.deleted_open_files() == [], "the worker to let go of the deleted audio", 60)
    gone = httpx.delete(f"{server.api_url}/audio/jobs/{job['id']}", timeout=30)
    assert gone.json()["deleted"] is True
    _error(_get(server, f"/{job['id']}"), 404, "job_not_found", "job_id")


def test_bad_requests_are_openai_errors_and_leave_nothing(
    server: RunningServer, jfk: Path, tmp_path: Path
) -> None:
    missing = "job_" + "0" * 24
    _error(_get(server, f"/{missing}"), 404, "job_not_found")
    _error(_get(server, "/not-a-job"), 404, "job_not_found")
    _error(_get(server, f"/{missing}/result"), 404)
    _error(_get(server, f"/{missing}/events"), 404)
    _error(httpx.delete(f"{server.api_url}/audio/jobs/{missing}"), 404)
    _error(submit(server, jfk, metadata="[1, 2]"), 400, "invalid_value", "metadata")
    _error(submit(server, jfk, metadata=json.dumps({f"k{i}": "v" for i in range(17)})), 400, param="metadata")
    _error(submit(server, jfk, task="summarize"), 400, param="task")
    _error(submit(server, jfk, stream="true"), 400, param="stream")
    _error(submit(server, jfk, webhook_url="http://127.0.0.1:9/hook"), 400, param="webhook_url")
    _error(submit(server, jfk, model="no-such-model"), 404, "model_not_found", "model")
    _error(submit(server, jfk, model="gpt-4o-transcribe-diarize"), 400, "invalid_value", "model")
    english_only = submit(server, jfk, task="translate")  # tiny.en, resident: known now, not when it runs
    _error(english_only, 400, "invalid_value", "model")
    assert "English-only" in english_only.json()["error"]["message"]
    _error(submit(server, jfk, response_format="diarized_json"), 400, param="response_format")
    _error(submit(server, jfk, data={"include[]": "logprobs"}), 400, param="include")
    _error(submit(server, jfk, data={"chunking_strategy": "auto"}), 400, param="chunking_strategy")
    not_audio = tmp_path / "notes.txt"
    not_audio.write_text("not audio at all\n" * 100)
    _error(submit(server, not_audio), 400, "invalid_file_format", "file")
    _error(submit(server, jfk, headers={"Idempotency-Key": "k" * 300}), 400, param="Idempotency-Key")
    no_file = httpx.post(
        f"{server.api_url}/audio/jobs", data={"model": "whisper-1"}, files={"x": ("a", b"b")}, timeout=30
    )
    _error(no_file, 400, "missing_file", "file")
    finished = submit(server, jfk).json()
    wait_for(server, finished["id"])
    _error(_get(server, f"/{finished['id']}/result", response_format="docx"), 400, param="response_format")
    _error(
        _get(server, f"/{finished['id']}/result", response_format="diarized_json"),
        400,
        param="response_format",
    )
    assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
    assert server.job_files() == []
    assert server.upload_files() == []
    assert server.deleted_open_files() == []


def test_jobs_give_way_to_interactive_requests(
    server: RunningServer, long_file: Path, tmp_path: Path
) -> None:
    """A queue of jobs never starves an upload: a two-minute file sent while a ten-minute job runs (and
    another waits) is answered while the job still runs."""
    running = submit(server, long_file).json()
    waiting = submit(server, long_file).json()
    wait_for(server, running["id"], ("running",))
    metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
    assert "whisperd_async_jobs 2.0" in metrics
    assert "whisperd_async_jobs_running 1.0" in metrics
    clip = speech_with_pauses(tmp_path / "clip.wav", 9)
    answer = httpx.post(
        f"{server.api_url}/audio/transcriptions",
        files={"file": upload(clip)},
        data={"response_format": "text"},
        timeout=600,
    )
    assert answer.status_code == 200
    assert wer(" ".join([JFK_TEXT] * 9), answer.text) < 0.15
    assert _get(server, f"/{running['id']}").json()["status"] == "running", "the upload went first"
    assert _get(server, f"/{waiting['id']}").json()["status"] == "queued"
    for job in (running, waiting):
        httpx.delete(f"{server.api_url}/audio/jobs/{job['id']}", timeout=30)


def test_a_job_keeps_its_keywords(server: RunningServer, audio: Path) -> None:
    """OpenAI's spelling field reaches a job's decoder too, as stored with the job (not dropped)."""
    job = submit(server, audio / "hotwords.mp3", data={"keywords[]": "ComfyUI"}).json()
    done = wait_for(server, job["id"])
    assert done["status"] == "succeeded", done
    assert "ComfyUI" in _get(server, f"/{job['id']}/result", response_format="text").text
