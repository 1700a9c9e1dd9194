"""How the page is served (no key, no CDN, no inline script) and what the package ships of it."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import httpx
import pytest

from tests.support.servers import RunningServer
from whisperd.http.routes.web import STATIC_DIR
from whisperd.media.languages import LANGUAGES

REPO = Path(__file__).resolve().parents[2]


def test_page_and_files_need_no_key_while_the_api_does(key_server: RunningServer) -> None:
    assert httpx.get(f"{key_server.api_url}/models").status_code == 401
    page = httpx.get(f"{key_server.url}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    for name, kind in [("app.js", "javascript"), ("style.css", "text/css"), ("languages.json", "json")]:
        response = httpx.get(f"{key_server.url}/static/{name}")
        assert response.status_code == 200, name
        assert kind in response.headers["content-type"], (name, response.headers["content-type"])


def test_static_files_revalidate_and_stay_inside_their_folder(key_server: RunningServer) -> None:
    first = httpx.get(f"{key_server.url}/static/app.js")
    assert first.headers["cache-control"] == "no-cache"
    again = httpx.get(f"{key_server.url}/static/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    for path in (
        "/static/../api/web.py",
        "/static/%2e%2e/config.py",
        "/static/..%2fconfig.py",
        "/static/nope.js",
    ):
        response = httpx.get(f"{key_server.url}{path}")
        assert response.status_code == 404, path
        assert "error" in response.json()  # the API's error shape, not a stack trace


def test_page_is_not_in_the_api_description(key_server: RunningServer) -> None:
    paths = httpx.get(f"{key_server.url}/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not [p for p in paths if p.startswith("/static")]


def test_languages_are_the_servers() -> None:
    assert json.loads((STATIC_DIR / "languages.json").read_text()) == LANGUAGES


def _references(text: str) -> list[str]:
    """src/href attributes, JS imports and fetches: everything a file makes the browser load."""
    patterns = [r'(?:src|href)="([^"#]+)"', r'from "([^"]+)"', r'import\("([^"]+)"\)', r'fetch\("([^"]+)"\)']
    return [ref for pattern in patterns for ref in re.findall(pattern, text)]


@pytest.mark.parametrize(
    "name", sorted(p.name for p in STATIC_DIR.iterdir() if p.suffix in {".html", ".js", ".css"})
)
def test_every_reference_is_a_local_file(name: str) -> None:
    """Nothing from another host (the server may have no internet) and nothing missing."""
    text = (STATIC_DIR / name).read_text()
    for ref in _references(text):
        assert not re.match(r"^(https?:)?//", ref), f"{name} loads {ref} from another host"
        if ref.startswith("/v1/") or ref == "/health" or ref.startswith("#"):
            continue
        target = STATIC_DIR / ref.removeprefix("/static/").removeprefix("./")
        assert ref.startswith(("/static/", "./")), f"{name} refers to {ref}, outside /static/"
        assert target.is_file(), f"{name} refers to missing {ref}"
    if name.endswith(".html"):
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), (
            "inline scripts break under the page's CSP"
        )
        assert not re.search(r"\son[a-z]+\s*=", text), "inline handlers (onclick=...) break under the CSP"


def test_package_data_ships_every_static_file() -> None:
    """The wheel includes package-data globs only; a file outside them would be missing once installed."""
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "whisperd"
    ]
    package = STATIC_DIR.parents[1]  # the whisperd package, which the globs are relative to
    shipped = {path for pattern in globs for path in package.glob(pattern)}  # setuptools globs the same way
    for path in STATIC_DIR.rglob("*"):
        if path.is_file():
            assert path in shipped, (
                f"{path.relative_to(package)} would not be installed: add it to package-data"
            )
