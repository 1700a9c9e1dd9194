"""The job database's schema as numbered forward migrations; ``schema_version`` says which have run.

A migration is never edited once released: a change is a new migration appended to :data:`MIGRATIONS`,
so every database, however old, reaches the current schema by running the ones it lacks, in order,
each in its own transaction. A database newer than this code (a downgrade) is refused rather than
misread.
"""

from __future__ import annotations

import sqlite3

__all__ = ["MIGRATIONS", "SchemaTooNew", "migrate", "version_of", "version_of_readonly"]

MIGRATIONS: list[str] = [
    # 1: jobs, their results, the segments kept up to a checkpoint, webhook deliveries and attempts
    """
    CREATE TABLE jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        owner TEXT NOT NULL,
        status TEXT NOT NULL,
        spec TEXT NOT NULL,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        audio_bytes INTEGER NOT NULL,
        duration REAL,
        progress REAL NOT NULL DEFAULT 0,
        resumed_from REAL,
        runs INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        idempotency_key TEXT,
        checkpoint TEXT
    );
    CREATE UNIQUE INDEX jobs_idempotency ON jobs(owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE INDEX jobs_by_status ON jobs(status, seq);
    CREATE INDEX jobs_by_owner ON jobs(owner, seq);
    CREATE INDEX jobs_by_end ON jobs(finished_at) WHERE finished_at IS NOT NULL;
    CREATE TABLE results (
        job_id TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
        transcript TEXT NOT NULL
    );
    CREATE TABLE segments (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        segment TEXT NOT NULL,
        PRIMARY KEY (job_id, idx)
    ) WITHOUT ROWID;
    CREATE TABLE deliveries (
        id TEXT PRIMARY KEY,
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        event TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL
    );
    CREATE INDEX deliveries_due ON deliveries(status, next_at);
    CREATE INDEX deliveries_by_job ON deliveries(job_id);
    CREATE TABLE attempts (
        delivery_id TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
        n INTEGER NOT NULL,
        at REAL NOT NULL,
        status_code INTEGER,
        error TEXT,
        seconds REAL NOT NULL,
        PRIMARY KEY (delivery_id, n)
    ) WITHOUT ROWID;
    """,
]


class SchemaTooNew(RuntimeError):
    """The database was written by a newer whisperd: this one would misread it."""


def version_of(db: sqlite3.Connection) -> int:
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def version_of_readonly(db: sqlite3.Connection) -> int:
    """The schema version of a database opened read-only (0 when it has none yet)."""
    try:
        row = db.execute("SELECT version FROM schema_version").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0]) if row else 0


def migrate(db: sqlite3.Connection, migrations: list[str] = MIGRATIONS) -> tuple[int, int]:
    """Run the migrations ``db`` lacks, each in its own transaction; returns (version before, after)."""
    before = version_of(db)
    if before > len(migrations):
        raise SchemaTooNew(
            f"the job database is at schema version {before}, newer than this whisperd knows "
            f"({len(migrations)}): upgrade whisperd, or point WHISPERD_DATA_DIR elsewhere"
        )
    for version in range(before + 1, len(migrations) + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(migrations[version - 1]):
                db.execute(statement)
            db.execute("DELETE FROM schema_version")
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return before, len(migrations)


def _statements(script: str) -> list[str]:
    """A migration's statements, one by one (``executescript`` would commit on its own, outside ours)."""
    return [statement.strip() for statement in script.split(";") if statement.strip()]
