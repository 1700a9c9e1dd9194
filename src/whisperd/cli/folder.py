"""``whisperd transcribe DIR [--recursive] --output-dir OUT``: every audio or video file under a folder.

Each input file gets one output under ``OUT``, at the same place relative to the folder it was found in
(``DIR/day1/talk.ogg`` -> ``OUT/day1/talk.srt``). The run is resumable: a file whose output exists is
skipped, and outputs are written whole or not at all (a temporary file renamed into place), so an
interrupted run leaves no half transcript and the next run does only what is left. One progress line
covers the whole run in seconds of audio.

Through a server, the files go as jobs (a few at a time, so that the server's queue stays short for
everyone else) and each job is deleted once its output is written. Each file's job carries an
idempotency key made from the file (path, size, modification time) and the options, so that a run
interrupted while its jobs were on the server picks them up again instead of sending them twice.
``--local`` transcribes the files in this process, one after the other; ``--ray`` spreads them over a
cluster's replicas, as many at once as its slots. A failed file is reported and the run goes on; the summary names the failures and the exit status is 1 when there are any.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from whisperd.cli.client import ServerError
from whisperd.cli.jobs_api import JobsApi
from whisperd.cli.local import FileTask
from whisperd.cli.progress import Progress

__all__ = [
    "MEDIA_SUFFIXES",
    "FolderRun",
    "Item",
    "collect",
    "idempotency_key",
    "plan",
    "run_concurrent",
    "run_local",
    "run_remote",
    "write_atomically",
]

MEDIA_SUFFIXES = frozenset(
    [
        ".3gp",
        ".aac",
        ".aif",
        ".aiff",
        ".amr",
        ".avi",
        ".flac",
        ".m4a",
        ".m4v",
        ".mkv",
        ".mov",
        ".mp2",
        ".mp3",
        ".mp4",
        ".mpeg",
        ".mpga",
        ".oga",
        ".ogg",
        ".opus",
        ".wav",
        ".webm",
        ".wma",
        ".wmv",
    ]
)
"""What a folder run takes for audio or video (by name: opening every file to look would be slow)."""

_AT_ONCE = 2
"""Jobs a folder run keeps on the server at a time: one running, one ready to start when it ends."""


@dataclass(frozen=True, slots=True)
class Item:
    """One input file, where its output goes, and how long it lasts (None: its header does not say)."""

    source: Path
    target: Path
    seconds: float | None = None


@dataclass
class FolderRun:
    """What a run did, for its summary."""

    total: int = 0
    skipped: int = 0
    done: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)

    def summary(self) -> str:
        line = f"whisperd: {self.done} transcribed, {self.skipped} skipped (output exists), {len(self.failed)} failed"
        return line + "".join(f"\n  {path}: {why}" for path, why in self.failed)


def collect(inputs: list[Path], recursive: bool) -> list[tuple[Path, Path]]:
    """Every media file in ``inputs`` with the path its output mirrors: a file named alone by its name, a
    file found in a folder by its path inside that folder. Hidden files and folders are left out."""
    found: list[tuple[Path, Path]] = []
    for entry in inputs:
        if entry.is_dir():
            walk = entry.rglob("*") if recursive else entry.iterdir()
            for path in sorted(walk):
                relative = path.relative_to(entry)
                hidden = any(part.startswith(".") for part in relative.parts)
                if not hidden and path.is_file() and path.suffix.lower() in MEDIA_SUFFIXES:
                    found.append((path, relative))
        else:
            found.append((entry, Path(entry.name)))
    return found


def plan(found: list[tuple[Path, Path]], output_dir: Path, extension: str) -> list[Item]:
    """Each file's output path (``stem + extension``; ``a.ogg`` and ``a.mp3`` side by side become ``a.srt``
    and ``a.mp3.srt``), the same from one run to the next."""
    used: set[Path] = set()
    items = []
    for source, relative in found:
        folder = output_dir / relative.parent
        target = folder / (relative.stem + extension)
        if target in used:
            target = folder / (relative.name + extension)
        number = 2
        while target in used:
            target = folder / f"{relative.stem}-{number}{extension}"
            number += 1
        used.add(target)
        items.append(Item(source, target))
    return items


def idempotency_key(source: Path, fields: dict[str, str]) -> str:
    """The same key for the same file (path, size, modification time) with the same options."""
    stat = source.stat()
    identity = json.dumps([str(source.resolve()), stat.st_size, stat.st_mtime_ns, sorted(fields.items())])
    return "whisperd-folder-" + hashlib.sha256(identity.encode()).hexdigest()[:40]


def write_atomically(path: Path, body: bytes) -> None:
    """Replace ``path`` at once, so that an interrupted run never leaves half a transcript."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_bytes(body if not body or body.endswith(b"\n") else body + b"\n")
    os.replace(temporary, path)


class _Meter:
    """The run's one progress line: files and seconds of audio, over everything still to do."""

    def __init__(self, stream: TextIO, items: list[Item], enabled: bool) -> None:
        self.items = len(items)
        self.total = sum(item.seconds or 0.0 for item in items)
        self.finished = 0.0
        self.files = 0
        self.progress = Progress(stream, self._label(), enabled=enabled and self.total > 0)

    def _label(self) -> str:
        return f"{self.files}/{self.items} files"

    def show(self, running: float = 0.0) -> None:
        self.progress.label = self._label()
        self.progress.audio(min(self.total, self.finished + running), self.total)

    def ended(self, item: Item) -> None:
        self.files += 1
        self.finished += item.seconds or 0.0
        self.show()

    def note(self, text: str) -> None:
        """A line of its own above the progress line."""
        self.progress.close()
        print(text, file=sys.stderr)


