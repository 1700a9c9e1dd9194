"""The job worker: a thin adapter that runs stored jobs through the transcription service.

Each of ``WHISPERD_JOB_SLOTS`` loops takes the oldest queued job, hands its audio to
:meth:`TranscriptionService.transcribe` at background priority (so waiting requests go first), and
stores the outcome: the whole transcript, or the error in OpenAI's shape. The pipeline is the service's;
what this module adds is what a job needs besides a transcript:

* **progress** (seconds of audio done) for ``GET`` and the event streams, saved every few seconds;
* **checkpoints**: after each chunk of long audio, the checkpoint and the segments since the last one
  are saved in one step, and a job that starts again (after a crash) hands its last checkpoint back to
  the service, which resumes at the next chunk where the engine can (short audio, or an engine without
  chunks, starts again from the beginning: the result is the same, only later);
* **the end**: result, status and webhook event saved in one step, then the audio deleted.

Inference never waits for the disk: the worker thread only queues what is to be saved, and one writer
task per job saves it in order. A job the server stops (shutdown) waits again and resumes after the
restart; a job that was running at each of :data:`MAX_RUNS` starts (a job that crashes the server) fails
instead of taking the server down forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from whisperd.engine.types import Cancelled, CancelToken, Checkpoint, Segment, Transcript
from whisperd.errors import InternalError, WhisperdError
from whisperd.jobs.events import JobEvents
from whisperd.jobs.files import JobFiles
from whisperd.jobs.model import Delivery, Job, JobStatus, WebhookState, job_object, new_id
from whisperd.jobs.store import JobStore
from whisperd.jobs.webhooks import MAX_INLINE_RESULT, event_body
from whisperd.media.formats import render
from whisperd.observability.logs import LOGGER_NAME
from whisperd.service.transcription import AudioFile, Hooks, TranscriptionService

__all__ = ["MAX_RUNS", "JobWorker", "Running"]

logger = logging.getLogger(LOGGER_NAME)

MAX_RUNS = 3
"""Starts a job gets; one that was still running at each of them fails (it may be what stops the server)."""

_PROGRESS_EVERY = 1.0
"""Seconds between two progress updates sent to followers."""
_SAVE_EVERY = 5.0
"""Seconds between two saves of a job's progress (checkpoints are saved as they come)."""
_RETRY_PAUSE = 10.0
"""Wait before a job refused for a passing reason (a model that cannot load now) goes back to the queue."""


@dataclass(slots=True)
class Running:
    """A job being transcribed in this process: its live state and the token that stops it."""

    job: Job
    cancel: CancelToken = field(default_factory=CancelToken)
    stopping: bool = False
    """The server is shutting down: the job goes back to the queue rather than failing."""


