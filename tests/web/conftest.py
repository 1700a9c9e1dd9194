"""Fixtures for the browser tests: one chromium for the package, a tab per test, a fake microphone.

Screenshots go to a temporary folder, or to ``$WHISPERD_SCREENSHOTS`` when it is set; the ones in
``docs/`` were made with ``WHISPERD_SCREENSHOTS=docs .venv/bin/pytest tests/web``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.support.servers import RunningServer, start_server
from tests.web.browser import CHROMIUM, WebPage, launch

API_KEY = "secret-for-the-page"
# What the fake microphone says: plain words that tiny.en gets right from espeak's voice.
SPOKEN = "Please remember to buy milk, bread and fresh oranges tomorrow morning."


@pytest.fixture(scope="package")
def microphone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    espeak = shutil.which("espeak-ng")
    assert espeak, "espeak-ng is needed (make setup installs it)"
    path = tmp_path_factory.mktemp("microphone") / "spoken.wav"
    subprocess.run([espeak, "-v", "en-us", "-s", "150", "-w", str(path), SPOKEN], check=True)
    return path


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: `make setup` installs Debian's chromium with apt "
            "(these tests never download a browser)"
        )
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright, microphone: Path) -> Iterator[Browser]:
    browser = launch(playwright, microphone)
    yield browser
    browser.close()


@pytest.fixture(scope="package")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get("WHISPERD_SCREENSHOTS")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        return Path(wanted)
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def web(browser: Browser, server: RunningServer) -> Iterator[WebPage]:
    """A fresh tab (own storage, microphone allowed) on the session's tiny.en server."""
    with tab(browser, server) as page:
        yield page


@contextmanager
def tab(browser: Browser, server: RunningServer) -> Iterator[WebPage]:
    """A tab in a new browser context, so no test sees another's stored key or options."""
    context = browser.new_context(
        permissions=["microphone", "clipboard-read", "clipboard-write"], accept_downloads=True
    )
    try:
        page = WebPage.open(context, server.url)
        yield page
        assert not page.errors, page.errors
    finally:
        context.close()


@pytest.fixture(scope="package")
def key_server(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("key-server"), extra_env={"WHISPERD_API_KEYS": API_KEY})
    yield running
    running.stop(signal.SIGTERM)
