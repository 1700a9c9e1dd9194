"""Bounded execution of blocking work (decoding, inference) off the event loop, shared by every front end.

``slots`` pieces of work run at once in a dedicated thread pool; up to ``queue_limit`` more wait for a
slot; one more is refused at once with :class:`~whisperd.errors.QueueFull` (429 + Retry-After), so a
burst neither stalls the event loop nor piles up unbounded memory. :meth:`Scheduler.would_refuse` lets a
front end refuse before it reads a request's body; the binding check is the one in :meth:`Scheduler.run`.

A slot is released when the work has *returned*, never earlier: the release is tied to the worker
thread's end, not to the caller's, so a caller that is cancelled (a streaming client that left, a
socket that closed) cannot free a slot while its thread still decodes, and cannot leak one either. A
caller's :class:`~whisperd.engine.types.CancelToken` takes the work out of the queue while it waits,
and tells the running work to stop between two segments.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any, TypeVar

from whisperd.engine.types import Cancelled, CancelToken
from whisperd.errors import QueueFull

__all__ = ["Scheduler", "retry_after"]

T = TypeVar("T")


def retry_after(mean_seconds: float, waiting: int, slots: int) -> int:
    """Seconds until a slot is likely free: the mean time of a piece of work times the waiting line's
    turns. The one estimate behind every Retry-After, here and at a cluster's ingress."""
    return max(1, math.ceil(mean_seconds * (waiting + 1) / max(1, slots)))


class Scheduler:
    """A semaphore, a queue counter and a thread pool, shared by all the work of one process."""

    def __init__(self, slots: int, queue_limit: int, *, on_idle: Callable[[], object] | None = None) -> None:
        self.slots = max(1, slots)
        self.queue_limit = max(0, queue_limit)
        self.waiting = 0
        self.running = 0
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor = ThreadPoolExecutor(self.slots, thread_name_prefix="whisperd-job")
        self._on_idle = on_idle
        self._mean_seconds = 5.0

    def _sem(self) -> asyncio.Semaphore:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.slots)
            self._loop = asyncio.get_running_loop()
        return self._semaphore

    def retry_after(self) -> int:
        """Seconds until a slot is likely free, from the running mean time of a piece of work."""
        return retry_after(self._mean_seconds, self.waiting, self.slots)

    def would_refuse(self) -> QueueFull | None:
        """The refusal a new request would get now (every slot busy, the queue full), or None.

        Not binding (the state can change before the request gets to :meth:`run`); its point is to answer
        429 before reading an upload that would be refused anyway.
        """
        if self.running >= self.slots and self.waiting >= self.queue_limit:
            return QueueFull(
                f"The server is busy: {self.running} jobs running and {self.waiting} waiting. Retry later.",
                retry_after=self.retry_after(),
            )
        return None

    async def run(self, work: Callable[[CancelToken], T], cancel: CancelToken, *, wait: bool = True) -> T:
        """Run ``work(cancel)`` in a slot: wait in the queue (429 when it is full), then in a worker thread.

        Raises :class:`Cancelled` when ``cancel`` fires while waiting. If the caller is cancelled while the
        work runs, the token is set and the slot stays taken until the thread has returned. With
        ``wait=False`` the work never queues: no free slot (or others already waiting) is a QueueFull.
        """
        semaphore = self._sem()
        if not wait and (semaphore.locked() or self.waiting > 0):
            raise QueueFull("No worker slot is free right now.", retry_after=1)
        if semaphore.locked() and self.waiting >= self.queue_limit:
            refusal = self.would_refuse() or QueueFull("The server is busy. Retry later.", retry_after=1)
            raise refusal
        self.waiting += 1
        try:
            await _acquire(semaphore, cancel)
        finally:
            self.waiting -= 1
        self.running += 1
        started = time.perf_counter()
        try:
            future = self._executor.submit(work, cancel)
        except BaseException:
            self._release(started)
            raise
        future.add_done_callback(lambda _: self._release_from_thread(started))
        waiter = asyncio.wrap_future(future)
        try:
            return await asyncio.shield(waiter)
        except asyncio.CancelledError:
            cancel.cancel()  # our caller is gone: the work stops at its next check; its slot follows
            waiter.add_done_callback(_consume)
            raise

    def _release_from_thread(self, started: float) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            self._release(started)
            return
        with suppress(RuntimeError):  # the loop stopped meanwhile: the process is ending
            loop.call_soon_threadsafe(self._release, started)

    def _release(self, started: float) -> None:
        self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * (time.perf_counter() - started)
        self.running -= 1
        if self._semaphore is not None:
            self._semaphore.release()
        if self.running == 0 and self.waiting == 0 and self._on_idle is not None:
            with suppress(RuntimeError):  # the pool is shut down: the process is ending anyway
                self._executor.submit(self._on_idle)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _consume(future: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned result, so that its exception is not reported as never retrieved."""
    if not future.cancelled():
        future.exception()


async def _acquire(semaphore: asyncio.Semaphore, cancel: CancelToken) -> None:
    """Take a slot, or give up waiting when the token fires (a slot won in the race is handed back)."""
    if cancel.cancelled:
        raise Cancelled
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()

    def settle() -> None:
        if not gone.done():
            gone.set_result(None)

    def fire() -> None:
        with suppress(RuntimeError):
            loop.call_soon_threadsafe(settle)

    forget = cancel.on_cancel(fire)
    task = asyncio.ensure_future(semaphore.acquire())
    pending: set[asyncio.Future[Any]] = {task, gone}
    try:
        await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        with suppress(asyncio.CancelledError):
            if await task:
                semaphore.release()
        raise
    finally:
        forget()
        gone.cancel()
    if task.done() and not task.cancelled() and not cancel.cancelled:
        return
    task.cancel()
    with suppress(asyncio.CancelledError):
        if await task:
            semaphore.release()
    raise Cancelled
