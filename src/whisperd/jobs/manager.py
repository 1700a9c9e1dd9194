"""Asynchronous jobs: what a front end calls to submit, follow, fetch and cancel them; and their lifetime.

:class:`Jobs` owns the data folder (:mod:`~whisperd.jobs.files`), the store (SQLite by default), the
worker loops, the webhook sender and the retention sweep. It is framework-free: the HTTP routes map
requests to it, and so could any other front end. Every job belongs to an owner (an API key's identity,
or "" when keys are off): an owner sees only its own jobs, and another owner's job is simply not found.

At start-up, jobs that were running when the server stopped go back to the queue (they resume at their
last checkpoint), audio that belongs to no job is deleted, and the webhook events still pending are
sent on their schedule. At shutdown, running jobs stop between two segments and wait for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from whisperd.config import JobPolicy, WebhookPolicy
from whisperd.engine.types import Transcript
from whisperd.errors import (
    InternalError,
    InvalidParameter,
    JobNotFinished,
    JobNotFound,
    QuotaExceeded,
    WhisperdError,
)
from whisperd.jobs.delivery import WebhookSender
from whisperd.jobs.events import Follower, JobEvents
from whisperd.jobs.files import JobFiles, UploadBudget
from whisperd.jobs.model import Job, JobSpec, WebhookState, job_object, new_id
from whisperd.jobs.schema import MIGRATIONS, SchemaTooNew, version_of_readonly
from whisperd.jobs.sqlite import SqliteJobStore
from whisperd.jobs.store import JobStore
from whisperd.jobs.webhooks import Targets, check_target
from whisperd.jobs.worker import JobWorker
from whisperd.observability.logs import LOGGER_NAME
from whisperd.service.transcription import TranscriptionService

__all__ = ["Jobs"]

logger = logging.getLogger(LOGGER_NAME)

_SWEEP_SECONDS = 60.0
_STOP_SECONDS = 30.0
"""How long a shutdown waits for running jobs to stop between two segments."""


class Jobs:
    """The jobs of one server: submit, follow, fetch, cancel; the worker, the webhooks, the sweep."""

    def __init__(
        self,
        policy: JobPolicy,
        webhooks: WebhookPolicy,
        service: TranscriptionService,
        *,
        store: JobStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy
        self.webhooks = webhooks
        self.targets = Targets.parse(webhooks.allow)
        self.files = JobFiles(policy.data_dir, policy.max_stored_bytes)
        self.store = store or SqliteJobStore(policy.data_dir / "jobs.sqlite3")
        self.events = JobEvents(policy.max_event_streams)
        self.sender = WebhookSender(self.store, webhooks, clock=clock)
        self.worker = JobWorker(
            self.store,
            self.files,
            service,
            self.events,
            retention_seconds=policy.retention_seconds,
            on_end=self._ended,
            clock=clock,
        )
        self.service = service
        self.clock = clock
        self.active = 0
        """Jobs waiting or running (kept on the event loop for a refusal before the body; the binding
        check is the store's)."""
        self._tasks: list[asyncio.Task[None]] = []
        self._loops: list[asyncio.Task[None]] = []

    # --- lifetime -----------------------------------------------------------------------------------

    def preflight(self) -> None:
        """Check, before a server starts listening, that it can serve jobs from its data folder (no other
        server uses it, its database is not from a newer whisperd); raises DataDirInUse, SchemaTooNew or
        OSError. Blocking."""
        self.files.prepare()
        try:
            database = self.policy.data_dir / "jobs.sqlite3"
            if database.exists():
                db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
                try:
                    found = version_of_readonly(db)
                finally:
                    db.close()
                if found > len(MIGRATIONS):
                    raise SchemaTooNew(
                        f"the job database {database} is at schema version {found}, newer than this whisperd "
                        f"knows ({len(MIGRATIONS)}): upgrade whisperd, or point WHISPERD_DATA_DIR elsewhere"
                    )
        finally:
            self.files.close()

    async def start(self, ready: Callable[[], bool]) -> None:
        """Open the folder and the store, recover from a crash, start the worker, sender and sweep."""
        await asyncio.to_thread(self.files.prepare)
        try:
            await self.store.open()
        except BaseException:
            self.files.close()
            raise
        recovered = await self.store.recover()
        active = await self.store.active()
        missing = await asyncio.to_thread(self.files.adopt, active)
        self.active = len(active)
        if recovered:
            logger.info("%d job(s) were running when the server stopped: they resume now", recovered)
        for job_id in missing:
            logger.error("job %s: its audio is missing from %s", job_id, self.files.audio)
        self._loops = [asyncio.create_task(self.worker.loop(ready)) for _ in range(self.policy.slots)]
        self._tasks = [asyncio.create_task(self.sender.run()), asyncio.create_task(self._sweep_loop())]

    async def close(self) -> None:
        """Stop the running jobs (they resume at the next start) and the background tasks; close the store."""
        self.worker.stop()
        if self._loops:
            _, pending = await asyncio.wait(self._loops, timeout=_STOP_SECONDS)
            for task in pending:
                task.cancel()
            for task in self._loops:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops, self._tasks = [], []
        await self.store.close()
        self.files.close()

    # --- submission ---------------------------------------------------------------------------------

    def refusal(self, declared_bytes: int | None) -> WhisperdError | None:
        """Why a new job would be refused now (too many jobs, too much audio), known before its body."""
        if self.active >= self.policy.max_queued:
            return QuotaExceeded(
                f"Too many jobs: {self.active} are waiting or running, the most this server takes "
                "(WHISPERD_JOB_MAX_QUEUED). Retry when some have finished.",
                retry_after=60,
            )
        return self.files.refusal(declared_bytes)

    def budget(self) -> contextlib.AbstractContextManager[UploadBudget]:
        """The quota's count of one upload while it arrives."""
        return self.files.budget()

    async def webhook_target(self, url: str) -> str:
        """``url`` if this server may send a webhook there; InvalidParameter saying why not otherwise."""
        if self.webhooks.secret is None:
            raise InvalidParameter(
                "This server sends no webhooks: its operator has set no WHISPERD_WEBHOOK_SECRET.",
                param="webhook_url",
            )
        return await check_target(url, self.targets)

    async def existing(self, owner: str, idempotency_key: str) -> Job | None:
        """The owner's job submitted with this idempotency key, if any."""
        return await self.store.find(owner, idempotency_key)

    async def submit(
        self,
        owner: str,
        spec: JobSpec,
        upload: Path,
        size: int,
        *,
        duration: float | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[Job, bool]:
        """Keep ``upload`` as a new job's audio and queue the job; or, for an idempotency key already
        used by the owner, drop the upload and return the first job (and False)."""
        job = Job(
            id=new_id("job"),
            owner=owner,
            spec=spec,
            status="queued",
            created_at=self.clock(),
            audio_bytes=size,
            duration=duration,
            idempotency_key=idempotency_key,
            webhook=None if spec.webhook_url is None else WebhookState(spec.webhook_url),
        )
        await asyncio.to_thread(self.files.keep, upload, job.id)
        try:
            stored, created = await self.store.create(job, max_active=self.policy.max_queued)
        except BaseException:
            await asyncio.to_thread(self.files.remove, job.id)
            raise
        if not created:
            await asyncio.to_thread(self.files.remove, job.id)
            return stored, False
        self.files.kept(size)
        self.active += 1
        self.worker.wake()
        logger.info("job %s: queued (%d bytes, %s)", job.id, size, spec.task)
        return stored, True

    def _ended(self, job: Job) -> None:
        """The worker ended a job (succeeded or failed): one less active; its webhook event is due now."""
        self.active = max(0, self.active - 1)
        if job.spec.webhook_url is not None:
            self.sender.wake()

    # --- reading ------------------------------------------------------------------------------------

    async def get(self, owner: str, job_id: str) -> Job:
        job = await self.store.get(job_id)
        if job is None or job.owner != owner:
            raise JobNotFound(job_id)
        return self._live(job)

    async def page(self, owner: str, *, after: str | None, limit: int) -> tuple[list[Job], bool]:
        jobs, more = await self.store.page(owner, after=after, limit=limit)
        return [self._live(job) for job in jobs], more

    def _live(self, job: Job) -> Job:
        """A running job with the progress the worker has now (the store is a few seconds behind)."""
        running = self.worker.running.get(job.id)
        if running is not None and job.status == "running":
            live = running.job
            job.progress, job.duration, job.resumed_from = live.progress, live.duration, live.resumed_from
        return job

    async def result(self, owner: str, job_id: str) -> tuple[Job, Transcript]:
        """A succeeded job and its transcript; JobNotFinished for any other state."""
        job = await self.get(owner, job_id)
        if job.status != "succeeded":
            raise JobNotFinished(f"Job {job_id} has no result: it is {job.status}.", param="job_id")
        transcript = await self.store.result(job_id)
        if transcript is None:
            raise InternalError("The job's result is missing from the store.")
        return job, transcript

    @contextlib.contextmanager
    def follow(self, job_id: str) -> Iterator[Follower]:
        """Updates of one job (its owner checked by the caller with :meth:`get` first)."""
        with self.events.follow(job_id) as follower:
            yield follower

    def gauges(self) -> dict[str, int]:
        """What ``/metrics`` reports of the jobs (the names of :class:`~whisperd.observability.metrics.Gauges`)."""
        return {
            "async_jobs": self.active,
            "async_jobs_running": len(self.worker.running),
            "async_job_audio_bytes": self.files.stored + self.files.arriving,
            "async_job_streams": self.events.open,
        }

    def object(self, job: Job) -> dict[str, Any]:
        return job_object(job, self.policy.retention_seconds)

    # --- cancellation and deletion ------------------------------------------------------------------

    async def cancel(self, owner: str, job_id: str) -> Job:
        """``DELETE``: a waiting or running job is cancelled (its audio, partial result and pending events
        deleted; the record stays until the retention ends, saying "cancelled"); a finished job is
        deleted whole. Returns the job as it was left."""
        job = await self.get(owner, job_id)
        if not job.finished:
            cancelled = await self.store.cancel(job_id, self.clock())
            if cancelled is not None:
                running = self.worker.running.get(job_id)
                if running is not None:
                    running.cancel.cancel()
                await asyncio.to_thread(self.files.remove, job_id)
                self.files.released(job.audio_bytes)
                self.active = max(0, self.active - 1)
                self.events.publish(cancelled)
                logger.info("job %s: cancelled by its client", job_id)
                return cancelled
            job = await self.get(owner, job_id)  # it ended meanwhile
        await asyncio.to_thread(self.files.remove, job_id)
        await self.store.delete(job_id)
        logger.info("job %s: deleted by its client", job_id)
        return job

    # --- retention ----------------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Delete finished jobs past their retention, and the oldest beyond ``WHISPERD_JOB_MAX_KEPT``."""
        expired = await self.store.expired(self.clock() - self.policy.retention_seconds, self.policy.max_kept)
        for job in expired:
            await asyncio.to_thread(self.files.remove, job.id)
            await self.store.delete(job.id)
        if expired:
            logger.info("swept %d finished job(s) past their retention", len(expired))
        return len(expired)

    async def _sweep_loop(self) -> None:
        interval = max(0.5, min(_SWEEP_SECONDS, self.policy.retention_seconds / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
                active = await self.store.active()
                self.active = len(active)
            except Exception:
                logger.exception("sweeping finished jobs failed")
