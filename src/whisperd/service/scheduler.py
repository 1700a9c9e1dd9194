"""Bounded execution of blocking work (decoding, inference) off the event loop, shared by every front end.

``slots`` pieces of work run at once in a dedicated thread pool; up to ``queue_limit`` more interactive
requests wait for a slot; one more is refused at once with :class:`~whisperd.errors.QueueFull` (429 +
Retry-After), so a burst neither stalls the event loop nor piles up unbounded memory.
:meth:`Scheduler.would_refuse` lets a front end refuse before it reads a request's body; the binding
check is the one in :meth:`Scheduler.run`.

Work comes in two priorities (:mod:`whisperd.service.admission`): interactive requests, and background
jobs, which wait in a queue of their own (bounded by the job worker, not by ``queue_limit``), take a
free slot only when no interactive request waits, and hold at most ``background_slots`` slots at once,
never the last one. So a queue of jobs never starves interactive requests.

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
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any, TypeVar

from whisperd.engine.types import Cancelled, CancelToken
from whisperd.errors import QueueFull
from whisperd.service.admission import Priority, SlotState, background_limit, may_start, next_to_start

__all__ = ["Scheduler", "retry_after"]

T = TypeVar("T")


def retry_after(mean_seconds: float, waiting: int, slots: int) -> int:
    """Seconds until a slot is likely free: the mean time of a piece of work times the waiting line's
    turns. The one estimate behind every Retry-After, here and at a cluster's ingress."""
    return max(1, math.ceil(mean_seconds * (waiting + 1) / max(1, slots)))


class Scheduler:
    """Slots, two queues and a thread pool, shared by all the work of one process."""

    def __init__(
        self,
        slots: int,
        queue_limit: int,
        *,
        background_slots: int = 1,
        on_idle: Callable[[], object] | None = None,
    ) -> None:
        self.slots = max(1, slots)
        self.queue_limit = max(0, queue_limit)
        self.background_limit = background_limit(self.slots, background_slots)
        self.running = 0
        self.background_running = 0
        self._queues: dict[Priority, deque[asyncio.Future[None]]] = {
            "interactive": deque(),
            "background": deque(),
        }
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor = ThreadPoolExecutor(self.slots, thread_name_prefix="whisperd-job")
        self._on_idle = on_idle
        self._mean_seconds = 5.0

    @property
    def waiting(self) -> int:
        """Interactive requests waiting for a slot (the queue that ``queue_limit`` bounds)."""
        return len(self._queues["interactive"])

    @property
    def background_waiting(self) -> int:
        """Background jobs waiting for a slot."""
        return len(self._queues["background"])

    def _state(self) -> SlotState:
        return SlotState(
            free=self.slots - self.running,
            background_running=self.background_running,
            background_limit=self.background_limit,
            interactive_waiting=self.waiting,
            background_waiting=self.background_waiting,
        )

    def retry_after(self) -> int:
        """Seconds until a slot is likely free, from the running mean time of a piece of interactive work."""
        return retry_after(self._mean_seconds, self.waiting, self.slots)

    def would_refuse(self) -> QueueFull | None:
        """The refusal a new interactive request would get now (every slot busy, the queue full), or None.

        Not binding (the state can change before the request gets to :meth:`run`); its point is to answer
        429 before reading an upload that would be refused anyway.
        """
        if self.running >= self.slots and self.waiting >= self.queue_limit:
            return QueueFull(
                f"The server is busy: {self.running} jobs running and {self.waiting} waiting. Retry later.",
                retry_after=self.retry_after(),
            )
        return None

    async def run(
        self,
        work: Callable[[CancelToken], T],
        cancel: CancelToken,
        *,
        wait: bool = True,
        priority: Priority = "interactive",
    ) -> T:
        """Run ``work(cancel)`` in a slot: wait in the queue (429 when it is full), then in a worker thread.

        Raises :class:`Cancelled` when ``cancel`` fires while waiting. If the caller is cancelled while the
        work runs, the token is set and the slot stays taken until the thread has returned. With
        ``wait=False`` the work never queues: no free slot (or others already waiting) is a QueueFull.
        Background work waits in its own queue, which ``queue_limit`` does not bound.
        """
        self._loop = asyncio.get_running_loop()
        free_now = not self._queues[priority] and may_start(priority, self._state())
        if not wait and not free_now:
            raise QueueFull("No worker slot is free right now.", retry_after=1)
        if priority == "interactive" and not free_now and self.waiting >= self.queue_limit:
            raise self.would_refuse() or QueueFull("The server is busy. Retry later.", retry_after=1)
        if free_now:
            if cancel.cancelled:
                raise Cancelled
            self._take(priority)
        else:
            await self._wait_for_slot(priority, cancel)
        started = time.perf_counter()
        try:
            future = self._executor.submit(work, cancel)
        except BaseException:
            self._release(priority, started)
            raise
        future.add_done_callback(lambda _: self._release_from_thread(priority, started))
        waiter = asyncio.wrap_future(future)
        try:
            return await asyncio.shield(waiter)
        except asyncio.CancelledError:
            cancel.cancel()  # our caller is gone: the work stops at its next check; its slot follows
            waiter.add_done_callback(_consume)
            raise

    def _take(self, priority: Priority) -> None:
        self.running += 1
        if priority == "background":
            self.background_running += 1

    async def _wait_for_slot(self, priority: Priority, cancel: CancelToken) -> None:
        """Queue until :meth:`_dispatch` hands over a slot, or give up when the token fires (a slot won in
        the race is handed back)."""
        if cancel.cancelled:
            raise Cancelled
        loop = asyncio.get_running_loop()
        granted: asyncio.Future[None] = loop.create_future()
        queue = self._queues[priority]
        queue.append(granted)

        def abandon() -> None:
            if not granted.done():
                granted.cancel()

        def fire() -> None:
            with suppress(RuntimeError):  # the loop is closed: the process is ending
                loop.call_soon_threadsafe(abandon)

        forget = cancel.on_cancel(fire)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release(priority, None)  # the slot came with the cancellation: give it back
            elif granted in queue:
                queue.remove(granted)
                self._dispatch()  # a background waiter may have been held back by this one
            if cancel.cancelled:
                raise Cancelled from None
            raise
        finally:
            forget()
        if cancel.cancelled:
            self._release(priority, None)
            raise Cancelled

    def _dispatch(self) -> None:
        """Hand free slots to waiters: interactive ones first, then background ones within their share."""
        while (priority := next_to_start(self._state())) is not None:
            granted = self._queues[priority].popleft()
            if granted.done():  # abandoned by a token whose waiter has not woken up yet
                continue
            self._take(priority)
            granted.set_result(None)

    def _release_from_thread(self, priority: Priority, started: float) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            self._release(priority, started)
            return
        with suppress(RuntimeError):  # the loop stopped meanwhile: the process is ending
            loop.call_soon_threadsafe(self._release, priority, started)

    def _release(self, priority: Priority, started: float | None) -> None:
        if started is not None and priority == "interactive":
            # jobs take minutes: they would make every Retry-After absurd
            self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * (time.perf_counter() - started)
        self.running -= 1
        if priority == "background":
            self.background_running -= 1
        self._dispatch()
        if self.running == 0 and not self.waiting and not self.background_waiting and self._on_idle:
            with suppress(RuntimeError):  # the pool is shut down: the process is ending anyway
                self._executor.submit(self._on_idle)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _consume(future: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned result, so that its exception is not reported as never retrieved."""
    if not future.cancelled():
        future.exception()
