"""Files as server jobs on the page: progress from the job's events, found again after a reload, same downloads."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import srt
from bench.wer import wer
from playwright.sync_api import expect

from tests.support.jobs import wait_until
from tests.support.media import JFK_TEXT, speech_with_pauses
from tests.support.servers import RunningServer
from tests.web.browser import JOB_SECONDS, WebPage


def _web_jobs(server: RunningServer) -> list[dict[str, object]]:
    listed = httpx.get(f"{server.api_url}/audio/jobs", params={"limit": 100}).json()["data"]
    return [job for job in listed if (job.get("metadata") or {}).get("source") == "web"]


@pytest.fixture(autouse=True)
def _no_web_jobs_left(server: RunningServer) -> Iterator[None]:
    """The page finds its jobs again on load: the other pages of this server must not see these."""
    yield

    def deleted() -> bool:
        left = _web_jobs(server)
        for job in left:  # a running job is cancelled by a first DELETE, then deleted by the next
            httpx.delete(f"{server.api_url}/audio/jobs/{job['id']}", timeout=30)
        return not left

    wait_until(deleted, "the page's jobs deleted after the test", timeout=60, every=0.5)


def test_a_background_job_survives_a_reload_with_its_downloads(
    web: WebPage, server: RunningServer, jfk: Path
) -> None:
    web.page.get_by_label("As a background job").check()
    web.upload(jfk)
    job = web.finished("jfk.flac")
    expect(job.locator(".job-state")).to_have_text(re.compile(r"0:11 of audio, as a job"))
    assert wer(JFK_TEXT, " ".join(text for _, text in web.segments(job))) < 0.1
    job_id = job.get_attribute("data-job-id")
    assert job_id
    _, body = web.download(job, "srt")
    served = httpx.get(f"{server.api_url}/audio/jobs/{job_id}/result", params={"response_format": "srt"}).text
    assert body == served, "the same SRT as the server's"

    web.page.reload()
    expect(web.page.locator("html")).to_have_attribute("data-ready", "true")
    again = web.finished("jfk.flac")
    assert again.get_attribute("data-job-id") == job_id
    assert again.locator(".job-audio").is_hidden(), "the audio stayed where it came from"
    _, after = web.download(again, "srt")
    assert after == body
    assert list(srt.parse(after))

    again.get_by_role("button", name="Remove jfk.flac").click()
    expect(again).to_have_count(0)
    wait_until(
        lambda: all(j["id"] != job_id for j in _web_jobs(server)),
        "removing the card to delete the job on the server",
        timeout=10,
    )


def test_a_long_file_goes_as_a_job_and_a_reload_keeps_following_it(web: WebPage, tmp_path: Path) -> None:
    """Over ten minutes: a job whatever the option says; reloaded mid-way, the card comes back and ends."""
    talk = speech_with_pauses(tmp_path / "meeting.wav", 45)
    web.upload(talk)
    card = web.job("meeting.wav")
    expect(card.locator(".job-state")).to_have_text(
        re.compile(r"Transcribing on the server: \d+:\d\d of 10:30 \(\d+ %\)"), timeout=JOB_SECONDS * 1000
    )
    web.page.reload()
    expect(web.page.locator("html")).to_have_attribute("data-ready", "true")
    back = web.job("meeting.wav")
    expect(back).to_have_count(1)
    done = web.finished("meeting.wav")
    assert wer(" ".join([JFK_TEXT] * 45), " ".join(text for _, text in web.segments(done))) < 0.15
    expect(done.locator(".job-state")).to_have_text(re.compile(r"10:30 of audio, as a job"))
