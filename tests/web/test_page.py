"""The page in a real browser against a real tiny.en server: upload, live text, timestamps, downloads."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import srt
import webvtt
from bench.wer import wer
from playwright.sync_api import Browser, Locator, expect

from tests.support.media import JFK_TEXT, long_speech, upload
from tests.support.servers import RunningServer
from tests.web.browser import WebPage
from tests.web.conftest import tab

JFK_SECONDS = 11.0

# Records what the first job's card shows after every change, to prove the text came before the timestamps.
_WATCH = """() => {
  window.seen = [];
  new MutationObserver(() => {
    const job = document.querySelector("article.job");
    if (!job) return;
    window.seen.push({
      live: job.querySelector(".live-text").textContent,
      timed: !job.querySelector(".segments").hidden,
    });
  }).observe(document.getElementById("jobs"), {subtree: true, childList: true, characterData: true, attributes: true});
}"""


@pytest.fixture(scope="module")
def jfk_job(browser: Browser, server: RunningServer, jfk: Path) -> Iterator[tuple[WebPage, Locator]]:
    """jfk.flac, transcribed once by the page with the default options (live text on)."""
    with tab(browser, server) as web:
        web.page.evaluate(_WATCH)
        web.upload(jfk)
        yield web, web.finished("jfk.flac")


def test_upload_shows_text_as_it_comes_then_timestamps(jfk_job: tuple[WebPage, Locator], shots: Path) -> None:
    web, job = jfk_job
    segments = web.segments(job)
    assert segments, job.inner_text()
    assert segments[0][0] == "0:00"
    assert wer(JFK_TEXT, " ".join(text for _, text in segments)) < 0.1
    starts = [
        float(s) for s in job.locator("li.segment").evaluate_all("rows => rows.map(r => r.dataset.start)")
    ]
    assert starts == sorted(starts)
    assert all(0 <= s < JFK_SECONDS for s in starts)
    expect(job.locator(".job-state")).to_have_text(re.compile(r"0:11 of audio in [\d.]+ s"))

    # the streamed text was on screen before the timestamps arrived
    seen: list[dict[str, Any]] = web.page.evaluate("window.seen")
    assert any(wer(JFK_TEXT, s["live"]) < 0.1 and not s["timed"] for s in seen), seen
    web.screenshot(shots, "web-transcript")


def test_long_audio_text_grows_while_it_is_transcribed(web: WebPage, tmp_path: Path) -> None:
    """Two 30 s windows: the first one's text is on screen while the second is still being decoded."""
    web.page.evaluate(_WATCH)
    web.upload(long_speech(tmp_path / "jfk-x4.wav", repeats=4))
    job = web.finished("jfk-x4.wav")
    seen: list[dict[str, Any]] = web.page.evaluate("window.seen")
    final = max((s["live"] for s in seen if not s["timed"]), key=len)
    assert wer(" ".join([JFK_TEXT] * 4), final) < 0.15
    assert any(0 < len(s["live"]) < len(final) and not s["timed"] for s in seen), "no partial text shown"
    assert wer(" ".join([JFK_TEXT] * 4), " ".join(text for _, text in web.segments(job))) < 0.15


def test_a_segment_plays_the_audio_from_its_start(jfk_job: tuple[WebPage, Locator]) -> None:
    _, job = jfk_job
    row = job.locator("li.segment").last
    start = float(row.get_attribute("data-start") or "nan")
    row.get_by_role("button", name=re.compile(r"^Play from ")).click()
    expect(row).to_have_attribute("aria-current", "true")  # the page follows the playback position
    position = job.locator("audio").evaluate("audio => audio.currentTime")
    assert start <= position < JFK_SECONDS
    job.locator("audio").evaluate("audio => audio.pause()")


