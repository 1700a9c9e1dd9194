"""``/docs`` and ``/redoc`` render on a LAN with no internet: their scripts come from this server.

FastAPI's defaults load Swagger UI and ReDoc from a public CDN, which leaves the pages blank offline and
makes every visitor's browser call a third party. Here the browser may reach the server and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.support.servers import RunningServer


@pytest.fixture
def offline_page(browser: Browser, server: RunningServer) -> Iterator[tuple[Page, list[str]]]:
    """A tab whose every request to anywhere but the server is cut, as on a LAN without internet."""
    context = browser.new_context()
    blocked: list[str] = []
    own = urlsplit(server.url).netloc

    def only_the_server(route: Route) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_the_server)
    try:
        yield context.new_page(), blocked
    finally:
        context.close()


def test_swagger_ui_renders_offline(offline_page: tuple[Page, list[str]], server: RunningServer) -> None:
    page, blocked = offline_page
    page.goto(f"{server.url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("whisperd", timeout=20_000)
    expect(page.get_by_text("/v1/audio/transcriptions").first).to_be_visible()
    assert blocked == []


def test_redoc_renders_offline(offline_page: tuple[Page, list[str]], server: RunningServer) -> None:
    page, blocked = offline_page
    page.goto(f"{server.url}/redoc")
    expect(page.locator("h1")).to_contain_text("whisperd", timeout=20_000)
    assert blocked == []
