"""The scheduler's bookkeeping with stand-in work (pure logic: slots, queue, cancellation, release)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from whisperd.engine.types import Cancelled, CancelToken
from whisperd.errors import QueueFull
from whisperd.service.scheduler import Scheduler


def _blocking(
    release: threading.Event, stopped: threading.Event, linger: float = 0.0
) -> Callable[[CancelToken], str]:
    """Work that runs until released; told to stop, it takes ``linger`` seconds more (a segment's end)."""

    def work(cancel: CancelToken) -> str:
        while not release.wait(0.01):
            if cancel.cancelled:
                threading.Event().wait(linger)
                stopped.set()
                raise Cancelled
        return "done"

    return work


def test_queue_limit_and_retry_after() -> None:
    async def scenario() -> None:
        scheduler = Scheduler(slots=1, queue_limit=1)
        release, stopped = threading.Event(), threading.Event()
        first = asyncio.ensure_future(scheduler.run(_blocking(release, stopped), CancelToken()))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(scheduler.run(_blocking(release, stopped), CancelToken()))
        await asyncio.sleep(0.05)
        assert (scheduler.running, scheduler.waiting) == (1, 1)
        refusal = scheduler.would_refuse()
        assert refusal is not None
        with pytest.raises(QueueFull) as caught:
            await scheduler.run(_blocking(release, stopped), CancelToken())
        assert caught.value.retry_after is not None
        assert caught.value.retry_after >= 1
        release.set()
        assert await first == "done"
        assert await second == "done"
        assert (scheduler.running, scheduler.waiting) == (0, 0)
        assert scheduler.would_refuse() is None
        scheduler.shutdown()

    asyncio.run(scenario())


def test_a_cancelled_token_takes_work_out_of_the_queue() -> None:
    async def scenario() -> None:
        scheduler = Scheduler(slots=1, queue_limit=1)
        release, stopped = threading.Event(), threading.Event()
        running = asyncio.ensure_future(scheduler.run(_blocking(release, stopped), CancelToken()))
        await asyncio.sleep(0.05)
        token = CancelToken()
        queued = asyncio.ensure_future(scheduler.run(_blocking(release, stopped), token))
        await asyncio.sleep(0.05)
        assert scheduler.waiting == 1
        token.cancel()
        with pytest.raises(Cancelled):
            await queued
        assert scheduler.waiting == 0
        assert scheduler.running == 1
        release.set()
        assert await running == "done"
        scheduler.shutdown()

    asyncio.run(scenario())


def test_a_cancelled_token_stops_running_work_and_frees_the_slot() -> None:
    async def scenario() -> None:
        scheduler = Scheduler(slots=1, queue_limit=0)
        release, stopped = threading.Event(), threading.Event()
        token = CancelToken()
        task = asyncio.ensure_future(scheduler.run(_blocking(release, stopped), token))
        await asyncio.sleep(0.05)
        token.cancel()
        with pytest.raises(Cancelled):
            await task
        assert stopped.is_set(), "the worker was told to stop"
        assert scheduler.running == 0
        scheduler.shutdown()

    asyncio.run(scenario())


def test_a_cancelled_caller_leaves_the_slot_taken_until_the_thread_returns() -> None:
    """The release belongs to the work, not to its caller: cancelling the caller (as a framework does when
    a streaming client leaves) must neither free the slot early nor leak it."""

    async def scenario() -> None:
        scheduler = Scheduler(slots=1, queue_limit=0)
        release, stopped = threading.Event(), threading.Event()
        task = asyncio.ensure_future(scheduler.run(_blocking(release, stopped, linger=0.3), CancelToken()))
        await asyncio.sleep(0.05)
        for _ in range(3):  # cancelled again and again, as a level-triggered cancel scope does
            task.cancel()
            await asyncio.sleep(0)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert scheduler.running == 1, "the slot was freed while the worker still ran"
        assert await asyncio.to_thread(stopped.wait, 5)
        for _ in range(100):
            if scheduler.running == 0:
                break
            await asyncio.sleep(0.01)
        assert scheduler.running == 0, "the slot leaked"
        assert scheduler.would_refuse() is None
        scheduler.shutdown()

    asyncio.run(scenario())


def test_the_idle_hook_runs_when_the_last_work_ends() -> None:
    async def scenario() -> None:
        idle = threading.Event()
        scheduler = Scheduler(slots=2, queue_limit=0, on_idle=idle.set)
        assert await scheduler.run(lambda _: "x", CancelToken()) == "x"
        assert await asyncio.to_thread(idle.wait, 5)
        scheduler.shutdown()

    asyncio.run(scenario())


def test_jobs_keep_to_their_share_and_interactive_work_goes_first() -> None:
    """Two slots, one for jobs at most: a second job waits although a slot is free, an interactive
    request takes that slot at once, and when a slot frees it goes to waiting interactive work first."""

    async def scenario() -> None:
        scheduler = Scheduler(slots=2, queue_limit=4, background_slots=1)
        order: list[str] = []
        gates = {name: threading.Event() for name in ("job1", "job2", "live1", "live2", "live3")}

        def work(name: str) -> Callable[[CancelToken], str]:
            def run(cancel: CancelToken) -> str:
                order.append(name)
                gates[name].wait(5)
                return name

            return run

        job1 = asyncio.ensure_future(scheduler.run(work("job1"), CancelToken(), priority="background"))
        await asyncio.sleep(0.05)
        job2 = asyncio.ensure_future(scheduler.run(work("job2"), CancelToken(), priority="background"))
        await asyncio.sleep(0.05)
        assert (scheduler.running, scheduler.background_waiting) == (1, 1), "the second job is over its share"
        live1 = asyncio.ensure_future(scheduler.run(work("live1"), CancelToken()))
        await asyncio.sleep(0.05)
        assert scheduler.running == 2, "an interactive request took the free slot at once"
        live2 = asyncio.ensure_future(scheduler.run(work("live2"), CancelToken()))
        await asyncio.sleep(0.05)
        assert scheduler.waiting == 1
        gates["job1"].set()
        assert await job1 == "job1"
        await asyncio.sleep(0.05)
        assert order[-1] == "live2", "the freed slot went to the waiting request, not the waiting job"
        with pytest.raises(QueueFull):
            await scheduler.run(work("live3"), CancelToken(), wait=False)
        for name in ("live1", "live2", "job2"):
            gates[name].set()
        assert [await live1, await live2, await job2] == ["live1", "live2", "job2"]
        assert order == ["job1", "live1", "live2", "job2"]
        assert (scheduler.running, scheduler.background_running, scheduler.background_waiting) == (0, 0, 0)
        scheduler.shutdown()

    asyncio.run(scenario())


def test_a_cancelled_job_leaves_the_background_queue() -> None:
    async def scenario() -> None:
        scheduler = Scheduler(slots=2, queue_limit=0, background_slots=1)
        release, stopped = threading.Event(), threading.Event()
        first = asyncio.ensure_future(
            scheduler.run(_blocking(release, stopped), CancelToken(), priority="background")
        )
        await asyncio.sleep(0.05)
        token = CancelToken()
        second = asyncio.ensure_future(
            scheduler.run(_blocking(release, stopped), token, priority="background")
        )
        await asyncio.sleep(0.05)
        assert scheduler.background_waiting == 1
        token.cancel()
        with pytest.raises(Cancelled):
            await second
        assert scheduler.background_waiting == 0
        release.set()
        assert await first == "done"
        assert (scheduler.running, scheduler.background_running) == (0, 0)
        scheduler.shutdown()

    asyncio.run(scenario())
