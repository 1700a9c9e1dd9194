"""kill -9 in the middle of a job, restart: it resumes at its last finished chunk and completes with the
same text as a run that never stopped; nothing twice in the result; nothing left on disk after retention."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path
from typing import Any

import httpx

from tests.support.jobs import submit, wait_for, wait_until
from tests.support.media import speech_with_pauses
from tests.support.servers import RunningServer, start_server

# Reproducible decoding (the random temperature fallback off); small batches, so that a job of a quarter
# of an hour has many checkpoints; a short retention, so that the sweep is seen.
ENV = {
    "WHISPERD_TEMPERATURE_FALLBACK": "false",
    "WHISPERD_BATCH_SIZE": "4",
    "WHISPERD_JOB_RETENTION": "40s",
}


def _job(server: RunningServer, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = httpx.get(f"{server.api_url}/audio/jobs/{job_id}", timeout=30).json()
    return job


def _result(server: RunningServer, job_id: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{server.api_url}/audio/jobs/{job_id}/result", params={"response_format": "verbose_json"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _rows(data_dir: Path) -> dict[str, int]:
    db = sqlite3.connect(f"file:{data_dir / 'jobs.sqlite3'}?mode=ro", uri=True)
    try:
        return {
            t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("jobs", "segments", "results")
        }
    finally:
        db.close()


def test_kill_9_mid_job_then_restart_resumes_and_completes(tmp_path: Path, cache_dir: Path) -> None:
    audio = speech_with_pauses(tmp_path / "talk.wav", 60)  # 14 minutes
    first = start_server(tmp_path / "server", extra_env=ENV)
    try:
        job = submit(first, audio, response_format="srt").json()

        def mid_way() -> bool:
            state = _job(first, job["id"])
            assert state["status"] != "succeeded", "the job ended before it could be interrupted"
            return state["status"] == "running" and _rows(first.data_dir)["segments"] > 0

        wait_until(mid_way, "the job to be part-way", timeout=600, every=0.05)
    finally:
        first.stop(signal.SIGKILL)
    stopped_at = _rows(first.data_dir)
    assert stopped_at["segments"] > 0, "its checkpoints were saved as it went"
    assert [p.name for p in first.job_files()] == [job["id"]], "the audio is kept while the job is unfinished"

    second = start_server(tmp_path / "server", port=first.port, extra_env=ENV)
    try:
        resumed = wait_for(second, job["id"])
        assert resumed["status"] == "succeeded", resumed
        assert resumed["runs"] == 2
        assert resumed["resumed_from"] is not None
        assert 0 < resumed["resumed_from"] < resumed["duration"], "it picked up at a chunk, not the start"
        assert second.job_files() == []

        reference = wait_for(second, submit(second, audio).json()["id"])
        assert reference["resumed_from"] is None
        got, want = _result(second, job["id"]), _result(second, reference["id"])
        assert got["text"] == want["text"], "the same text as a run that never stopped"
        assert [s["id"] for s in got["segments"]] == list(range(len(got["segments"])))
        assert [(s["start"], s["text"]) for s in got["segments"]] == [
            (s["start"], s["text"]) for s in want["segments"]
        ]
        starts = [s["start"] for s in got["segments"]]
        assert starts == sorted(starts), "no segment twice, none out of place"
        srt_body = httpx.get(f"{second.api_url}/audio/jobs/{job['id']}/result", timeout=30).text
        assert srt_body.count(" --> ") == len(got["segments"])

        for job_id in (job["id"], reference["id"]):  # the retention sweep
            wait_until(
                lambda j=job_id: (_job(second, j).get("error") or {}).get("code") == "job_not_found",
                "the sweep",
                180,
                1,
            )
        assert second.job_files() == []
        assert _rows(second.data_dir) == {"jobs": 0, "segments": 0, "results": 0}
        assert sorted(p.name for p in second.data_dir.iterdir()) == [
            "audio", "incoming", "jobs.sqlite3", "jobs.sqlite3-shm", "jobs.sqlite3-wal", "lock",
        ]  # fmt: skip
    finally:
        second.stop(signal.SIGTERM)
