"""Every refusal the API can send reaches the person in words: 401 (key), 413 (size), 429 (busy)."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, expect

from tests.support.media import upload
from tests.support.servers import RunningServer, start_server
from tests.web.browser import JOB_SECONDS
from tests.web.conftest import API_KEY, tab
from whisperd.media.audio import decode_file

LIMIT_BYTES = 100_000


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    """Small uploads only, one job at a time and no queue: 413 and 429 are easy to reach."""
    running = start_server(
        tmp_path_factory.mktemp("strict-server"),
        extra_env={
            "WHISPERD_MAX_UPLOAD_BYTES": str(LIMIT_BYTES),
            "WHISPERD_MAX_CONCURRENT_JOBS": "1",
            "WHISPERD_MAX_QUEUED_JOBS": "0",
        },
    )
    yield running
    running.stop(signal.SIGTERM)


def long_small_speech(source: Path, target: Path, repeats: int) -> Path:
    """``repeats`` x ``source`` as low-bitrate Opus: over a minute of speech in under the upload limit."""
    samples = decode_file(source, max_seconds=60, max_decode_seconds=60).samples
    pcm = (np.clip(np.tile(samples, repeats), -1, 1) * 32767).astype("<i2")[None, :]
    with av.open(str(target), "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=16_000)
        assert isinstance(stream, av.audio.stream.AudioStream)
        stream.bit_rate = 6_000
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = 16_000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return target


def wait_idle(server: RunningServer, timeout: float = 60) -> None:
    """Until no request holds a job slot (a cancelled job stops at its next segment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metrics = httpx.get(f"{server.url}/metrics").text
        if re.search(r"^whisperd_jobs_in_flight 0(\.0)?$", metrics, re.MULTILINE):
            return
        time.sleep(0.1)
    raise TimeoutError("a job slot is still held")


def test_oversize_file_is_explained(
    browser: Browser, strict_server: RunningServer, jfk: Path, shots: Path
) -> None:
    assert jfk.stat().st_size > LIMIT_BYTES
    with tab(browser, strict_server) as web:
        web.upload(jfk)
        job = web.finished("jfk.flac", "failed")
        alert = job.get_by_role("alert")
        expect(alert).to_contain_text("“jfk.flac” is too large for this server.")
        expect(alert).to_contain_text("The file is 1.2 MB and the server accepts at most 100 kB.")
        expect(alert).to_contain_text("WHISPERD_MAX_UPLOAD_BYTES")
        expect(alert).to_contain_text("HTTP 413")
        expect(job.get_by_role("button", name="Try again")).to_be_hidden()  # the same file would fail again
        web.screenshot(shots, "web-error-413")
    assert strict_server.upload_files() == []


def test_busy_server_is_explained_and_try_again_works(
    browser: Browser, strict_server: RunningServer, jfk: Path, audio: Path, tmp_path: Path
) -> None:
    busy = long_small_speech(jfk, tmp_path / "busy.ogg", repeats=8)
    assert busy.stat().st_size < LIMIT_BYTES
    with tab(browser, strict_server) as web, httpx.Client(timeout=JOB_SECONDS) as http:
        form = {"file": upload(busy)}
        with http.stream(
            "POST", f"{strict_server.api_url}/audio/transcriptions", files=form, data={"stream": "true"}
        ) as held:
            # a streamed answer starts once its job holds the only slot, and holds it for ~90 s of audio
            assert held.status_code == 200
            web.upload(audio / "jfk.mp3")
            job = web.finished("jfk.mp3", "failed")
        alert = job.get_by_role("alert")
        expect(alert).to_contain_text("The server is busy.")
        expect(alert).to_contain_text(re.compile(r"Try again in \d+ s\."))
        expect(alert).to_contain_text("HTTP 429")

        wait_idle(strict_server)  # leaving the stream above disconnected it: the server cancels that job
        job.get_by_role("button", name="Try again").click()
        # with live text on, the timestamp request is refused too while the stream holds the only slot;
        # the page sends it again once the stream is over
        expect(job).to_have_attribute("data-state", "done", timeout=JOB_SECONDS * 1000)
        assert job.locator("li.segment").count() >= 1
        expect(job.get_by_role("alert")).to_be_hidden()


def test_api_key_is_asked_for_kept_in_the_browser_and_used(
    browser: Browser, key_server: RunningServer, audio: Path, shots: Path
) -> None:
    with tab(browser, key_server) as web:
        page = web.page
        dialog = page.get_by_role("dialog", name="API key")
        expect(dialog).to_contain_text("This server asks for an API key.")  # /v1/models answered 401
        web.screenshot(shots, "web-api-key")
        dialog.get_by_role("button", name="Cancel").click()

        web.upload(audio / "jfk.mp3")
        job = web.finished("jfk.mp3", "failed")
        expect(job.get_by_role("alert")).to_contain_text("This server needs an API key.")
        expect(job.get_by_role("alert")).to_contain_text("HTTP 401")
        expect(dialog).to_be_visible()  # the refusal asked for the key

        dialog.get_by_label("Key").fill("not-the-key")
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_contain_text("refused")
        expect(job.get_by_role("alert")).to_contain_text("The API key was refused.")

        dialog.get_by_label("Key").fill(API_KEY)
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden()
        # the job that the key stopped goes again by itself, and the model list loads
        expect(job).to_have_attribute("data-state", "done", timeout=JOB_SECONDS * 1000)
        assert job.locator("li.segment").count() >= 1
        expect(page.get_by_label("Model").locator("option")).to_contain_text(["whisper-1", "tiny.en"])
        assert page.evaluate("localStorage.getItem('whisperd.apiKey')") == API_KEY

        page.reload()
        expect(page.locator("html")).to_have_attribute("data-ready", "true")
        expect(page.get_by_label("Model").locator("option")).to_contain_text(["whisper-1", "tiny.en"])
        expect(dialog).to_be_hidden()
        expect(page.get_by_role("button", name="API key")).to_be_visible()
