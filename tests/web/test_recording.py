"""Recording from a (fake) microphone: chromium plays espeak's WAV as the microphone's input."""

from __future__ import annotations

import re
from pathlib import Path

import srt
from bench.wer import normalize
from playwright.sync_api import expect

from tests.web.browser import WebPage
from tests.web.conftest import SPOKEN


def test_record_a_sentence_and_download_subtitles(web: WebPage, shots: Path) -> None:
    page = web.page
    record = page.get_by_role("button", name="Record", exact=True)
    record.click()
    stop = page.get_by_role("button", name="Stop", exact=True)
    expect(stop).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("timer")).to_be_visible()
    web.screenshot(shots, "web-recording")
    # the page's own clock says when the ~5 s sentence has been heard (the fake device then sends silence)
    expect(page.get_by_role("timer")).to_have_text(re.compile(r"0:0[6-9]"), timeout=30_000)
    stop.click()
    expect(record).to_have_attribute("aria-pressed", "false")

    job = page.locator("article.job").first
    name = job.locator("h3").inner_text()
    assert re.fullmatch(r"recording-\d{4}-\d\d-\d\d-\d{6}\.webm", name), name
    web.finished(name)
    heard = set(normalize(" ".join(text for _, text in web.segments(job))))
    assert {"milk", "bread", "oranges", "tomorrow", "morning"} <= heard, (heard, SPOKEN)

    filename, body = web.download(job, "srt")
    assert filename == name.replace(".webm", ".srt")
    cues = list(srt.parse(body))
    assert cues
    assert "milk" in normalize(" ".join(c.content for c in cues))