class JobWorker:
    """Runs jobs, one per loop; :attr:`running` holds those in progress."""

    def __init__(
        self,
        store: JobStore,
        files: JobFiles,
        service: TranscriptionService,
        events: JobEvents,
        *,
        retention_seconds: float,
        on_end: Callable[[Job], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.files = files
        self.service = service
        self.events = events
        self.retention_seconds = retention_seconds
        self.on_end = on_end
        self.clock = clock
        self.running: dict[str, Running] = {}
        self.stopping = False
        self._queued = asyncio.Event()

    def wake(self) -> None:
        """A job was queued: an idle loop should look now."""
        self._queued.set()

    def stop(self) -> None:
        """Stop taking jobs, and stop the running ones (they wait again, to resume after a restart)."""
        self.stopping = True
        for running in self.running.values():
            running.stopping = True
            running.cancel.cancel()
        self._queued.set()

    async def loop(self, ready: Callable[[], bool]) -> None:
        """Take and run jobs until :meth:`stop`; waits while the server is not ready (model loading)."""
        while not self.stopping:
            if not ready():
                await asyncio.sleep(0.5)
                continue
            try:
                job = await self.store.claim(self.clock())
            except Exception:
                logger.exception("taking a job from the store failed")
                job = None
                await asyncio.sleep(5)
            if job is None:
                self._queued.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(30):
                        await self._queued.wait()
                continue
            try:
                await self._run(job)
            except Exception:
                logger.exception("job %s: the worker failed", job.id)

    async def _run(self, job: Job) -> None:
        if job.runs > MAX_RUNS:
            await self._end(job, "failed", error=InternalError(
                f"The server stopped {job.runs - 1} times while transcribing this job; it is not tried again."
            ))  # fmt: skip
            return
        audio = self.files.path_of(job.id)
        if not await asyncio.to_thread(audio.exists):
            await self._end(
                job, "failed", error=InternalError("The job's audio is missing from the data folder.")
            )
            return
        running = Running(job)
        self.running[job.id] = running
        self.events.publish(job)
        logger.info("job %s: started (run %d)", job.id, job.runs)
        saver = _Saver(self, running, asyncio.get_running_loop())
        try:
            try:
                resume = await self.store.resume_point(job.id)
                hooks = Hooks(
                    on_segment=saver.segment,
                    on_progress=saver.progress,
                    on_checkpoint=saver.checkpoint,
                    resume=resume,
                )
                transcript = await self.service.transcribe(
                    AudioFile(audio),
                    job.spec.request(),
                    cancel=running.cancel,
                    priority="background",
                    hooks=hooks,
                )
            finally:
                await saver.drain()  # every checkpoint is saved before the job goes anywhere else
                self.running.pop(job.id, None)
        except Cancelled:
            if running.stopping:
                await self.store.requeue(job.id)
                logger.info(
                    "job %s: stopped by the shutdown at %.1f s of audio; it resumes after a restart",
                    job.id, running.job.progress,
                )  # fmt: skip
            return  # otherwise its client cancelled it, and the store already says so
        except WhisperdError as exc:
            if exc.retryable:
                logger.warning("job %s: %s; queued again in %g s", job.id, exc.message, _RETRY_PAUSE)
                await asyncio.sleep(_RETRY_PAUSE)
                await self.store.requeue(job.id)
                self.wake()
                return
            await self._end(running.job, "failed", error=exc)
            return
        except Exception:
            logger.exception("job %s: transcription failed", job.id)
            await self._end(running.job, "failed", error=InternalError())
            return
        await self._end(running.job, "succeeded", result=transcript)

    async def _end(
        self,
        job: Job,
        status: JobStatus,
        *,
        result: Transcript | None = None,
        error: WhisperdError | None = None,
    ) -> None:
        """Save the outcome and the webhook event in one step, then delete the audio and tell everyone."""
        now = self.clock()
        detail = None if error is None else error.detail()
        ended = replace(job, status=status, finished_at=now, error=detail)
        if result is not None:
            ended = replace(ended, duration=result.duration, progress=result.duration)
        delivery = None
        if job.spec.webhook_url is not None:
            ended.webhook = WebhookState(job.spec.webhook_url, "pending")
            event_id = new_id("evt")
            body = event_body(
                event_id,
                f"audio.job.{status}",
                now,
                job_object(ended, self.retention_seconds),
                None if result is None else _inline(result, job),
            )
            delivery = Delivery(
                event_id, job.id, job.spec.webhook_url, f"audio.job.{status}", body, next_at=now
            )
        stored = await self.store.finish(job.id, status, now, result=result, error=detail, delivery=delivery)
        await asyncio.to_thread(self.files.remove, job.id)
        if stored is None:
            return  # cancelled meanwhile: the cancellation dealt with it
        self.files.released(job.audio_bytes)
        self.events.publish(stored)
        self.on_end(stored)
        logger.info("job %s: %s", job.id, status if error is None else f"{status}: {error.message}")


def _inline(result: Transcript, job: Job) -> Any:
    """The result in the job's format for its webhook event, or None when it is too large to carry."""
    body = render(result, job.spec.response_format, job.spec.task, with_words=job.spec.word_timestamps)
    size = len((body if isinstance(body, str) else json.dumps(body)).encode())
    return body if size <= MAX_INLINE_RESULT else None


class _Saver:
    """Carries a running job's progress and checkpoints from the worker thread to the store, in order.

    The thread only appends to a queue (through the event loop); one writer task saves the queue's
    items one after the other, so inference never waits for a disk.
    """

    def __init__(self, worker: JobWorker, running: Running, loop: asyncio.AbstractEventLoop) -> None:
        self.worker = worker
        self.running = running
        self.loop = loop
        self.pending: list[Segment] = []  # worker thread only
        self.first = True  # worker thread only
        self.shown = 0.0
        self.saved = 0.0
        self.queue: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue()
        self.writer = asyncio.ensure_future(self._write())

    # --- in the worker thread ------------------------------------------------------------------------

    def segment(self, segment: Segment) -> None:
        self.pending.append(segment)

    def checkpoint(self, checkpoint: Checkpoint) -> None:
        done = [s for s in self.pending if s.id < checkpoint.segments]
        self.pending = [s for s in self.pending if s.id >= checkpoint.segments]
        resumed = self.first and checkpoint.chunks > 0
        self.first = False
        self._send(("checkpoint", (checkpoint, done, resumed)))

    def progress(self, done: float, total: float) -> None:
        now = time.monotonic()
        if now - self.shown >= _PROGRESS_EVERY or done >= total:
            self.shown = now
            self._send(("progress", (done, total)))

    def _send(self, item: tuple[str, Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closing: the process is ending
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    # --- on the event loop ---------------------------------------------------------------------------

    async def _write(self) -> None:
        store, job = self.worker.store, self.running.job
        while (item := await self.queue.get()) is not None:
            kind, value = item
            try:
                if kind == "checkpoint":
                    checkpoint, segments, resumed = value
                    if resumed:
                        job.resumed_from = checkpoint.seconds
                    job.progress = max(job.progress, checkpoint.seconds)
                    await store.save_checkpoint(job.id, checkpoint, segments, resumed=resumed)
                else:
                    done, total = value
                    job.progress, job.duration = max(job.progress, done), total
                    if time.monotonic() - self.saved >= _SAVE_EVERY:
                        self.saved = time.monotonic()
                        await store.progress(job.id, job.progress, job.duration)
            except Exception:
                logger.exception("job %s: saving its progress failed", job.id)
            self.worker.events.publish(job)

    async def drain(self) -> None:
        """Wait until everything queued so far is saved (items still in flight from the thread arrive
        before this call's sentinel: the thread has returned by now)."""
        if not self.writer.done():
            await asyncio.sleep(0)  # let call_soon_threadsafe callbacks already scheduled run first
            self.queue.put_nowait(None)
        await self.writer
