"""The cluster's admission at the ingress: every worker's slots, and a bounded queue, as on one process.

The ingress counts the calls it has sent to the workers and not yet seen end. While fewer than the
workers' slots plus ``WHISPERD_MAX_QUEUED_JOBS`` are in flight, a call is admitted (Serve routes it to a
replica with a free slot, or holds it until one frees); one more is refused with OpenAI's 429 and the
single process's Retry-After estimate (:func:`whisperd.service.scheduler.retry_after`, from the running
mean time of the calls). The same check, made before a body is read, refuses at once what would be
refused after the upload.

Serve's own queue bound (``max_queued_requests``) is not used for this: it counts calls in transit as
queued, so two requests arriving together at a cluster with free slots can see one of them refused (with
Serve's bare 503), which the tests saw.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from whisperd.errors import QueueFull
from whisperd.service.scheduler import retry_after

__all__ = ["Backlog"]


class Backlog:
    """Calls in flight from this ingress, admitted up to the workers' slots plus the queue."""

    def __init__(self, queue_limit: int) -> None:
        self.queue_limit = max(0, queue_limit)
        self.in_flight = 0
        self._mean_seconds = 5.0

    def waiting(self, slots: int) -> int:
        """Calls beyond the slots: waiting for one to free."""
        return max(0, self.in_flight - slots)

    def would_refuse(self, slots: int) -> QueueFull | None:
        """The refusal a new call would get now (every slot busy, the queue full), or None."""
        if self.in_flight < slots + self.queue_limit:
            return None
        return QueueFull(
            f"The cluster is busy: {min(self.in_flight, slots)} jobs running and {self.waiting(slots)} waiting. "
            "Retry later.",
            retry_after=retry_after(self._mean_seconds, self.waiting(slots), slots),
        )

    def would_wait(self, slots: int) -> bool:
        """Whether a call sent now would wait for a slot (for work that must not queue)."""
        return self.in_flight >= slots

    @contextmanager
    def call(self, slots: int) -> Iterator[None]:
        """Admit one call for the ``with`` body (QueueFull when the cluster is full) and count it."""
        refusal = self.would_refuse(slots)
        if refusal is not None:
            raise refusal
        self.in_flight += 1
        started = time.perf_counter()
        try:
            yield
        except BaseException:
            raise
        else:  # failed calls say nothing of how long work takes
            self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * (time.perf_counter() - started)
        finally:
            self.in_flight -= 1
