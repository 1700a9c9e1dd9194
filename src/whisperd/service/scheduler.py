"""Bounded execution of blocking work (decoding, inference) off the event loop.

``slots`` jobs run at once in a dedicated thread pool; up to ``queue_limit`` more wait for a slot; one
more is refused at once with :class:`~whisperd.errors.QueueFull` (429 + Retry-After), so a burst
neither stalls the event loop nor piles up unbounded memory. A job whose client disconnects is
cancelled: taken out of the queue if it is still waiting, or told to stop between two segments.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar

from whisperd.errors import QueueFull
from whisperd.observability.memory import release_free_memory

__all__ = ["ClientGone", "JobRunner"]

T = TypeVar("T")


class ClientGone(Exception):
    """The client went away; nothing is left to answer."""


class JobRunner:
    """A semaphore, a queue counter and a thread pool, shared by every inference request."""

    def __init__(self, slots: int, queue_limit: int) -> None:
        self.slots = max(1, slots)
        self.queue_limit = max(0, queue_limit)
        self.waiting = 0
        self.running = 0
        self._semaphore: asyncio.Semaphore | None = None
        self._executor = ThreadPoolExecutor(self.slots, thread_name_prefix="whisperd-job")
        self._mean_seconds = 5.0

    def _sem(self) -> asyncio.Semaphore:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.slots)
        return self._semaphore

    def retry_after(self) -> int:
        """Seconds until a slot is likely free, from the running mean job time."""
        return max(1, math.ceil(self._mean_seconds * (self.waiting + 1) / self.slots))

    @asynccontextmanager
    async def slot(self, disconnected: Callable[[], Awaitable[None]] | None = None) -> AsyncIterator[None]:
        """Hold one slot for the body of the ``async with``; 429 when the queue is full."""
        semaphore = self._sem()
        if semaphore.locked() and self.waiting >= self.queue_limit:
            raise QueueFull(
                f"The server is busy: {self.running} jobs running and {self.waiting} waiting. Retry later.",
                retry_after=self.retry_after(),
            )
        self.waiting += 1
        try:
            await _acquire(semaphore, disconnected)
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            semaphore.release()
            if self.running == 0 and self.waiting == 0:
                self._release_memory()

    def _release_memory(self) -> None:
        """The last job just ended: hand the burst's free memory back, in the pool, off the event loop."""
        with suppress(RuntimeError):  # the pool is already shut down: the process is ending anyway
            self._executor.submit(release_free_memory)

    async def execute(
        self,
        work: Callable[[threading.Event], T],
        disconnected: Callable[[], Awaitable[None]] | None = None,
    ) -> T:
        """Run ``work(cancel_event)`` in the pool; set the event and wait for it if the client leaves."""
        cancel = threading.Event()
        started = time.perf_counter()
        future = asyncio.get_running_loop().run_in_executor(self._executor, work, cancel)
        try:
            return await _finish(future, cancel, disconnected)
        finally:
            self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * (time.perf_counter() - started)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


async def _first(task: asyncio.Future[T], disconnected: Callable[[], Awaitable[None]]) -> bool:
    """Wait for ``task`` or the client's disconnection; True when the task finished first."""
    watcher: asyncio.Future[None] = asyncio.ensure_future(disconnected())
    pending: set[asyncio.Future[Any]] = {task, watcher}
    try:
        done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        return task in done
    finally:
        watcher.cancel()


async def _acquire(semaphore: asyncio.Semaphore, disconnected: Callable[[], Awaitable[None]] | None) -> None:
    """Take a slot, or give up waiting when the client leaves (a slot won in the race is handed back)."""
    if disconnected is None:
        await semaphore.acquire()
        return
    task = asyncio.ensure_future(semaphore.acquire())
    try:
        if await _first(task, disconnected):
            return
    except asyncio.CancelledError:
        task.cancel()
        raise
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        raise ClientGone from None
    semaphore.release()
    raise ClientGone


async def _finish(
    future: asyncio.Future[T], cancel: threading.Event, disconnected: Callable[[], Awaitable[None]] | None
) -> T:
    """Await a worker thread's result; if the client leaves, ask the work to stop and wait until it has.

    A thread cannot be killed, so the slot stays taken until the work notices the flag (between two
    segments): the bound on concurrent work holds even for abandoned requests.
    """
    try:
        if disconnected is None or await _first(future, disconnected):
            return await asyncio.shield(future)  # a cancelled caller must not cancel the bookkeeping
    except asyncio.CancelledError:
        # our caller was cancelled (a streaming client left): stop the work and keep the slot until the
        # thread has really stopped, so the bound on concurrent work still holds
        cancel.set()
        with suppress(BaseException):
            await future
        raise
    cancel.set()
    with suppress(Exception):
        await future
    raise ClientGone
