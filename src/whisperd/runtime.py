"""The runtime: everything one whisperd process shares, built from its settings, under every front end.

One :class:`Runtime` owns the model manager (leased models, loaded on first use, unloaded when idle),
the scheduler (bounded worker slots and queue), the upload area and the metrics, and offers the
transcription service built on them, and the asynchronous jobs that run through that service. It imports no web framework: the HTTP app is handed a runtime, and
so is any other front end served by the same process, so that one copy of each model serves them all.
``start()`` prepares the upload area, opens the jobs' data folder (resuming the jobs a crash stopped),
begins loading the default model and the idle-model sweep; ``close()`` stops them (running jobs wait for
the next start), closes every engine and removes the process's upload folder.

What else one process serves over its runtime (the Wyoming listener, the LAN announcement) is a
:class:`Companion`: started once the runtime has started, stopped before it closes, by whoever hosts
the runtime (the HTTP app's lifespan).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Protocol

from whisperd.config import Settings
from whisperd.diarization.voices import Embedder
from whisperd.engine.catalog import ModelCatalog, ModelUnavailable
from whisperd.engine.eviction import Limits
from whisperd.engine.manager import ModelManager, ModelState
from whisperd.engine.tuning import Placement, place
from whisperd.engine.types import SpeechScorer
from whisperd.errors import ModelNotFound, NotReady, WhisperdError
from whisperd.jobs.manager import Jobs
from whisperd.observability.logs import LOGGER_NAME
from whisperd.observability.memory import release_free_memory
from whisperd.observability.metrics import Gauges, Metrics, ModelGauge
from whisperd.security import ClientSecrets
from whisperd.service.diarizing import Diarizer, SpeakerModel
from whisperd.service.drafts import DraftBudget
from whisperd.service.scheduler import Scheduler
from whisperd.service.sessions import SessionLimit
from whisperd.service.transcription import Transcription, TranscriptionService
from whisperd.service.uploads import UploadArea

__all__ = ["Companion", "Runtime", "placement_for"]

logger = logging.getLogger(LOGGER_NAME)

_SWEEP_SECONDS = 30.0
"""How often idle models are checked against their TTL (the TTL is honoured to within this)."""


class Companion(Protocol):
    """Something served beside the HTTP API by the same process, over its runtime."""

    async def start(self) -> None:
        """Begin serving; the runtime has started."""
        ...

    async def stop(self) -> None:
        """Stop serving and release what it holds; the runtime closes next."""
        ...


def placement_for(settings: Settings) -> Placement:
    """Where and how models run, from the settings and the machine (asks CTranslate2 for GPUs)."""
    from whisperd.engine.faster_whisper.adapter import cuda_device_count

    return place(
        settings.device, settings.compute_type, cuda_device_count(), os.cpu_count() or 1,
        settings.cpu_threads, settings.num_workers,
        batch_size=settings.batch_size, batching=settings.batching, chunk_seconds=settings.chunk_seconds,
        sections=settings.longform_sections,
    )  # fmt: skip


class Runtime:
    """Models, scheduler, uploads and metrics of one process, and the service over them."""

    def __init__(
        self, settings: Settings, *, placement: Placement | None = None, serve_jobs: bool = True
    ) -> None:
        """``serve_jobs=False``: no job store or worker, whatever the settings say. A Ray cluster's
        ingress and replicas pass it: jobs need one process's store over its own models, and the
        replicas would share one data folder."""
        self.settings = settings
        self.placement = placement or placement_for(settings)
        self.catalog = ModelCatalog(settings.cache_dir, settings.model_dirs)
        self.models = ModelManager(
            self.catalog,
            self.placement,
            default_model=settings.model,
            aliases=settings.aliases,
            limits=Limits(
                ttl_seconds=settings.model_ttl or None,
                max_loaded=settings.max_loaded_models,
                memory_bytes=settings.model_memory_mb * 1024 * 1024,
            ),
            pin_default=settings.pin_default_model,
            warmup=settings.warmup,
            load_concurrency=settings.model_load_concurrency,
        )
        self.scheduler = Scheduler(
            settings.max_concurrent_jobs or self.placement.job_slots,
            settings.max_queued_jobs,
            background_slots=settings.job_slots,
            on_idle=release_free_memory,
        )
        self.uploads = UploadArea(settings.temp_dir, max_in_flight=settings.max_uploads_in_flight)
        self.live = SessionLimit(settings.max_realtime_sessions)
        self.drafts = DraftBudget()
        """Every live stream's drafts (realtime turns, Wyoming utterances) share this one budget."""
        self.client_secrets = ClientSecrets()
        self.metrics = Metrics(settings.openai_price_per_minute, self.gauges)
        self.speakers = SpeakerModel(settings.speaker_weights(), load=_load_speaker_model)
        service = TranscriptionService(
            settings.decoding(),
            self.models,
            self.scheduler,
            Diarizer(self.speakers, max_decode_seconds=settings.max_decode_seconds),
        )
        self.service: Transcription = service
        self.jobs = (
            Jobs(settings.job_policy(), settings.webhook_policy(), service)
            if settings.jobs and serve_jobs
            else None
        )
        self.started = time.monotonic()
        self.ready = False
        self.load_error: str | None = None
        self._running = False
        self._tasks: list[asyncio.Task[None]] = []
        self._loading: asyncio.Task[None] | None = None

    @property
    def uptime(self) -> float:
        return time.monotonic() - self.started

    async def start(self, *, load_default: bool = True) -> None:
        """Prepare the upload area, then load the default model and sweep idle models in the background."""
        if self._running:
            return
        self._running = True
        swept = self.uploads.prepare()
        if swept:
            logger.info("removed %d upload folder(s) left by earlier crashed runs", len(swept))
        if self.jobs is not None:
            await self.jobs.start(ready=lambda: self.ready)
        if load_default:
            self._loading = asyncio.create_task(self._load_default())
            self._tasks.append(self._loading)
        if self.models.limits.ttl_seconds is not None or self.models.limits.max_loaded:
            self._tasks.append(asyncio.create_task(self._sweep_idle_models()))

    async def close(self) -> None:
        """Stop the background work, finish the work in flight, close every model, drop the upload folder."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.jobs is not None:
            await self.jobs.close()
        await asyncio.to_thread(self.scheduler.shutdown)
        await asyncio.to_thread(self.models.close)
        self.uploads.remove()
        self._running = False

    async def loaded(self) -> None:
        """Return once the default model has loaded or failed to (``ready`` or ``load_error`` says which):
        for a host that must not take work before (a cluster's replica)."""
        if self._loading is not None:
            await asyncio.shield(self._loading)

    def readiness(self) -> NotReady | None:
        """Why nothing can be transcribed yet (the default model loads, or failed to), or None."""
        if self.ready:
            return None
        if self.load_error:
            return NotReady(f"The default model failed to load: {self.load_error}", retry_after=30)
        return NotReady("The model is still loading. Retry shortly.", retry_after=2)

    def refusal(self) -> WhisperdError | None:
        """Why a new transcription would be refused right now (not ready, queue full), or None.

        Known before any body is read, so a front end answers at once instead of receiving an upload
        that would be refused anyway.
        """
        return self.readiness() or self.scheduler.would_refuse()

    def resident(self) -> list[ModelState]:
        """The models loaded now (a cluster's runtime answers for all its replicas)."""
        return self.models.states()

    async def load_model(self, name: str) -> ModelState:
        """Load ``name`` now, for the operator; an unknown name is a ModelNotFound."""
        try:
            return await self.models.load(name)
        except ModelUnavailable as exc:
            raise ModelNotFound(name, exc.reason) from None

    async def unload_model(self, name: str) -> str:
        """Unload ``name`` now, for the operator; returns the model's name (unloaded, or not loaded)."""
        try:
            unloaded = await self.models.unload(name)
            if unloaded is None:
                self.catalog.find(self.models.target(name))  # neither loaded nor present: 404
        except ModelUnavailable as exc:
            raise ModelNotFound(name, exc.reason) from None
        return unloaded or self.models.target(name)

    async def exposition(self) -> bytes:
        """The Prometheus text of ``/metrics`` (a cluster's runtime adds every replica's)."""
        return self.metrics.render()

    def gauges(self) -> Gauges | None:
        """What ``/metrics`` reports about the live state."""
        return Gauges(
            queue_depth=self.scheduler.waiting,
            in_flight=self.scheduler.running,
            slots=self.scheduler.slots,
            ready=self.ready,
            uploads_in_flight=self.uploads.in_flight,
            live_sessions=self.live.open,
            models=[ModelGauge(s.name, s.load_seconds, s.leases, s.size_bytes) for s in self.models.states()],
            model_loads=self.models.counters.loads,
            model_unloads=dict(self.models.counters.unloads),
            **(self.jobs.gauges() if self.jobs is not None else {}),
        )

    def speech_scorer(self) -> SpeechScorer:
        """A fresh streaming VAD (the engine's Silero scorer) for a live session."""
        from whisperd.engine.faster_whisper.vad import SpeechProbabilities

        return SpeechProbabilities()

    async def _load_default(self) -> None:
        try:
            engine = await self.models.load_default()
        except Exception as exc:
            self.load_error = f"{type(exc).__name__}: {exc}"
            logger.error("model %r failed to load: %s", self.settings.model, self.load_error)
            return
        self.ready = True
        placement = self.placement
        logger.info(
            "model ready: %s on %s/%s, %d threads x %d workers, loaded in %.2fs",
            engine.name, placement.device, placement.compute_type,
            placement.cpu_threads, placement.num_workers, engine.load_seconds,
        )  # fmt: skip

    async def _sweep_idle_models(self) -> None:
        ttl = self.models.limits.ttl_seconds
        interval = min(_SWEEP_SECONDS, ttl / 4) if ttl else _SWEEP_SECONDS
        while True:
            await asyncio.sleep(max(0.5, interval))
            try:
                await self.models.evict_expired()
            except Exception:
                logger.exception("unloading idle models failed")


def _load_speaker_model(weights: Path) -> Embedder:
    """CAM++ on onnxruntime, one thread per call (a second thread doubles the CPU for a third less wall time)."""
    from whisperd.diarization.campplus import SpeakerEmbedder  # onnx and onnxruntime: loaded on first use

    embedder = SpeakerEmbedder(weights, threads=1)
    release_free_memory()  # building the graph leaves heap that glibc keeps until trimmed
    return embedder