def test_subtitle_downloads_parse(jfk_job: tuple[WebPage, Locator]) -> None:
    web, job = jfk_job
    name, body = web.download(job, "srt")
    assert name == "jfk.srt"
    cues = list(srt.parse(body))
    assert [c.index for c in cues] == list(range(1, len(cues) + 1))
    assert all(timedelta(0) <= c.start <= c.end <= timedelta(seconds=JFK_SECONDS + 0.5) for c in cues)
    assert wer(JFK_TEXT, " ".join(c.content for c in cues)) < 0.1
    assert len(cues) == len(web.segments(job))

    name, body = web.download(job, "vtt")
    assert name == "jfk.vtt"
    captions = webvtt.from_string(body).captions
    assert [c.text for c in captions] == [c.content for c in cues]
    assert [c.start_in_seconds for c in captions] == [c.start.total_seconds() for c in cues]


def test_subtitle_downloads_are_the_servers_own(
    jfk_job: tuple[WebPage, Locator], server: RunningServer, jfk: Path
) -> None:
    """The page writes SRT and VTT itself from its verbose_json answer; they are what the server writes."""
    web, job = jfk_job
    for kind in ("srt", "vtt"):
        _, downloaded = web.download(job, kind)
        served = httpx.post(
            f"{server.api_url}/audio/transcriptions",
            files={"file": upload(jfk)},
            data={"model": "whisper-1", "response_format": kind},
            timeout=120,
        )
        assert served.status_code == 200
        assert downloaded == served.text


def test_text_json_and_clipboard(jfk_job: tuple[WebPage, Locator]) -> None:
    web, job = jfk_job
    name, text = web.download(job, "txt")
    assert name == "jfk.txt"
    assert text.endswith("\n")
    assert wer(JFK_TEXT, text) < 0.1
    name, body = web.download(job, "json")
    verbose = json.loads(body)
    assert verbose["text"] == text.strip()
    assert verbose["duration"] == pytest.approx(JFK_SECONDS, abs=0.5)
    assert verbose["segments"]
    job.get_by_role("button", name="Copy text").click()
    expect(job.locator(".job-state")).to_have_text("Copied to the clipboard")
    # and then the outcome again
    expect(job.locator(".job-state")).to_have_text(re.compile(r"of audio in"), timeout=10_000)
    assert web.page.evaluate("navigator.clipboard.readText()") == verbose["text"]


def test_fits_a_phone_screen(jfk_job: tuple[WebPage, Locator], shots: Path) -> None:
    web, _ = jfk_job
    size = web.page.viewport_size
    web.page.set_viewport_size({"width": 375, "height": 740})
    try:
        overflow = web.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, "the page scrolls sideways on a phone"
        page = web.page
        targets = {
            "Choose files": page.get_by_text("Choose files", exact=True),
            "Record": page.get_by_role("button", name="Record", exact=True),
            ".srt": page.get_by_role("button", name=".srt"),
            "Play from": page.get_by_role("button", name=re.compile("^Play from")).first,
        }
        for name, target in targets.items():
            box = target.bounding_box()
            assert box is not None
            assert box["height"] >= 36, f"{name!r} is too small to tap"
        web.screenshot(shots, "web-phone")
    finally:
        if size:
            web.page.set_viewport_size(size)


def test_several_files_with_word_timings(web: WebPage, audio: Path) -> None:
    web.choose(words=True, live=False)
    web.upload(audio / "jfk.mp3", audio / "hotwords.mp3")
    cards = web.page.locator("article.job h3")
    expect(cards).to_have_text(["jfk.mp3", "hotwords.mp3"])  # a batch keeps its order
    job = web.finished("jfk.mp3")
    web.finished("hotwords.mp3")
    words = job.locator(".word")
    assert words.count() >= 20
    starts = [float(s) for s in words.evaluate_all("spans => spans.map(s => s.dataset.start)")]
    assert starts == sorted(starts)
    assert wer(JFK_TEXT, " ".join(words.all_inner_texts())) < 0.1
    words.nth(5).click()
    assert job.locator("audio").evaluate("a => a.currentTime") == pytest.approx(starts[5], abs=0.05)
    _, body = web.download(job, "json")
    assert len(json.loads(body)["words"]) == words.count()


