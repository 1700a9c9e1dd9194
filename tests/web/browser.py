"""Debian's chromium, driven by Playwright, and the page as a test sees it (a small page object).

Playwright's own browser downloads are never used (they need the internet): the tests launch the
system ``chromium`` that ``make setup`` installs with apt. Locators go through labels and roles
(``get_by_label("Model")``, ``get_by_role("button", name="Record")``), so a control without an
accessible name fails the tests as it would fail a screen reader user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Download, Locator, Page, Playwright, expect

__all__ = ["CHROMIUM", "JOB_SECONDS", "WebPage", "launch"]

CHROMIUM = Path("/usr/bin/chromium")
# Generous: a job is two passes of tiny.en on a small, shared CPU; nothing here asserts on timings.
JOB_SECONDS = 120

_ARGS = [
    "--no-sandbox",  # root in a container has no user namespaces for the sandbox
    "--disable-gpu",
    # without these, chromium keeps trying to reach Google's servers from a machine with no route out
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch(playwright: Playwright, microphone: Path | None = None) -> Browser:
    """Headless chromium; with ``microphone``, a fake one that plays that WAV once, then silence."""
    args = list(_ARGS)
    if microphone is not None:
        args += [
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}%noloop",
        ]
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)


@dataclass
class WebPage:
    """One browser tab on whisperd's page, with what went wrong in it collected for the teardown."""

    page: Page
    base_url: str
    errors: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, context: BrowserContext, base_url: str) -> WebPage:
        web = cls(context.new_page(), base_url)
        web.page.on("pageerror", lambda error: web.errors.append(f"uncaught: {error}"))
        web.page.on("console", web._console)
        web.page.goto(f"{base_url}/")
        expect(web.page.locator("html")).to_have_attribute("data-ready", "true")
        return web

    def _console(self, message: Any) -> None:
        # a 4xx answer logs "Failed to load resource" by itself; the page's own errors are what count
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"console: {message.text}")

    def choose(self, *, task: str | None = None, words: bool | None = None, live: bool | None = None) -> None:
        if task is not None:
            label = "Translate to English" if task == "translate" else "Transcribe"
            self.page.get_by_label(label, exact=True).check()
        if words is not None:
            self.page.get_by_label("Word timings").set_checked(words)
        if live is not None:
            self.page.get_by_label("Text as it is transcribed").set_checked(live)

    def upload(self, *paths: Path) -> None:
        self.page.get_by_label("Choose files").set_input_files([str(p) for p in paths])

    def job(self, name: str) -> Locator:
        return self.page.locator("article.job").filter(has=self.page.get_by_role("heading", name=name))

    def finished(self, name: str, state: str = "done") -> Locator:
        """Wait for the job's card to reach ``state`` (done, failed, cancelled) and return it."""
        job = self.job(name)
        expect(job).to_have_attribute(
            "data-state", re.compile("done|failed|cancelled"), timeout=JOB_SECONDS * 1000
        )
        if job.get_attribute("data-state") != state:
            raise AssertionError(
                f"{name}: {job.get_attribute('data-state')}, not {state}: {job.inner_text()}"
            )
        return job

    def segments(self, job: Locator) -> list[tuple[str, str]]:
        """(start as shown, text) of every segment line."""
        rows = job.locator("li.segment")
        return [
            (rows.nth(i).locator("button.time").inner_text(), rows.nth(i).locator(".text").inner_text())
            for i in range(rows.count())
        ]

    def download(self, job: Locator, kind: str) -> tuple[str, str]:
        """Click a download button; returns (suggested file name, content)."""
        with self.page.expect_download() as info:
            job.get_by_role("button", name=f".{kind}", exact=True).click()
        download: Download = info.value
        path = download.path()
        return download.suggested_filename, Path(path).read_text(encoding="utf-8")

    def screenshot(self, folder: Path, name: str) -> Path:
        path = folder / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path
