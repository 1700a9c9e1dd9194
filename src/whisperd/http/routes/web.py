"""The browser page: ``GET /`` and its files under ``/static/``, shipped inside the package.

The page is plain HTML, CSS and JavaScript modules with no build step and no third-party host: a home
server often has no internet access, and a page that loads from a CDN would break there (and leak who
uses it). It talks to the same ``/v1/*`` API as any other client, so it can do nothing a script could
not. Neither route needs an API key: the page is what asks for one, and keeps it in the browser.

These routes stay out of the OpenAPI document, which describes the API rather than the page.
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

__all__ = ["CONTENT_SECURITY_POLICY", "STATIC_DIR", "page", "router"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# Only this origin may provide scripts, styles and connections; recordings and uploads play from blob:
# URLs. No inline script is allowed, so injected text can never run, whatever a transcript contains.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # the page is tiny and changes with every upgrade: revalidate (ETag) rather than cache stale code
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=_PAGE_HEADERS)


class _StaticFiles(StaticFiles):
    """Starlette's static files (ETag, 304, no path traversal) with the page's caching and sniffing rules."""

    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


router.mount("/static", _StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
