"""Job values: the job object, specs stored and read back, transcripts kept exactly, the files' quota."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from whisperd.engine.types import Checkpoint, Segment, Transcript, Word
from whisperd.errors import QueueFull, QuotaExceeded
from whisperd.jobs.codec import (
    checkpoint_from_json,
    checkpoint_to_json,
    transcript_from_json,
    transcript_to_json,
)
from whisperd.jobs.events import JobEvents
from whisperd.jobs.files import DataDirInUse, JobFiles
from whisperd.jobs.model import Attempt, Job, JobSpec, WebhookState, job_object
from whisperd.service.transcription import TranscriptionRequest


def test_the_job_object() -> None:
    job = Job(
        id="job_1",
        owner="key_x",
        spec=JobSpec(
            model="tiny.en",
            response_format="srt",
            filename="a.ogg",
            webhook_url="http://h/",
            metadata={"k": "v"},
        ),
        status="running",
        created_at=100.7,
        audio_bytes=5,
        started_at=101.2,
        duration=200.0,
        progress=50.0,
        webhook=WebhookState("http://h/", "pending", (Attempt(150.4, 503, None, 0.1234),)),
    )
    body = job_object(job, retention_seconds=60)
    assert body["object"] == "audio.job"
    assert (body["created_at"], body["started_at"], body["finished_at"], body["expires_at"]) == (
        100,
        101,
        None,
        None,
    )
    assert body["progress"] == {"seconds": 50.0, "fraction": 0.25}
    assert body["webhook"] == {
        "url": "http://h/",
        "status": "pending",
        "attempts": [{"at": 150, "status_code": 503, "error": None, "seconds": 0.123}],
    }
    assert "owner" not in body, "who owns a job is not the client's business"
    job.status, job.finished_at = "succeeded", 300.0
    assert job_object(job, 60)["expires_at"] == 360
    assert job_object(job, 60)["progress"]["fraction"] == 1.0


def test_a_spec_reads_back_and_ignores_what_it_does_not_know() -> None:
    spec = JobSpec(task="translate", language=None, word_timestamps=True, metadata={"a": "b"})
    assert JobSpec.from_dict(spec.to_dict()) == spec
    assert JobSpec.from_dict({**spec.to_dict(), "future_field": 1, "response_format": "nope"}) == spec
    assert spec.request().task == "translate"


def test_transcripts_and_checkpoints_round_trip_exactly() -> None:
    words = [Word(" ask", 1.25, 1.5, 0.875)]
    transcript = Transcript(
        [Segment(0, 0, 1.0, 2.0, " ask «not»", [50257, 1], 0.0, -0.25, 1.5, 0.01, words)], "en", 0.99, 11.0
    )
    assert transcript_from_json(transcript_to_json(transcript)) == transcript
    checkpoint = Checkpoint("abc", 3, 7, 91.5, "de", 0.8)
    assert checkpoint_from_json(checkpoint_to_json(checkpoint)) == checkpoint


def test_the_stored_audio_quota_counts_uploads_as_they_arrive(tmp_path: Path) -> None:
    files = JobFiles(tmp_path / "data", max_bytes=1000)
    files.prepare()
    assert files.refusal(900) is None
    with files.budget() as first:
        first.take(600)
        assert isinstance(files.refusal(500), QuotaExceeded)
        with files.budget() as second, pytest.raises(QuotaExceeded):
            second.take(500)
        assert files.arriving == 600, "a refused upload gives its share back"
        files.kept(600)
    assert (files.stored, files.arriving) == (600, 0)
    files.released(600)
    assert files.stored == 0
    files.close()


def test_one_server_per_data_folder_and_leftovers_swept(tmp_path: Path) -> None:
    files = JobFiles(tmp_path / "data", max_bytes=1000)
    files.prepare()
    with pytest.raises(DataDirInUse):
        JobFiles(tmp_path / "data", max_bytes=1000).prepare()
    (files.incoming / "upload-x").write_bytes(b"half")
    fd, upload = files.new_file()
    os.write(fd, b"audio")
    os.close(fd)
    files.keep(upload, "job_a")
    (files.audio / "job_orphan").write_bytes(b"nobody's")
    files.close()
    again = JobFiles(tmp_path / "data", max_bytes=1000)
    again.prepare()
    assert list(again.incoming.iterdir()) == []
    assert again.adopt({"job_a": 5, "job_gone": 9}) == ["job_gone"]
    assert sorted(p.name for p in again.audio.iterdir()) == ["job_a"]
    assert again.stored == 5
    again.close()


def test_followers_are_bounded_and_see_the_latest_state() -> None:
    async def scenario() -> None:
        events = JobEvents(max_streams=1)
        job = Job("job_1", "", JobSpec(), "queued", 0.0, 1)
        with events.follow("job_1") as follower:
            with pytest.raises(QueueFull), events.follow("job_1"):
                pass
            for progress in (1.0, 2.0, 3.0):
                job.progress = progress
                events.publish(job)
            latest = await follower.next()
            assert latest is not None
            assert latest.progress == 3.0
        assert events.open == 0

    asyncio.run(scenario())


def test_a_spec_stores_the_request_it_was_made_of() -> None:
    """The wire -> request mapping is the HTTP routes' (one place); a job keeps the request's fields and
    rebuilds the same request when it runs, also after a round trip through the store's JSON."""
    request = TranscriptionRequest(
        task="translate",
        model="base",
        language="de",
        prompt="Namen",
        temperature=0.2,
        word_timestamps=True,
        hotwords="ComfyUI",
        keywords=("ComfyUI", "whisperd"),
        languages=("de", "en"),
    )
    spec = JobSpec.of(request, response_format="srt", filename="a.ogg", webhook_url=None, metadata=None)
    assert spec.request() == request
    assert JobSpec.from_dict(json.loads(json.dumps(spec.to_dict()))).request() == request
