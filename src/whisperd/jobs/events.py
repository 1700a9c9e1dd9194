"""Job updates for the clients that follow them (``GET /v1/audio/jobs/{id}/events``), bounded.

A follower does not get a queue of every update: it gets the job's latest state and a flag that says it
changed. A slow reader then skips intermediate progress instead of piling up memory, and never misses
the end, which is the last state. At most ``max_streams`` followers at once (each holds a connection);
one more is refused with 429. Everything here runs on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from whisperd.errors import QueueFull
from whisperd.jobs.model import Job

__all__ = ["Follower", "JobEvents"]


class Follower:
    """One client following one job."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.latest: Job | None = None
        self._changed = asyncio.Event()

    def update(self, job: Job) -> None:
        self.latest = job
        self._changed.set()

    async def next(self) -> Job | None:
        """The job once it has changed (wrap in ``asyncio.timeout`` to send a heartbeat meanwhile)."""
        await self._changed.wait()
        self._changed.clear()
        return self.latest


class JobEvents:
    """Who follows which job; :meth:`publish` hands each of them the job's new state."""

    def __init__(self, max_streams: int) -> None:
        self.max_streams = max_streams
        self._followers: dict[str, set[Follower]] = {}
        self.open = 0

    @contextlib.contextmanager
    def follow(self, job_id: str) -> Iterator[Follower]:
        if self.open >= self.max_streams:
            raise QueueFull(
                f"Too many job event streams are open ({self.open}); poll GET /v1/audio/jobs/{{id}} instead, "
                "or retry shortly.",
                retry_after=5,
            )
        follower = Follower(job_id)
        self._followers.setdefault(job_id, set()).add(follower)
        self.open += 1
        try:
            yield follower
        finally:
            self.open -= 1
            followers = self._followers.get(job_id)
            if followers is not None:
                followers.discard(follower)
                if not followers:
                    del self._followers[job_id]

    def publish(self, job: Job) -> None:
        for follower in self._followers.get(job.id, ()):
            follower.update(job)
