"""Whole folders for ``whisperd transcribe DIR``: find the audio, skip what is done, one bar for all of it.

Kept in its own module so that the folder mode of the long-work issue (jobs, ``--local``) can take it
over: it only needs a function that turns one file into its output's bytes. Every audio or video file
under the folders given (sub-folders with ``--recursive``) gets one output in the output folder, at the
same relative path with the format's extension. A run is resumable: a file whose output exists is
skipped, and outputs are written whole or not at all (a temporary name, then a rename), so an interrupted
run leaves no half transcript. Files run ``concurrency`` at a time (a cluster's slots), and one progress
line counts the audio seconds done of the total.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from whisperd.cli.progress import Progress

__all__ = [
    "AUDIO_SUFFIXES",
    "FolderPlan",
    "FolderResult",
    "plan_folder",
    "report",
    "run_folder",
    "write_whole",
]

AUDIO_SUFFIXES = frozenset(
    [
        ".flac",
        ".m4a",
        ".mp3",
        ".mp4",
        ".mpeg",
        ".mpga",
        ".oga",
        ".ogg",
        ".opus",
        ".wav",
        ".webm",
        ".mkv",
        ".mov",
        ".aac",
        ".wma",
        ".amr",
    ]
)


@dataclass(frozen=True, slots=True)
class FolderPlan:
    """What a run will do: each pending input and its output, and the inputs already done."""

    pending: list[tuple[Path, Path]]
    done: list[Path]


@dataclass(slots=True)
class FolderResult:
    written: list[Path]
    failed: list[tuple[Path, str]]


def plan_folder(roots: Iterable[Path], output_dir: Path, extension: str, *, recursive: bool) -> FolderPlan:
    """Every audio file under ``roots`` (sorted), and where its output goes; those with an output are done."""
    pending: list[tuple[Path, Path]] = []
    done: list[Path] = []
    for root in roots:
        found = root.rglob("*") if recursive else root.glob("*")
        for path in sorted(p for p in found if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES):
            target = output_dir / path.relative_to(root).with_suffix(extension)
            (done.append(path) if target.exists() else pending.append((path, target)))
    return FolderPlan(pending, done)


def write_whole(path: Path, body: bytes) -> None:
    """Replace ``path`` at once, so that an interrupted run never leaves half a transcript."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_bytes(body)
    os.replace(temporary, path)


def run_folder(
    plan: FolderPlan,
    transcribe: Callable[[Path], bytes],
    *,
    concurrency: int,
    seconds_of: Callable[[Path], float | None],
    progress: Progress,
) -> FolderResult:
    """Transcribe the pending files ``concurrency`` at a time; a failure is reported and the rest go on."""
    durations = {path: seconds_of(path) or 0.0 for path, _ in plan.pending}
    total = sum(durations.values())
    result = FolderResult([], [])
    done_seconds = 0.0
    progress.audio(0.0, total)
    with ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="whisperd-folder") as pool:
        futures = {pool.submit(transcribe, path): (path, target) for path, target in plan.pending}
        for future in as_completed(futures):
            path, target = futures[future]
            try:
                body = future.result()
            except Exception as exc:
                result.failed.append((path, str(exc) or type(exc).__name__))
            else:
                write_whole(target, body if not body or body.endswith(b"\n") else body + b"\n")
                result.written.append(target)
            done_seconds += durations[path]
            progress.audio(done_seconds, total)
    progress.close()
    return result


def report(plan: FolderPlan, result: FolderResult, started: float) -> int:
    """The summary on the error stream, and the exit status (1 when any file failed)."""
    for path, reason in result.failed:
        print(f"whisperd: {path}: {reason}", file=sys.stderr)
    print(
        f"whisperd: {len(result.written)} written, {len(plan.done)} already done, {len(result.failed)} failed "
        f"in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    return 1 if result.failed else 0
