"""Prometheus metrics: what an operator graphs and alerts on, kept in a per-runtime registry.

Request figures come from each request's :class:`~whisperd.observability.record.RequestRecord` when it
ends (any front end), so the transcription code knows nothing about metrics. Queue depth, jobs in
flight, uploads in flight and the resident models are read from the runtime only when ``/metrics`` is
scraped, so nothing is updated on the hot path that no one reads.

Each runtime owns its :class:`~prometheus_client.CollectorRegistry` (never the process-global one), so
that tests and embedders can build several in one process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from whisperd import __version__
from whisperd.observability.record import RequestRecord

__all__ = ["CONTENT_TYPE", "Gauges", "Metrics", "ModelGauge"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Whole requests run from milliseconds (health, models) to many minutes (a long recording on a CPU).
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
# Real-time factor = wall seconds / audio seconds: a GPU sits near 0.01, a small CPU near 0.3-1.
# Live latencies: a good turn completes in well under a second after the speaker stops.
_LIVE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30)
_RTF_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5)


@dataclass(frozen=True, slots=True)
class ModelGauge:
    """One resident model as the metrics see it."""

    name: str
    load_seconds: float
    leases: int
    size_bytes: int


@dataclass(frozen=True, slots=True)
class Gauges:
    """The live state a scrape reports, read from the runtime only when someone scrapes."""

    queue_depth: int
    in_flight: int
    slots: int
    ready: bool
    uploads_in_flight: int
    live_sessions: int = 0
    models: list[ModelGauge] = field(default_factory=list)
    model_loads: int = 0
    model_unloads: dict[str, int] = field(default_factory=dict)
    async_jobs: int = 0
    async_jobs_running: int = 0
    async_job_audio_bytes: int = 0
    async_job_streams: int = 0


class _StateCollector:
    """Gauges read from the live state at scrape time (absent before the runtime has started)."""

    def __init__(self, state: Callable[[], Gauges | None]) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        info = InfoMetricFamily("whisperd_build", "The whisperd version serving.")
        info.add_metric([], {"version": __version__})
        yield info
        state = self._state()
        if state is None:
            return
        yield GaugeMetricFamily(
            "whisperd_queue_depth", "Requests waiting for a job slot.", value=state.queue_depth
        )
        yield GaugeMetricFamily(
            "whisperd_jobs_in_flight", "Requests holding a job slot (decoding or transcribing).",
            value=state.in_flight,
        )  # fmt: skip
        yield GaugeMetricFamily("whisperd_job_slots", "Job slots (requests run at once).", value=state.slots)
        yield GaugeMetricFamily(
            "whisperd_uploads_in_flight", "Request bodies being received.", value=state.uploads_in_flight
        )
        yield GaugeMetricFamily(
            "whisperd_model_ready", "1 once the default model has loaded.", value=1 if state.ready else 0
        )
        yield GaugeMetricFamily(
            "whisperd_realtime_sessions", "Live transcription sessions open.", value=state.live_sessions
        )
        yield GaugeMetricFamily(
            "whisperd_async_jobs", "Asynchronous jobs waiting or running.", value=state.async_jobs
        )
        yield GaugeMetricFamily(
            "whisperd_async_jobs_running",
            "Asynchronous jobs being transcribed.",
            value=state.async_jobs_running,
        )
        yield GaugeMetricFamily(
            "whisperd_async_job_audio_bytes", "Audio kept (or arriving) for unfinished asynchronous jobs.",
            value=state.async_job_audio_bytes,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "whisperd_async_job_streams", "Job event streams open.", value=state.async_job_streams
        )
        loads = GaugeMetricFamily(
            "whisperd_model_load_seconds", "Seconds each loaded model took to load.", labels=["model"]
        )
        leases = GaugeMetricFamily(
            "whisperd_model_leases", "Requests holding each loaded model.", labels=["model"]
        )
        sizes = GaugeMetricFamily(
            "whisperd_model_size_bytes", "Weights of each loaded model on disk.", labels=["model"]
        )
        for model in state.models:
            loads.add_metric([model.name], model.load_seconds)
            leases.add_metric([model.name], model.leases)
            sizes.add_metric([model.name], model.size_bytes)
        yield loads
        yield leases
        yield sizes
        yield GaugeMetricFamily("whisperd_models_loaded", "Models loaded now.", value=len(state.models))
        yield CounterMetricFamily(
            "whisperd_model_loads", "Models loaded since start.", value=state.model_loads
        )
        unloads = CounterMetricFamily(
            "whisperd_model_unloads", "Models unloaded since start, by reason.", labels=["reason"]
        )
        for reason, count in sorted(state.model_unloads.items()):
            unloads.add_metric([reason], count)
        yield unloads


class Metrics:
    """The metrics of one app, and how a finished request updates them."""

    def __init__(self, price_per_minute: float, state: Callable[[], Gauges | None] = lambda: None) -> None:
        self.price_per_minute = price_per_minute
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "whisperd_requests",
            "Requests by route (HTTP route template, or wyoming for Wyoming utterances), response_format and status code.",
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
        self.live_turns = Counter(
            "whisperd_realtime_turns", "Turns of live sessions transcribed.", registry=self.registry
        )
        self.live_completion = Histogram(
            "whisperd_realtime_completion_seconds",
            "From the end of a live turn (commit) to its completed transcript.",
            buckets=_LIVE_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.live_first_delta = Histogram(
            "whisperd_realtime_first_delta_seconds",
            "From the start of a live turn's speech to its first partial text.",
            buckets=_LIVE_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.registry.register(_StateCollector(state))

    def observe(self, record: RequestRecord) -> None:
        """Record one finished request (or socket session)."""
        self.requests.labels(record.route, record.response_format or "", str(record.status)).inc()
        self.request_seconds.labels(record.route).observe(record.elapsed)
        audio = record.audio_seconds
        if record.status < 400 and audio is not None and audio > 0 and not record.cancelled:
            task = record.task or "transcribe"
            self.audio_seconds.labels(task).inc(audio)
            self.real_time_factor.labels(task).observe(record.elapsed / audio)
            self.cost_saved.inc(audio / 60 * self.price_per_minute)

    def turn(self, first_delta_seconds: float | None, completion_seconds: float) -> None:
        """Record one live turn (called by the realtime session when its transcript is complete)."""
        self.live_turns.inc()
        self.live_completion.observe(completion_seconds)
        if first_delta_seconds is not None:
            self.live_first_delta.observe(first_delta_seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
