"""Prometheus metrics: what an operator graphs and alerts on, kept in a per-app registry.

Request figures are recorded by :class:`MetricsMiddleware` from the ``log_fields`` dict that the
handlers already fill for the request log line (format, task, audio seconds), so the endpoints know
nothing about metrics. Queue depth, jobs in flight and model load times are read from the app state
only when ``/metrics`` is scraped, so nothing is updated on the hot path that no one reads.

Each app owns its :class:`~prometheus_client.CollectorRegistry` (never the process-global one), so
that tests and embedders can build several apps in one process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from fastapi.routing import RouteContext, iter_route_contexts
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from whisperd import __version__
from whisperd.observability.logs import log_fields

if TYPE_CHECKING:
    from whisperd.http.state import AppState

__all__ = ["CONTENT_TYPE", "Metrics", "MetricsMiddleware", "route_label"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Whole requests run from milliseconds (health, models) to many minutes (a long recording on a CPU).
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
# Real-time factor = wall seconds / audio seconds: a GPU sits near 0.01, a small CPU near 0.3-1.
_RTF_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5)


def route_label(scope: Scope, routes: Iterable[BaseRoute | RouteContext] = ()) -> str:
    """The route's path template (``/v1/models/{model_id:path}``), or ``unmatched``.

    Templates rather than raw paths keep the label set bounded: a scanner probing random URLs must
    not be able to create a time series per URL. A request answered before routing (a 401 from the
    key check) has no route in its scope yet; it is matched against ``routes`` here.
    """
    route: object = scope.get("route")
    if route is None:
        route = next((r for r in routes if r.matches(scope)[0] is not Match.NONE), None)
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


class _StateCollector:
    """Gauges read from the live app state at scrape time (absent before the lifespan has run)."""

    def __init__(self, state: Callable[[], AppState | None]) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        info = InfoMetricFamily("whisperd_build", "The whisperd version serving.")
        info.add_metric([], {"version": __version__})
        yield info
        state = self._state()
        if state is None:
            return
        yield GaugeMetricFamily(
            "whisperd_queue_depth", "Requests waiting for a job slot.", value=state.runner.waiting
        )
        yield GaugeMetricFamily(
            "whisperd_jobs_in_flight", "Requests holding a job slot (decoding or transcribing).",
            value=state.runner.running,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "whisperd_job_slots", "Job slots (requests run at once).", value=state.runner.slots
        )
        yield GaugeMetricFamily(
            "whisperd_model_ready", "1 once the default model has loaded.", value=1 if state.ready else 0
        )
        loads = GaugeMetricFamily(
            "whisperd_model_load_seconds", "Seconds each loaded model took to load.", labels=["model"]
        )
        for engine in state.registry.loaded():
            loads.add_metric([engine.name], engine.load_seconds)
        yield loads


class Metrics:
    """The metrics of one app, and how a finished request updates them."""

    def __init__(self, price_per_minute: float, state: Callable[[], AppState | None]) -> None:
        self.price_per_minute = price_per_minute
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "whisperd_requests", "HTTP requests by route, response_format and status code.",
            ["endpoint", "format", "status"], registry=self.registry,
        )  # fmt: skip
        self.request_seconds = Histogram(
            "whisperd_request_seconds", "Wall time of whole requests, upload included.",
            ["endpoint"], buckets=_REQUEST_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.audio_seconds = Counter(
            "whisperd_audio_seconds", "Seconds of audio transcribed or translated.", ["task"],
            registry=self.registry,
        )  # fmt: skip
        self.real_time_factor = Histogram(
            "whisperd_real_time_factor", "Request wall seconds per audio second (lower is faster).",
            ["task"], buckets=_RTF_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.cost_saved = Counter(
            "whisperd_openai_cost_saved_dollars",
            "What OpenAI would have charged for the audio processed (audio minutes x price per minute).",
            registry=self.registry,
        )
        self.registry.register(_StateCollector(state))

    def observe(self, endpoint: str, status: int, elapsed: float, fields: dict[str, Any]) -> None:
        """Record one finished request from its log fields (``format``, ``endpoint`` task, ``audio_s``)."""
        fmt = fields.get("format")
        self.requests.labels(endpoint, str(fmt) if fmt else "", str(status)).inc()
        self.request_seconds.labels(endpoint).observe(elapsed)
        audio = fields.get("audio_s")
        if status < 400 and isinstance(audio, float | int) and audio > 0:
            task = str(fields.get("endpoint", "transcribe"))
            self.audio_seconds.labels(task).inc(audio)
            self.real_time_factor.labels(task).observe(elapsed / audio)
            self.cost_saved.inc(audio / 60 * self.price_per_minute)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Times each HTTP request and records it once the response (a stream included) has been sent."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Callable[[], list[BaseRoute]]) -> None:
        self.app = app
        self.metrics = metrics
        self._routes = routes
        self._flat: list[RouteContext] | None = None

    def _flat_routes(self) -> list[RouteContext]:
        """Every endpoint with its full path (FastAPI nests included routers); built once, on first use."""
        if self._flat is None:
            self._flat = list(iter_route_contexts(self._routes()))
        return self._flat

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [499]  # the client left before any answer started

        async def send_with_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        except Exception:
            status[0] = 500
            raise
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe(
                route_label(scope, self._flat_routes()), status[0], elapsed, log_fields(scope)
            )
