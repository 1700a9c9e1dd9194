"""The job store of one machine: an SQLite file in WAL mode, used from one thread of its own.

WAL lets the file be read while it is written and survives a ``kill -9``: a transaction is in the file
or not at all. ``synchronous=NORMAL`` (the usual choice with WAL) may lose the last transactions on a
power cut, never consistency. Every call runs on the store's single thread, so the connection is never
shared and the event loop never waits on the disk; a write is one ``BEGIN IMMEDIATE`` transaction.
Deleted pages go back to the file system (``auto_vacuum=INCREMENTAL``), so swept jobs leave no space
behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from whisperd.engine.types import Checkpoint, Resume, Segment, Transcript
from whisperd.errors import QuotaExceeded
from whisperd.jobs.codec import (
    checkpoint_from_json,
    checkpoint_to_json,
    segment_from_dict,
    segment_to_json,
    transcript_from_json,
    transcript_to_json,
)
from whisperd.jobs.model import Attempt, Delivery, DeliveryStatus, Job, JobSpec, JobStatus, WebhookState
from whisperd.jobs.schema import migrate

__all__ = ["SqliteJobStore"]

T = TypeVar("T")

_COLUMNS = (
    "id, owner, status, spec, created_at, started_at, finished_at, audio_bytes, duration, progress, "
    "resumed_from, runs, error, idempotency_key"
)


class SqliteJobStore:
    """:class:`~whisperd.jobs.store.JobStore` in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="whisperd-store")
        self._db: sqlite3.Connection | None = None

    async def _run(self, call: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            if self._db is None:
                raise RuntimeError("the job store is not open")
            return call(self._db)

        return await asyncio.get_running_loop().run_in_executor(self._executor, run)

    async def open(self) -> None:
        def connect() -> None:
            fresh = not self.path.exists()
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            if fresh:
                os.chmod(self.path, 0o600)
                db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only possible before the first table
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA busy_timeout = 5000")
            try:
                migrate(db)
            except BaseException:
                db.close()
                raise
            self._db = db

        await asyncio.get_running_loop().run_in_executor(self._executor, connect)

    async def close(self) -> None:
        def disconnect() -> None:
            if self._db is not None:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, disconnect)
        self._executor.shutdown(wait=True)

    # --- jobs -------------------------------------------------------------------------------------

    async def create(self, job: Job, *, max_active: int) -> tuple[Job, bool]:
        def create(db: sqlite3.Connection) -> tuple[Job, bool]:
            with _transaction(db):
                if job.idempotency_key is not None:
                    existing = _find(db, job.owner, job.idempotency_key)
                    if existing is not None:
                        return existing, False
                (active,) = db.execute(
                    "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')"
                ).fetchone()
                if active >= max_active:
                    raise QuotaExceeded(
                        f"Too many jobs: {active} are waiting or running, the most this server takes "
                        f"(WHISPERD_JOB_MAX_QUEUED). Retry when some have finished.",
                        retry_after=60,
                    )
                db.execute(
                    f"INSERT INTO jobs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        job.id, job.owner, job.status, json.dumps(job.spec.to_dict()), job.created_at,
                        job.started_at, job.finished_at, job.audio_bytes, job.duration, job.progress,
                        job.resumed_from, job.runs, _json(job.error), job.idempotency_key,
                    ),
                )  # fmt: skip
            return job, True

        return await self._run(create)

    async def find(self, owner: str, idempotency_key: str) -> Job | None:
        return await self._run(lambda db: _find(db, owner, idempotency_key))

    async def get(self, job_id: str) -> Job | None:
        return await self._run(lambda db: _get(db, job_id))

    async def page(self, owner: str, *, after: str | None, limit: int) -> tuple[list[Job], bool]:
        def page(db: sqlite3.Connection) -> tuple[list[Job], bool]:
            query = f"SELECT {_COLUMNS} FROM jobs WHERE owner = ?"
            args: list[Any] = [owner]
            if after is not None:
                query += " AND seq < (SELECT seq FROM jobs WHERE id = ? AND owner = ?)"
                args += [after, owner]
            rows = db.execute(query + " ORDER BY seq DESC LIMIT ?", [*args, limit + 1]).fetchall()
            return [_job(db, row) for row in rows[:limit]], len(rows) > limit

        return await self._run(page)

    async def active(self) -> dict[str, int]:
        def active(db: sqlite3.Connection) -> dict[str, int]:
            rows = db.execute("SELECT id, audio_bytes FROM jobs WHERE status IN ('queued', 'running')")
            return {job_id: size for job_id, size in rows}

        return await self._run(active)

    async def claim(self, now: float) -> Job | None:
        def claim(db: sqlite3.Connection) -> Job | None:
            with _transaction(db):
                row = db.execute(
                    "UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, ?), runs = runs + 1 "
                    "WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1) "
                    "RETURNING id",
                    (now,),
                ).fetchone()
            return None if row is None else _get(db, row[0])

        return await self._run(claim)

    async def recover(self) -> int:
        def recover(db: sqlite3.Connection) -> int:
            with _transaction(db):
                return db.execute("UPDATE jobs SET status = 'queued' WHERE status = 'running'").rowcount

        return await self._run(recover)

    async def requeue(self, job_id: str) -> None:
        def requeue(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute(
                    "UPDATE jobs SET status = 'queued', runs = MAX(0, runs - 1) WHERE id = ? AND status = 'running'",
                    (job_id,),
                )

        await self._run(requeue)

    async def progress(self, job_id: str, seconds: float, duration: float | None) -> None:
        def progress(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute(
                    "UPDATE jobs SET progress = MAX(progress, ?), duration = COALESCE(?, duration) "
                    "WHERE id = ? AND status = 'running'",
                    (seconds, duration, job_id),
                )

        await self._run(progress)

    async def save_checkpoint(
        self, job_id: str, checkpoint: Checkpoint, segments: list[Segment], *, resumed: bool
    ) -> None:
        def save(db: sqlite3.Connection) -> None:
            with _transaction(db):
                running = db.execute(
                    "SELECT 1 FROM jobs WHERE id = ? AND status = 'running'", (job_id,)
                ).fetchone()
                if running is None:
                    return  # cancelled meanwhile: nothing of it is kept
                db.executemany(
                    "INSERT OR REPLACE INTO segments (job_id, idx, segment) VALUES (?, ?, ?)",
                    [(job_id, s.id, segment_to_json(s)) for s in segments if s.id < checkpoint.segments],
                )
                db.execute(
                    "DELETE FROM segments WHERE job_id = ? AND idx >= ?", (job_id, checkpoint.segments)
                )
                db.execute(
                    "UPDATE jobs SET checkpoint = ?, progress = MAX(progress, ?), "
                    "resumed_from = CASE WHEN ? THEN ? ELSE resumed_from END WHERE id = ?",
                    (checkpoint_to_json(checkpoint), checkpoint.seconds, resumed, checkpoint.seconds, job_id),
                )

        await self._run(save)

    async def resume_point(self, job_id: str) -> Resume | None:
        def resume_point(db: sqlite3.Connection) -> Resume | None:
            row = db.execute("SELECT checkpoint FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row[0] is None:
                return None
            checkpoint = checkpoint_from_json(row[0])
            rows = db.execute(
                "SELECT segment FROM segments WHERE job_id = ? AND idx < ? ORDER BY idx",
                (job_id, checkpoint.segments),
            ).fetchall()
            return Resume(checkpoint, [segment_from_dict(json.loads(r[0])) for r in rows])

        return await self._run(resume_point)

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
        def finish(db: sqlite3.Connection) -> Job | None:
            with _transaction(db):
                duration = None if result is None else result.duration
                changed = db.execute(
                    "UPDATE jobs SET status = ?, finished_at = ?, error = ?, checkpoint = NULL, "
                    "duration = COALESCE(?, duration), progress = COALESCE(?, progress) "
                    "WHERE id = ? AND status = 'running'",
                    (status, now, _json(error), duration, duration, job_id),
                ).rowcount
                if not changed:
                    return None
                db.execute("DELETE FROM segments WHERE job_id = ?", (job_id,))
                if result is not None:
                    db.execute(
                        "INSERT OR REPLACE INTO results (job_id, transcript) VALUES (?, ?)",
                        (job_id, transcript_to_json(result)),
                    )
                if delivery is not None:
                    _insert_delivery(db, delivery)
            return _get(db, job_id)

        return await self._run(finish)

    async def cancel(self, job_id: str, now: float) -> Job | None:
        def cancel(db: sqlite3.Connection) -> Job | None:
            with _transaction(db):
                changed = db.execute(
                    "UPDATE jobs SET status = 'cancelled', finished_at = ?, checkpoint = NULL "
                    "WHERE id = ? AND status IN ('queued', 'running')",
                    (now, job_id),
                ).rowcount
                if not changed:
                    return None
                for table in ("segments", "results", "deliveries"):
                    db.execute(f"DELETE FROM {table} WHERE job_id = ?", (job_id,))
            _vacuum(db)
            return _get(db, job_id)

        return await self._run(cancel)

    async def delete(self, job_id: str) -> None:
        def delete(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))  # the rest goes with it (cascade)
            _vacuum(db)

        await self._run(delete)

    async def result(self, job_id: str) -> Transcript | None:
        def result(db: sqlite3.Connection) -> Transcript | None:
            row = db.execute("SELECT transcript FROM results WHERE job_id = ?", (job_id,)).fetchone()
            return None if row is None else transcript_from_json(row[0])

        return await self._run(result)

    async def expired(self, before: float, keep: int) -> list[Job]:
        def expired(db: sqlite3.Connection) -> list[Job]:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE finished_at IS NOT NULL AND "
                "(finished_at < ? OR id IN (SELECT id FROM jobs WHERE finished_at IS NOT NULL "
                "ORDER BY finished_at DESC LIMIT -1 OFFSET ?))",
                (before, keep),
            ).fetchall()
            return [_job(db, row) for row in rows]

        return await self._run(expired)

    # --- webhook deliveries -----------------------------------------------------------------------

    async def due(self, now: float, limit: int) -> list[Delivery]:
        def due(db: sqlite3.Connection) -> list[Delivery]:
            rows = db.execute(
                "SELECT id, job_id, url, event, payload, status, attempts, next_at FROM deliveries "
                "WHERE status = 'pending' AND next_at <= ? ORDER BY next_at LIMIT ?",
                (now, limit),
            ).fetchall()
            return [Delivery(*row) for row in rows]

        return await self._run(due)

    async def next_due(self) -> float | None:
        def next_due(db: sqlite3.Connection) -> float | None:
            (when,) = db.execute("SELECT MIN(next_at) FROM deliveries WHERE status = 'pending'").fetchone()
            return None if when is None else float(when)

        return await self._run(next_due)

    async def attempted(
        self, delivery_id: str, attempt: Attempt, status: DeliveryStatus, next_at: float
    ) -> None:
        def attempted(db: sqlite3.Connection) -> None:
            with _transaction(db):
                row = db.execute(
                    "UPDATE deliveries SET attempts = attempts + 1, status = ?, next_at = ? WHERE id = ? "
                    "RETURNING attempts",
                    (status, next_at, delivery_id),
                ).fetchone()
                if row is None:
                    return  # the job was deleted while the request was out
                db.execute(
                    "INSERT INTO attempts (delivery_id, n, at, status_code, error, seconds) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (delivery_id, row[0], attempt.at, attempt.status_code, attempt.error, attempt.seconds),
                )

        await self._run(attempted)


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _vacuum(db: sqlite3.Connection) -> None:
    """Hand the pages that deletions freed back to the file system."""
    db.execute("PRAGMA incremental_vacuum")


def _json(value: object) -> str | None:
    return None if value is None else json.dumps(value)


def _find(db: sqlite3.Connection, owner: str, key: str) -> Job | None:
    row = db.execute(
        f"SELECT {_COLUMNS} FROM jobs WHERE owner = ? AND idempotency_key = ?", (owner, key)
    ).fetchone()
    return None if row is None else _job(db, row)


def _get(db: sqlite3.Connection, job_id: str) -> Job | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return None if row is None else _job(db, row)


def _job(db: sqlite3.Connection, row: tuple[Any, ...]) -> Job:
    (job_id, owner, status, spec, created, started, finished, size, duration, progress, resumed, runs,
     error, key) = row  # fmt: skip
    job_spec = JobSpec.from_dict(json.loads(spec))
    return Job(
        id=job_id,
        owner=owner,
        spec=job_spec,
        status=status,
        created_at=created,
        audio_bytes=size,
        started_at=started,
        finished_at=finished,
        duration=duration,
        progress=progress,
        resumed_from=resumed,
        runs=runs,
        error=None if error is None else json.loads(error),
        idempotency_key=key,
        webhook=None if job_spec.webhook_url is None else _webhook(db, job_id, job_spec.webhook_url),
    )


def _webhook(db: sqlite3.Connection, job_id: str, url: str) -> WebhookState:
    row = db.execute(
        "SELECT id, status FROM deliveries WHERE job_id = ? ORDER BY rowid DESC", (job_id,)
    ).fetchone()
    if row is None:
        return WebhookState(url)
    attempts = db.execute(
        "SELECT at, status_code, error, seconds FROM attempts WHERE delivery_id = ? ORDER BY n", (row[0],)
    ).fetchall()
    return WebhookState(url, row[1], tuple(Attempt(*a) for a in attempts))


def _insert_delivery(db: sqlite3.Connection, delivery: Delivery) -> None:
    db.execute(
        "INSERT INTO deliveries (id, job_id, url, event, payload, status, attempts, next_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (delivery.id, delivery.job_id, delivery.url, delivery.event, delivery.payload, delivery.status,
         delivery.attempts, delivery.next_at),
    )  # fmt: skip
