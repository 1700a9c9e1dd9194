"""The one interface between jobs and their storage, so that a shared database can replace SQLite.

One machine keeps its jobs in an embedded SQLite file (:class:`~whisperd.jobs.sqlite.SqliteJobStore`);
several machines serving the same jobs would need a shared database (the scale-out issue) with the same
methods. Every method is a coroutine: a networked store would wait on the network, and the embedded one
waits on its own thread, so the event loop never waits on a disk. Each method is one atomic change:
what a crash can interrupt is always a whole step, never half of one.
"""

from __future__ import annotations

from typing import Protocol

from whisperd.engine.types import Checkpoint, Resume, Segment, Transcript
from whisperd.jobs.model import Attempt, Delivery, DeliveryStatus, Job, JobStatus

__all__ = ["JobStore"]


class JobStore(Protocol):
    async def open(self) -> None:
        """Create or migrate the storage (schema versions only move forward)."""
        ...

    async def close(self) -> None: ...

    # --- jobs -------------------------------------------------------------------------------------

    async def create(self, job: Job, *, max_active: int) -> tuple[Job, bool]:
        """Add ``job``; or, when its owner already has a job with the same idempotency key, return that one
        (and False). Raises QuotaExceeded when ``max_active`` jobs already wait or run."""
        ...

    async def find(self, owner: str, idempotency_key: str) -> Job | None:
        """The owner's job with this idempotency key, if any."""
        ...

    async def get(self, job_id: str) -> Job | None: ...

    async def page(self, owner: str, *, after: str | None, limit: int) -> tuple[list[Job], bool]:
        """The owner's jobs, newest first, after the job ``after``; and whether more follow."""
        ...

    async def active(self) -> dict[str, int]:
        """Jobs waiting or running, with the bytes of their audio."""
        ...

    async def claim(self, now: float) -> Job | None:
        """The oldest queued job, now running (its run count raised), or None."""
        ...

    async def recover(self) -> int:
        """After a crash: jobs left running go back to the queue (their checkpoints kept). How many."""
        ...

    async def requeue(self, job_id: str) -> None:
        """A job stopped by a shutdown waits again; this run does not count."""
        ...

    async def progress(self, job_id: str, seconds: float, duration: float | None) -> None: ...

    async def save_checkpoint(
        self, job_id: str, checkpoint: Checkpoint, segments: list[Segment], *, resumed: bool
    ) -> None:
        """Keep ``checkpoint`` and the segments handed on since the last one, in one step (segments past
        the checkpoint's count are dropped: a run that started over replaces them). ``resumed``: the run
        picked up at this checkpoint."""
        ...

    async def resume_point(self, job_id: str) -> Resume | None:
        """The job's last checkpoint with its segments, if it has one."""
        ...

    async def finish(
        self,
        job_id: str,
        status: JobStatus,
        now: float,
        *,
        result: Transcript | None = None,
        error: dict[str, object] | None = None,
        delivery: Delivery | None = None,
    ) -> Job | None:
        """End a running job with its result or error and its webhook event, in one step; the checkpoint
        and its segments go. None (and nothing changed) if the job is no longer running."""
        ...

    async def cancel(self, job_id: str, now: float) -> Job | None:
        """A waiting or running job becomes cancelled; its result, checkpoint and events go."""
        ...

    async def delete(self, job_id: str) -> None:
        """The job and everything of it, gone."""
        ...

    async def result(self, job_id: str) -> Transcript | None: ...

    async def expired(self, before: float, keep: int) -> list[Job]:
        """Finished jobs that ended before ``before``, and those beyond the newest ``keep`` finished ones."""
        ...

    # --- webhook deliveries -----------------------------------------------------------------------

    async def due(self, now: float, limit: int) -> list[Delivery]:
        """Pending deliveries whose time has come, oldest first."""
        ...

    async def next_due(self) -> float | None:
        """When the next pending delivery is due, if any."""
        ...

    async def attempted(
        self, delivery_id: str, attempt: Attempt, status: DeliveryStatus, next_at: float
    ) -> None:
        """Record one delivery attempt and what follows it (delivered, failed for good, or retried at
        ``next_at``)."""
        ...
