"""``/docs`` (Swagger UI) and ``/redoc``, served from this server: no CDN, so they work on a LAN offline.

FastAPI's defaults load Swagger UI and ReDoc from a public CDN: blank pages on a network without
internet, and a request to a third party from every visitor of a server whose point is that nothing
leaves the network. The same assets ship, pinned, in the ``fastapi-offline`` package; only its static
files are used here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS", "redoc", "router", "swagger", "swagger_redirect"]

ASSETS = "/docs-assets"

# The pages' own inline start-up script is allowed; everything else comes from this server. ReDoc's
# bundle would fetch its footer logo from cdn.redoc.ly: the policy stops that request in the browser.
_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)


def _assets_dir() -> Path:
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("fastapi-offline is not installed; it ships the API docs' scripts")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title="whisperd - API",
        oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
        swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
    )
    page.headers["Content-Security-Policy"] = _POLICY
    return page


@router.get("/docs/oauth2-redirect")
async def swagger_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_redoc_html(
        openapi_url=f"{root}/openapi.json",
        title="whisperd - API",
        redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
        with_google_fonts=False,
    )
    page.headers["Content-Security-Policy"] = _POLICY
    return page


router.mount(ASSETS, StaticFiles(directory=_assets_dir()), name="docs-assets")