def test_english_only_model_cannot_translate_and_says_so(web: WebPage, audio: Path) -> None:
    web.choose(task="translate")
    expect(web.page.get_by_label("Language")).to_be_disabled()
    web.upload(audio / "jfk.mp3")
    job = web.finished("jfk.mp3", "failed")
    alert = job.get_by_role("alert")
    expect(alert).to_contain_text("The server refused the options")
    expect(alert).to_contain_text("HTTP 400")
    expect(alert).to_contain_text("English-only")


def test_status_models_and_saved_options(web: WebPage) -> None:
    page = web.page
    expect(page.locator("#server-status")).to_have_text(
        re.compile(r"Ready: whisper-tiny\.en on cpu \(int8\), up \d+")
    )
    model = page.get_by_label("Model")
    expect(model.locator("option")).to_contain_text(["whisper-1", "tiny.en"])
    expect(model).to_have_value("whisper-1")
    page.get_by_label("Language").select_option("de")
    web.choose(words=True)
    page.reload()
    expect(page.get_by_label("Language")).to_have_value("de")
    expect(page.get_by_label("Word timings")).to_be_checked()


def test_event_stream_parser_accepts_any_chunking(web: WebPage) -> None:
    """Deltas arrive in network chunks that may split a line, a CRLF or a UTF-8 character's text."""
    result = web.page.evaluate(
        """async () => {
          const { SseParser } = await import("/static/sse.js");
          const stream = 'data: {"type":"transcript.text.delta","delta":"Grüß"}\\r\\n\\r\\n: keep-alive\\n\\n'
            + 'data: {"type":"transcript.text.delta","delta":" dich"}\\n\\n'
            + 'data: {"type":"transcript.text.done","text":"Grüß dich"}\\n\\n';
          const runs = [];
          for (let cut = 0; cut <= stream.length; cut++) {
            const parser = new SseParser();
            runs.push(JSON.stringify([...parser.push(stream.slice(0, cut)), ...parser.push(stream.slice(cut))]));
          }
          return runs;
        }"""
    )
    expected = json.dumps(
        [
            {"type": "transcript.text.delta", "delta": "Grüß"},
            {"type": "transcript.text.delta", "delta": " dich"},
            {"type": "transcript.text.done", "text": "Grüß dich"},
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert set(result) == {expected}


def test_start_screen(web: WebPage, shots: Path) -> None:
    expect(web.page.get_by_role("button", name="Record", exact=True)).to_be_enabled()
    expect(web.page.get_by_text("Transcripts appear here.")).to_be_visible()
    web.screenshot(shots, "web-start")


def test_cancel_stops_the_job_on_the_server(web: WebPage, server: RunningServer, tmp_path: Path) -> None:
    web.choose(live=False)
    web.upload(long_speech(tmp_path / "cancel-me.wav", repeats=6))
    job = web.job("cancel-me.wav")
    expect(job.locator(".job-state")).to_contain_text("Transcribing", timeout=60_000)
    job.get_by_role("button", name="Cancel cancel-me.wav").click()
    web.finished("cancel-me.wav", "cancelled")
    expect(job.get_by_role("button", name="Remove cancel-me.wav")).to_be_visible()
    # the server saw the client leave and stopped (499), rather than transcribing for no one
    deadline = time.monotonic() + 60
    while not _logged(server, "file=cancel-me.wav", "status=499", "cancelled=True"):
        assert time.monotonic() < deadline, "the server never logged the cancelled request"
        time.sleep(0.2)
    job.get_by_role("button", name="Remove cancel-me.wav").click()
    expect(job).to_have_count(0)


def _logged(server: RunningServer, *fields: str) -> bool:
    """Whether one request line of the server's log has all these ``key=value`` fields."""
    lines = server.log_file.read_text().splitlines()
    return any(all(f" {field} " in f"{line} " for field in fields) for line in lines)
