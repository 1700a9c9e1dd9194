"""The SQLite job store on a real file: every step atomic, owners apart, schemas moving forward."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from whisperd.engine.types import Checkpoint, Segment, Transcript, Word
from whisperd.errors import QuotaExceeded
from whisperd.jobs.model import Attempt, Delivery, Job, JobSpec
from whisperd.jobs.schema import MIGRATIONS, SchemaTooNew, migrate, version_of
from whisperd.jobs.sqlite import SqliteJobStore


def _job(number: int, owner: str = "", key: str | None = None, webhook: str | None = None) -> Job:
    return Job(
        id=f"job_{number:024x}",
        owner=owner,
        spec=JobSpec(filename=f"{number}.wav", webhook_url=webhook, metadata={"n": str(number)}),
        status="queued",
        created_at=1000.0 + number,
        audio_bytes=100 * number,
        idempotency_key=key,
    )


def _segment(index: int) -> Segment:
    return Segment(
        index,
        0,
        index,
        index + 1.0,
        f" word{index}",
        [1, 2],
        0.0,
        -0.1,
        1.2,
        0.01,
        [Word(f"w{index}", index, index + 0.5, 0.9)],
    )


def _scenario(tmp_path: Path, body: Callable[[SqliteJobStore], Awaitable[None]]) -> None:
    async def run() -> None:
        store = SqliteJobStore(tmp_path / "jobs.sqlite3")
        await store.open()
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(run())


def test_idempotency_keys_and_the_queue_quota(tmp_path: Path) -> None:
    async def body(store: SqliteJobStore) -> None:
        first, created = await store.create(_job(1, "a", key="k"), max_active=2)
        assert created
        again, created = await store.create(_job(2, "a", key="k"), max_active=2)
        assert (again.id, created) == (first.id, False), "the same key gives the first job back"
        other, created = await store.create(_job(3, "b", key="k"), max_active=2)
        assert created, "keys are per owner"
        with pytest.raises(QuotaExceeded) as caught:
            await store.create(_job(4, "a"), max_active=2)
        assert caught.value.status == 429
        assert caught.value.retry_after
        assert await store.find("a", "k") == first
        assert await store.active() == {first.id: 100, other.id: 300}

    _scenario(tmp_path, body)


def test_claims_take_the_oldest_and_a_crash_requeues(tmp_path: Path) -> None:
    async def body(store: SqliteJobStore) -> None:
        for number in (1, 2):
            await store.create(_job(number), max_active=10)
        claimed = await store.claim(5000.0)
        assert claimed is not None
        assert (claimed.id, claimed.status, claimed.runs, claimed.started_at) == (
            _job(1).id,
            "running",
            1,
            5000.0,
        )
        assert await store.recover() == 1
        again = await store.claim(6000.0)
        assert again is not None
        assert (again.id, again.runs, again.started_at) == (claimed.id, 2, 5000.0)
        await store.requeue(again.id)  # a shutdown: this run does not count
        third = await store.claim(7000.0)
        assert third is not None
        assert (third.id, third.runs) == (claimed.id, 2)

    _scenario(tmp_path, body)


def test_checkpoints_keep_segments_once_and_a_restart_replaces_them(tmp_path: Path) -> None:
    async def body(store: SqliteJobStore) -> None:
        await store.create(_job(1), max_active=10)
        job = await store.claim(0.0)
        assert job is not None
        assert await store.resume_point(job.id) is None
        first = Checkpoint("layout", 1, 2, 30.0, "en", 1.0)
        await store.save_checkpoint(job.id, first, [_segment(0), _segment(1), _segment(2)], resumed=False)
        second = Checkpoint("layout", 2, 3, 60.0, "en", 1.0)
        await store.save_checkpoint(job.id, second, [_segment(2)], resumed=False)
        point = await store.resume_point(job.id)
        assert point is not None
        assert point.checkpoint == second
        assert point.segments == [_segment(0), _segment(1), _segment(2)]
        stored = await store.get(job.id)
        assert stored is not None
        assert (stored.progress, stored.resumed_from) == (60.0, None)
        # a run that starts over (its first checkpoint at nothing done) drops what it no longer stands on
        await store.save_checkpoint(job.id, Checkpoint("other", 0, 0, 0.0, "en", 1.0), [], resumed=False)
        point = await store.resume_point(job.id)
        assert point is not None
        assert point.segments == []
        await store.save_checkpoint(job.id, second, [_segment(0), _segment(1), _segment(2)], resumed=True)
        stored = await store.get(job.id)
        assert stored is not None
        assert stored.resumed_from == 60.0

    _scenario(tmp_path, body)


def test_the_end_keeps_the_result_and_the_event_in_one_step(tmp_path: Path) -> None:
    async def body(store: SqliteJobStore) -> None:
        await store.create(_job(1, webhook="http://127.0.0.1/h"), max_active=10)
        job = await store.claim(0.0)
        assert job is not None
        await store.save_checkpoint(
            job.id, Checkpoint("l", 1, 1, 30.0, "en", 1.0), [_segment(0)], resumed=False
        )
        transcript = Transcript([_segment(0), _segment(1)], "en", 1.0, 61.5)
        delivery = Delivery("evt_1", job.id, "http://127.0.0.1/h", "audio.job.succeeded", "{}", next_at=10.0)
        ended = await store.finish(job.id, "succeeded", 9.0, result=transcript, delivery=delivery)
        assert ended is not None
        assert (ended.status, ended.finished_at, ended.duration, ended.progress) == (
            "succeeded",
            9.0,
            61.5,
            61.5,
        )
        assert await store.result(job.id) == transcript
        assert await store.resume_point(job.id) is None
        assert await store.finish(job.id, "failed", 10.0) is None, "only a running job ends"
        assert ended.webhook is not None
        assert (ended.webhook.status, ended.webhook.attempts) == ("pending", ())
        assert await store.due(9.5, 10) == []
        assert await store.next_due() == 10.0
        (due,) = await store.due(10.0, 10)
        await store.attempted(due.id, Attempt(10.0, 500, None, 0.1), "pending", 20.0)
        await store.attempted(due.id, Attempt(20.0, None, "ConnectError", 0.2), "pending", 40.0)
        await store.attempted(due.id, Attempt(40.0, 204, None, 0.05), "delivered", 40.0)
        after = await store.get(job.id)
        assert after is not None
        assert after.webhook is not None
        assert after.webhook.status == "delivered"
        assert [a.status_code for a in after.webhook.attempts] == [500, None, 204]
        assert await store.next_due() is None

    _scenario(tmp_path, body)


def test_cancel_delete_and_retention(tmp_path: Path) -> None:
    async def body(store: SqliteJobStore) -> None:
        for number in (1, 2, 3, 4):
            await store.create(_job(number), max_active=10)
        running = await store.claim(0.0)
        assert running is not None
        cancelled = await store.cancel(running.id, 5.0)
        assert cancelled is not None
        assert (cancelled.status, cancelled.finished_at) == ("cancelled", 5.0)
        assert await store.cancel(running.id, 6.0) is None
        for when, number in ((10.0, 2), (20.0, 3)):
            job = await store.claim(when)
            assert job is not None
            assert job.id == _job(number).id
            await store.finish(job.id, "failed", when, error={"message": "x"})
        assert [j.id for j in await store.expired(15.0, keep=10)] == [_job(1).id, _job(2).id]
        assert [j.id for j in await store.expired(0.0, keep=1)] == [_job(1).id, _job(2).id]
        assert [j.id for j in await store.expired(0.0, keep=2)] == [_job(1).id]
        await store.delete(_job(1).id)
        assert await store.get(_job(1).id) is None
        assert await store.active() == {_job(4).id: 400}

    _scenario(tmp_path, body)


def test_owners_see_only_their_own_pages(tmp_path: Path) -> None:
    async def body(store: SqliteJobStore) -> None:
        for number in range(1, 8):
            await store.create(_job(number, "a" if number % 2 else "b"), max_active=100)
        page, more = await store.page("a", after=None, limit=2)
        assert [j.id for j in page] == [_job(7).id, _job(5).id]
        assert more
        page, more = await store.page("a", after=page[-1].id, limit=2)
        assert [j.id for j in page] == [_job(3).id, _job(1).id]
        assert not more
        assert await store.page("a", after=_job(6).id, limit=5) == ([], False), "another owner's cursor"
        page, _ = await store.page("b", after=None, limit=10)
        assert {j.owner for j in page} == {"b"}
        assert page[0].spec.metadata == {"n": "6"}

    _scenario(tmp_path, body)


def test_schemas_only_move_forward(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "old.sqlite3", isolation_level=None)
    assert migrate(db, MIGRATIONS) == (0, len(MIGRATIONS))
    later = [*MIGRATIONS, "ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0"]
    assert migrate(db, later) == (len(MIGRATIONS), len(MIGRATIONS) + 1)
    assert version_of(db) == len(MIGRATIONS) + 1
    assert "priority" in [row[1] for row in db.execute("PRAGMA table_info(jobs)")]
    with pytest.raises(SchemaTooNew, match="newer than this whisperd"):
        migrate(db, MIGRATIONS)
    broken = [*later, "ALTER TABLE jobs ADD COLUMN x INTEGER; this is not SQL"]
    with pytest.raises(sqlite3.OperationalError):
        migrate(db, broken)
    assert version_of(db) == len(later), "a failed migration leaves the version where it was"
    assert "x" not in [row[1] for row in db.execute("PRAGMA table_info(jobs)")]
    db.close()
