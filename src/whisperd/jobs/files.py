"""The data folder's files: one server per folder, uploads coming in, the audio of jobs not yet ended.

Layout under ``WHISPERD_DATA_DIR`` (mode 0700)::

    lock                the folder is this process's (an advisory lock a crash releases)
    jobs.sqlite3        the store (and its -wal, -shm)
    incoming/upload-*   job uploads being received: swept at start-up (a crash left them half-written)
    audio/job_*         the audio of each job that waits or runs: deleted when the job ends

An upload is received in ``incoming/``, renamed into ``audio/`` and only then recorded in the store, so a
crash at any point leaves either nothing or a file that the start-up sweep recognises as nobody's. The
stored audio is bounded (``WHISPERD_JOB_MAX_STORED_BYTES``): the bytes of the jobs' audio plus the bytes
of uploads still arriving, counted chunk by chunk, so that a burst of uploads cannot fill the disk.
Counters change on the event loop only; file operations are blocking and meant for a worker thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from whisperd.errors import QuotaExceeded

__all__ = ["DataDirInUse", "JobFiles", "UploadBudget"]


class DataDirInUse(RuntimeError):
    """Another whisperd serves jobs from this folder: two would run the same jobs."""


class JobFiles:
    """The audio of jobs on disk and the quota on it."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.incoming = root / "incoming"
        self.audio = root / "audio"
        self.max_bytes = max_bytes
        self.stored = 0
        """Bytes of audio kept for jobs that wait or run."""
        self.arriving = 0
        """Bytes of uploads received so far and not yet kept or dropped."""
        self._lock_fd: int | None = None

    def prepare(self) -> None:
        """Create the folders, take the folder's lock, sweep what a crash left in ``incoming/``."""
        for folder in (self.root, self.incoming, self.audio):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirInUse(
                f"another whisperd serves jobs from {self.root}; give each server its own WHISPERD_DATA_DIR"
            ) from None
        self._lock_fd = fd
        for leftover in self.incoming.iterdir():
            leftover.unlink(missing_ok=True)

    def adopt(self, active: dict[str, int]) -> list[str]:
        """Count the audio of the jobs that wait or run, and delete audio that belongs to no such job (a
        crash between keeping a file and recording its job, or between ending a job and deleting it).
        Returns the jobs whose audio is missing."""
        for path in self.audio.iterdir():
            if path.name not in active:
                path.unlink(missing_ok=True)
        self.stored = sum(size for job_id, size in active.items() if self.path_of(job_id).exists())
        return [job_id for job_id in active if not self.path_of(job_id).exists()]

    def new_file(self) -> tuple[int, Path]:
        """An open descriptor and the path of a fresh upload file in ``incoming/``."""
        fd, name = tempfile.mkstemp(prefix="upload-", dir=self.incoming)
        return fd, Path(name)

    @contextlib.contextmanager
    def budget(self) -> Iterator[UploadBudget]:
        """Count one upload's bytes against the quota while it arrives; released however it ends."""
        budget = UploadBudget(self)
        try:
            yield budget
        finally:
            self.arriving -= budget.taken

    def refusal(self, declared: int | None) -> QuotaExceeded | None:
        """The refusal an upload of ``declared`` bytes would meet, known before its body is read."""
        if self.stored + self.arriving + (declared or 0) > self.max_bytes:
            return self._full()
        return None

    def _full(self) -> QuotaExceeded:
        return QuotaExceeded(
            f"The server keeps too much audio for jobs already ({self.stored + self.arriving} bytes of "
            f"{self.max_bytes}, WHISPERD_JOB_MAX_STORED_BYTES). Retry when some jobs have finished.",
            retry_after=60,
        )

    def keep(self, upload: Path, job_id: str) -> Path:
        """Move a received upload into ``audio/`` under its job's id."""
        target = self.path_of(job_id)
        os.replace(upload, target)
        return target

    def kept(self, size: int) -> None:
        """A received upload is now a job's audio (on the event loop)."""
        self.stored += size

    def path_of(self, job_id: str) -> Path:
        return self.audio / job_id

    def remove(self, job_id: str) -> None:
        """Delete a job's audio (blocking)."""
        self.path_of(job_id).unlink(missing_ok=True)

    def released(self, size: int) -> None:
        """A job's audio is gone (on the event loop)."""
        self.stored = max(0, self.stored - size)

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


class UploadBudget:
    """One upload's share of the quota: each chunk is counted as it arrives, and refused past the quota."""

    def __init__(self, files: JobFiles) -> None:
        self._files = files
        self.taken = 0

    def take(self, size: int) -> None:
        files = self._files
        if files.stored + files.arriving + size > files.max_bytes:
            raise files._full()
        files.arriving += size
        self.taken += size
