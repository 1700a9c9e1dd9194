"""The server's private folder for uploads in flight, its bound, and the start-up sweep of what crashes left.

Layout: ``<base>/whisperd-uploads/run-<pid>/upload-*``. Each process writes only under its own
``run-<pid>`` folder; at start-up, folders whose process is gone (a kill -9, a power cut) are removed.
Nothing outside ``whisperd-uploads`` is ever touched. At most ``max_in_flight`` uploads are received at
once (each holds a socket and a file): one more is refused before its body is read.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from whisperd.errors import QueueFull

__all__ = ["UploadArea"]

_RUN_PREFIX = "run-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class UploadArea:
    """Owns ``run-<pid>`` for this process; sweeps the folders of dead ones."""

    def __init__(self, base: Path | None = None, *, max_in_flight: int = 64) -> None:
        self.root = (base or Path(tempfile.gettempdir())) / "whisperd-uploads"
        self.folder = self.root / f"{_RUN_PREFIX}{os.getpid()}"
        self.max_in_flight = max(1, max_in_flight)
        self.in_flight = 0

    @contextlib.contextmanager
    def receiving(self) -> Iterator[None]:
        """Count one upload being received for the ``with`` body; 429 when the bound is reached.

        Called on the event loop only, so the counter needs no lock.
        """
        if self.in_flight >= self.max_in_flight:
            raise QueueFull(f"Too many uploads in progress ({self.in_flight}). Retry shortly.", retry_after=2)
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    def prepare(self) -> list[Path]:
        """Create this process's folder (private to the user) and sweep dead ones; returns what it removed."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        removed = self.sweep()
        self.folder.mkdir(exist_ok=True, mode=0o700)
        return removed

    def sweep(self) -> list[Path]:
        removed = []
        for child in self.root.iterdir():
            name = child.name
            if not (child.is_dir() and name.startswith(_RUN_PREFIX) and name[len(_RUN_PREFIX) :].isdigit()):
                continue
            if child == self.folder or _alive(int(name[len(_RUN_PREFIX) :])):
                continue
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child)
        return removed

    def new_file(self) -> tuple[int, Path]:
        """An open descriptor and the path of a fresh upload file in this process's folder."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, name = tempfile.mkstemp(prefix="upload-", dir=self.folder)
        return fd, Path(name)

    def write(self, data: bytes) -> Path:
        """A fresh upload file holding ``data`` (an upload that arrived whole, from a cluster's ingress)."""
        fd, path = self.new_file()
        try:
            view = memoryview(data)
            while view:  # os.write may write part of a buffer
                view = view[os.write(fd, view) :]
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        return path

    def remove(self) -> None:
        """Drop this process's folder at shutdown."""
        shutil.rmtree(self.folder, ignore_errors=True)