def _pending(items: list[Item], run: FolderRun) -> list[Item]:
    todo = [item for item in items if not item.target.exists()]
    run.total, run.skipped = len(items), len(items) - len(todo)
    return todo


def run_remote(
    items: list[Item],
    api: JobsApi,
    fields: dict[str, str],
    *,
    durations: Callable[[Path], float | None],
    terminal: bool,
    every: float = 1.0,
) -> FolderRun:
    """Transcribe ``items`` as jobs on the server, a few at a time."""
    run = FolderRun()
    todo = [Item(i.source, i.target, durations(i.source)) for i in _pending(items, run)]
    meter = _Meter(sys.stderr, todo, terminal)
    waiting = list(reversed(todo))
    on_server: dict[str, tuple[Item, float]] = {}
    try:
        while waiting or on_server:
            while waiting and len(on_server) < _AT_ONCE:
                item = waiting.pop()
                try:
                    job = api.submit(
                        item.source, fields, idempotency_key=idempotency_key(item.source, fields)
                    )
                except ServerError as exc:
                    if exc.fatal:
                        run.failed += [
                            (i.source, f"not attempted: {exc.message}") for i in [item, *reversed(waiting)]
                        ]
                        waiting.clear()
                        break
                    run.failed.append((item.source, exc.message))
                    meter.ended(item)
                    continue
                on_server[job["id"]] = (item, 0.0)
            for job_id, (item, _) in list(on_server.items()):
                _poll(api, job_id, item, on_server, run, meter, fields.get("response_format"))
            meter.show(sum(done for _, done in on_server.values()))
            if on_server:
                time.sleep(every)
    except KeyboardInterrupt:
        meter.note(
            f"whisperd: interrupted; {len(on_server)} job(s) go on on the server: run the same command again "
            "to pick them up (finished outputs are kept)"
        )
        raise
    finally:
        meter.progress.close()
    return run


def _poll(
    api: JobsApi,
    job_id: str,
    item: Item,
    on_server: dict[str, tuple[Item, float]],
    run: FolderRun,
    meter: _Meter,
    response_format: str | None,
) -> None:
    try:
        job = api.get(job_id)
        if job["status"] in ("queued", "running"):
            on_server[job_id] = (item, float(job["progress"]["seconds"]))
            return
        if job["status"] == "succeeded":
            write_atomically(item.target, api.result(job_id, response_format))
            run.done += 1
        else:
            error = job.get("error") or {}
            run.failed.append((item.source, str(error.get("message") or f"the job was {job['status']}")))
        with contextlib.suppress(ServerError):
            api.cancel(job_id)  # the output is written: the server need not keep the job
    except ServerError as exc:
        if exc.fatal and exc.status is None:
            raise
        run.failed.append((item.source, exc.message))
    except OSError as exc:
        run.failed.append((item.source, f"cannot write {item.target}: {exc.strerror}"))
    del on_server[job_id]
    meter.ended(item)


def run_local(
    items: list[Item],
    transcribe: Callable[[Path, FileTask, Callable[[float, float], None]], bytes],
    task: FileTask,
    *,
    durations: Callable[[Path], float | None],
    terminal: bool,
    failure: Callable[[Exception], str | None],
) -> FolderRun:
    """Transcribe ``items`` in this process, one after the other. ``failure`` turns an exception into a
    message (a file that failed) or None (re-raised: nothing else would work either)."""
    run = FolderRun()
    todo = [Item(i.source, i.target, durations(i.source)) for i in _pending(items, run)]
    meter = _Meter(sys.stderr, todo, terminal)
    try:
        for item in todo:
            try:
                body = transcribe(item.source, task, lambda done, total: meter.show(done))
                write_atomically(item.target, body)
                run.done += 1
            except Exception as exc:
                message = failure(exc)
                if message is None:
                    raise
                run.failed.append((item.source, message))
            meter.ended(item)
    finally:
        meter.progress.close()
    return run


def run_concurrent(
    items: list[Item],
    transcribe: Callable[[Path], bytes],
    *,
    concurrency: int,
    durations: Callable[[Path], float | None],
    terminal: bool,
) -> FolderRun:
    """Transcribe ``items`` ``concurrency`` at a time (a cluster's slots); an exception fails its file
    and the rest go on."""
    run = FolderRun()
    todo = [Item(i.source, i.target, durations(i.source)) for i in _pending(items, run)]
    meter = _Meter(sys.stderr, todo, terminal)
    try:
        with ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="whisperd-folder") as pool:
            futures = {pool.submit(transcribe, item.source): item for item in todo}
            for future in as_completed(futures):
                item = futures[future]
                try:
                    write_atomically(item.target, future.result())
                    run.done += 1
                except Exception as exc:
                    run.failed.append((item.source, str(exc) or type(exc).__name__))
                meter.ended(item)
    finally:
        meter.progress.close()
    return run
