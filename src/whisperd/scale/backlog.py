"""What the ingress knows of the cluster's queue, so that it refuses before reading a body it cannot serve.

The binding bound is Serve's: a call that finds the queue at the ingress's handle full is refused there
(``BackPressureError``), and :meth:`Backlog.refused` turns that into OpenAI's 429. After such a refusal
the queue is known to be full until some call ends (a slot frees, a waiting call moves up), so until then
:meth:`Backlog.would_refuse` answers 429 before the next upload is read, as a single process does. The
Retry-After is the single process's estimate (:func:`whisperd.service.scheduler.retry_after`), from the
running mean time of the calls this ingress sent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from whisperd.errors import QueueFull
from whisperd.service.scheduler import retry_after

__all__ = ["Backlog"]


class Backlog:
    """Calls in flight from this ingress, and whether the cluster's queue is known to be full."""

    def __init__(self, queue_limit: int) -> None:
        self.queue_limit = queue_limit
        self.in_flight = 0
        self.full = False
        self._mean_seconds = 5.0

    def would_refuse(self, slots: int) -> QueueFull | None:
        """The refusal a new call would get now (the queue is known to be full), or None."""
        return self._refusal(slots) if self.full else None

    def refused(self, slots: int) -> QueueFull:
        """Serve refused a call (its queue is full): the 429 to answer; the queue is known full now."""
        self.full = True
        return self._refusal(slots)

    def would_wait(self, slots: int) -> bool:
        """Whether a call sent now would wait for a slot (for work that must not queue)."""
        return self.full or self.in_flight >= slots

    @contextmanager
    def call(self) -> Iterator[None]:
        """Count one call for the ``with`` body; its end frees a slot somewhere, so the queue has room."""
        self.in_flight += 1
        started = time.perf_counter()
        try:
            yield
        except BaseException:
            raise
        else:  # refused and failed calls say nothing of how long work takes
            self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * (time.perf_counter() - started)
        finally:
            self.in_flight -= 1
            self.full = False

    def _refusal(self, slots: int) -> QueueFull:
        return QueueFull(
            f"The cluster is busy: every replica's slots are taken and {self.queue_limit} requests are "
            "waiting. Retry later.",
            retry_after=retry_after(self._mean_seconds, self.queue_limit, slots),
        )
