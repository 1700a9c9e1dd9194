"""``create_app(settings)``: the FastAPI application, its lifespan and its error handlers.

The default model loads in the background once the server is listening, so ``/health`` can answer 503
while it loads; nothing heavy happens at import or in ``create_app`` itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from whisperd import __version__
from whisperd.config import Settings
from whisperd.engine.catalog import ModelCatalog
from whisperd.engine.manager import ModelRegistry
from whisperd.errors import InternalError, WhisperdError, error_body, error_response
from whisperd.http.middleware.auth import ApiKeys, AuthMiddleware
from whisperd.http.routes import health, models, speech, web
from whisperd.http.routes import metrics as metrics_api
from whisperd.http.state import AppState
from whisperd.observability.logs import LOGGER_NAME, RequestContextMiddleware
from whisperd.observability.metrics import Metrics, MetricsMiddleware
from whisperd.security import is_loopback
from whisperd.service.scheduler import JobRunner
from whisperd.service.uploads import UploadArea

__all__ = ["create_app"]

logger = logging.getLogger(LOGGER_NAME)


def build_state(settings: Settings) -> AppState:
    """Everything the handlers share, built without loading any model."""
    catalog = ModelCatalog(settings.cache_dir, settings.model_dirs, settings.allow_download)
    registry = ModelRegistry.from_settings(
        catalog, settings.model, settings.aliases, settings.device, settings.compute_type,
        settings.cpu_threads, settings.num_workers, settings.warmup,
        batching=settings.batching, batch_size=settings.batch_size, chunk_seconds=settings.chunk_seconds,
    )  # fmt: skip
    slots = settings.max_concurrent_jobs or registry.placement.job_slots
    return AppState(
        settings=settings,
        registry=registry,
        runner=JobRunner(slots, settings.max_queued_jobs),
        uploads=UploadArea(settings.temp_dir),
    )


async def _load_default(state: AppState) -> None:
    try:
        engine = await asyncio.to_thread(state.registry.load_default)
    except Exception as exc:
        state.load_error = f"{type(exc).__name__}: {exc}"
        logger.error("model %r failed to load: %s", state.settings.model, state.load_error)
        return
    state.ready = True
    placement = engine.placement
    logger.info(
        "model ready: %s (%s) on %s/%s, %d threads x %d workers, loaded in %.2fs",
        engine.name, engine.entry.origin, placement.device, placement.compute_type,
        placement.cpu_threads, placement.num_workers, engine.load_seconds,
    )  # fmt: skip


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    keys = ApiKeys(settings.api_keys, settings.api_keys_file)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = build_state(settings)
        app.state.whisperd = state
        _watch_key_reloads(keys)
        if not keys.enabled and not is_loopback(settings.host):
            logger.warning(
                "API keys are off and the server listens on %s: anyone who can reach it can use it",
                settings.host,
            )
        swept = state.uploads.prepare()
        if swept:
            logger.info("removed %d upload folder(s) left by earlier crashed runs", len(swept))
        loader = asyncio.create_task(_load_default(state))
        try:
            yield
        finally:
            loader.cancel()
            state.runner.shutdown()
            state.uploads.remove()

    app = FastAPI(
        title="whisperd",
        version=__version__,
        summary="Self-hosted speech-to-text with the OpenAI Audio API.",
        lifespan=lifespan,
    )
    app.include_router(health.router)
    app.include_router(models.router)
    app.include_router(speech.router)
    app.include_router(metrics_api.router)
    app.include_router(web.router)
    app.state.metrics = Metrics(
        settings.openai_price_per_minute, lambda: getattr(app.state, "whisperd", None)
    )
    app.add_middleware(AuthMiddleware, keys=keys)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics, routes=lambda: app.routes)
    app.add_middleware(RequestContextMiddleware)  # outermost: 401s get a request id and a log line too
    _install_error_handlers(app)
    return app


def _watch_key_reloads(keys: ApiKeys) -> None:
    """SIGHUP re-reads the keys file, as daemons conventionally reload their configuration."""

    def reload() -> None:
        logger.info("SIGHUP: %d API key(s) now accepted", keys.reload())

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(WhisperdError)
    async def whisperd_error(request: Request, exc: WhisperdError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
        message = f"Invalid request: {first.get('msg', 'validation failed')}"
        return JSONResponse(
            error_body(message, "invalid_request_error", ".".join(loc) or None), status_code=400
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"Unknown path: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"Method {request.method} is not allowed on {request.url.path}"
        return JSONResponse(
            error_body(message, kind), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("internal error on %s %s", request.method, request.url.path)
        if isinstance(exc, MemoryError):
            return error_response(InternalError("The server ran out of memory for this request."))
        return error_response(InternalError())
