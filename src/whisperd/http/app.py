"""``create_app(runtime)``: the HTTP front end over a runtime: routes, middleware and error rendering.

The app adapts HTTP to the runtime's service and nothing more. Given a runtime, it serves that runtime
(``whisperd serve`` builds one and hands it to the other front ends too); given settings (or nothing),
it builds its own. Either way the app's lifespan starts the runtime (the default model then loads in the
background while ``/health`` answers 503) and closes it at shutdown. The companions served beside it
(the Wyoming listener, the LAN announcement) start after the runtime, in order, and stop in reverse
order before it closes, so none ever runs on a runtime that is not there. Nothing heavy happens at
import or in ``create_app`` itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from whisperd import __version__
from whisperd.config import Settings
from whisperd.errors import InternalError, InvalidRequest, MethodNotAllowed, NotFound, WhisperdError
from whisperd.http.middleware.auth import AuthMiddleware
from whisperd.http.middleware.observe import ObserveMiddleware
from whisperd.http.responses import error_response
from whisperd.http.routes import docs, health, jobs, models, realtime, speech, web
from whisperd.http.routes import metrics as metrics_route
from whisperd.observability.logs import LOGGER_NAME
from whisperd.runtime import Companion, Runtime
from whisperd.security import ApiKeys, is_loopback

__all__ = ["create_app"]

logger = logging.getLogger(LOGGER_NAME)


def create_app(runtime: Runtime | Settings | None = None, *, companions: Sequence[Companion] = ()) -> FastAPI:
    """The HTTP application serving ``runtime`` (built from settings when given settings or nothing),
    and starting and stopping ``companions`` with it."""
    if not isinstance(runtime, Runtime):
        runtime = Runtime(runtime or Settings())
    settings = runtime.settings
    keys = ApiKeys(settings.api_keys, settings.api_keys_file)
    served = runtime

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _watch_key_reloads(keys)
        if not keys.enabled and not is_loopback(settings.host):
            logger.warning(
                "API keys are off and the server listens on %s: anyone who can reach it can use it",
                settings.host,
            )
        await served.start()
        try:
            async with AsyncExitStack() as stack:
                for companion in companions:
                    await companion.start()
                    stack.push_async_callback(companion.stop)
                yield
        finally:
            await served.close()

    app = FastAPI(
        title="whisperd",
        version=__version__,
        summary="Self-hosted speech-to-text with the OpenAI Audio API.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    for router in (
        health.router,
        models.router,
        speech.router,
        jobs.router,
        realtime.router,
        metrics_route.router,
        web.router,
        docs.router,
    ):
        app.include_router(router)
    app.add_middleware(AuthMiddleware, keys=keys, secrets=runtime.client_secrets)
    # outermost: 401s get a request id, a log line and a count too
    app.add_middleware(ObserveMiddleware, metrics=lambda: served.metrics, routes=lambda: app.routes)
    _install_error_handlers(app)
    return app


def _watch_key_reloads(keys: ApiKeys) -> None:
    """SIGHUP re-reads the keys file, as daemons conventionally reload their configuration."""

    def reload() -> None:
        logger.info("SIGHUP: %d API key(s) now accepted", keys.reload())

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)


def _install_error_handlers(app: FastAPI) -> None:
    """Every failure, FastAPI's own included, through the one renderer."""

    @app.exception_handler(WhisperdError)
    async def whisperd_error(request: Request, exc: WhisperdError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
        message = f"Invalid request: {first.get('msg', 'validation failed')}"
        return error_response(InvalidRequest(message, param=".".join(loc) or None))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(NotFound(f"Unknown path: {request.method} {request.url.path}"))
        if exc.status_code == 405:
            response = error_response(
                MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}")
            )
            response.headers.update(exc.headers or {})
            return response
        error: WhisperdError = InvalidRequest(str(exc.detail)) if exc.status_code < 500 else InternalError()
        return error_response(error, status=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("internal error on %s %s", request.method, request.url.path)
        if isinstance(exc, MemoryError):
            return error_response(InternalError("The server ran out of memory for this request."))
        return error_response(InternalError())
