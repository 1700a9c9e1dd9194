"""JobRunner's bookkeeping with stand-in work (pure logic: slots, queue, cancellation)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from whisperd.errors import QueueFull
from whisperd.service.scheduler import ClientGone, JobRunner


def _blocking(release: threading.Event, stopped: threading.Event) -> Callable[[threading.Event], str]:
    def work(cancel: threading.Event) -> str:
        while not release.is_set():
            if cancel.wait(0.01):
                stopped.set()
                raise RuntimeError("cancelled")
        return "done"

    return work


def test_queue_limit_and_retry_after() -> None:
    async def scenario() -> None:
        runner = JobRunner(slots=1, queue_limit=1)
        release, stopped = threading.Event(), threading.Event()

        async def job() -> str:
            async with runner.slot():
                return await runner.execute(_blocking(release, stopped))

        first = asyncio.ensure_future(job())
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(job())
        await asyncio.sleep(0.05)
        assert (runner.running, runner.waiting) == (1, 1)
        with pytest.raises(QueueFull) as caught:
            async with runner.slot():
                pass
        assert caught.value.retry_after is not None
        assert caught.value.retry_after >= 1
        release.set()
        assert await first == "done"
        assert await second == "done"
        assert (runner.running, runner.waiting) == (0, 0)
        runner.shutdown()

    asyncio.run(scenario())


def test_disconnect_stops_running_work_and_frees_the_slot() -> None:
    async def scenario() -> None:
        runner = JobRunner(slots=1, queue_limit=0)
        release, stopped = threading.Event(), threading.Event()
        gone = asyncio.Event()

        async def disconnected() -> None:
            await gone.wait()

        async def job() -> str:
            async with runner.slot(disconnected):
                return await runner.execute(_blocking(release, stopped), disconnected)

        task = asyncio.ensure_future(job())
        await asyncio.sleep(0.05)
        gone.set()
        with pytest.raises(ClientGone):
            await task
        assert stopped.is_set(), "the worker was told to stop"
        assert runner.running == 0
        runner.shutdown()

    asyncio.run(scenario())


def test_cancelled_caller_keeps_the_slot_until_the_thread_stops() -> None:
    async def scenario() -> None:
        runner = JobRunner(slots=1, queue_limit=0)
        release, stopped = threading.Event(), threading.Event()

        async def job() -> str:
            async with runner.slot():
                return await runner.execute(_blocking(release, stopped))

        task = asyncio.ensure_future(job())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert stopped.is_set()
        assert runner.running == 0
        runner.shutdown()

    asyncio.run(scenario())
