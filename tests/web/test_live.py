"""Live mode in a real browser: the fake microphone's sentence streamed over the Realtime socket.

Chromium plays espeak's WAV as the microphone; the words appear while it plays, and the finished turn
lands in the list as a transcript with its audio and downloads. With API keys on, the page opens the
socket with a short-lived client secret, never with the key itself.
"""

from __future__ import annotations

import re
from pathlib import Path

from bench.wer import normalize
from playwright.sync_api import Browser, expect

from tests.support.servers import RunningServer
from tests.web.browser import WebPage
from tests.web.conftest import API_KEY, SPOKEN, tab

# Records every text the live panel shows, to prove that words came before the turn ended.
_WATCH = """() => {
  window.liveSeen = [];
  new MutationObserver(() => window.liveSeen.push(document.getElementById("live-words").textContent))
    .observe(document.getElementById("live-words"), {subtree: true, childList: true, characterData: true});
}"""


def _speak_live(web: WebPage, shots: Path | None = None) -> str:
    page = web.page
    page.evaluate(_WATCH)
    live = page.get_by_role("button", name="Live", exact=True)
    live.click()
    stop = page.get_by_role("button", name="Stop live", exact=True)
    expect(stop).to_have_attribute("aria-pressed", "true")
    if shots is not None:
        web.screenshot(shots, "web-live")
    job = page.locator("article.job").filter(has=page.get_by_role("heading", name=re.compile(r"^live-")))
    expect(job.first).to_have_attribute("data-state", "done", timeout=60_000)
    stop.click()
    expect(live).to_have_attribute("aria-pressed", "false")
    seen = page.evaluate("window.liveSeen")
    assert any(text.strip() for text in seen), "no words appeared while the sentence was spoken"
    return " ".join(text for _, text in web.segments(job.first))


def test_live_words_then_a_transcript_with_downloads(web: WebPage, shots: Path) -> None:
    heard = set(normalize(_speak_live(web, shots)))
    assert {"milk", "bread", "oranges", "tomorrow", "morning"} <= heard, (heard, SPOKEN)
    job = web.page.locator("article.job").first
    name = job.locator("h3").inner_text()
    assert re.fullmatch(r"live-\d{4}-\d\d-\d\d-\d{6}-1\.wav", name), name
    filename, body = web.download(job, "srt")
    assert filename == name.replace(".wav", ".srt")
    assert "milk" in body
    duration = job.locator("audio").evaluate(
        "a => new Promise(r => a.duration ? r(a.duration) : a.onloadedmetadata = () => r(a.duration))"
    )
    assert 3.0 < duration < 12.0  # the turn's own audio, cut from what was sent


def test_live_with_keys_uses_a_client_secret(browser: Browser, key_server: RunningServer) -> None:
    with tab(browser, key_server) as web:
        web.page.evaluate(f"localStorage.setItem('whisperd.apiKey', {API_KEY!r})")
        web.page.reload()
        expect(web.page.locator("html")).to_have_attribute("data-ready", "true")
        sockets: list[str] = []
        web.page.on("websocket", lambda socket: sockets.append(socket.url))
        heard = set(normalize(_speak_live(web)))
        assert {"milk", "bread"} <= heard
        assert sockets
        assert all(API_KEY not in url for url in sockets)
    log = key_server.log_file.read_text()
    assert "path=/v1/realtime status=101" in log
