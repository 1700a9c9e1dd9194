"""``whisperd transcribe FILE...``: transcripts from a server, or in-process with ``--local``.

One file and no ``--output-dir``: the transcript goes to standard output, like ``transcribe.sh``. Several
files: one output per input in ``--output-dir`` (default: the current folder), named after the input
(``talk.ogg`` -> ``talk.srt``). A folder among the inputs makes it a folder run
(:mod:`whisperd.cli.folder`: every media file under it, ``--recursive`` for sub-folders, as jobs on the
server, resumable). A bad file is reported and skipped; the exit status is 1 if any file
failed, and the last line on the error stream names them. A failure that would repeat for every file
(server unreachable, wrong key, unknown model) stops the run at once.

On a terminal, long files show a progress line on the error stream; piped or redirected, the command
prints nothing but the transcripts and the errors. ``--server auto`` finds the server on the LAN
(``whisperd discover``).

Folders (``whisperd transcribe DIR... [--recursive]``) are transcribed whole, resumably, with one progress
line (:mod:`whisperd.cli.folder`); ``--ray [ADDRESS]`` spreads their files over a Ray cluster's replicas
(``whisperd serve --ray``), as many at once as the replicas have slots.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

from whisperd.cli.client import ServerError, WhisperdClient, api_key_from, server_url_from
from whisperd.cli.discover import AUTO, find_server
from whisperd.cli.folder import collect, plan, run_concurrent, run_local, run_remote, write_atomically
from whisperd.cli.jobs_api import JobsApi
from whisperd.cli.local import FileTask, LocalTranscriber
from whisperd.cli.progress import LONG_AUDIO_SECONDS, Progress
from whisperd.media.formats import ResponseFormat
from whisperd.media.languages import language_code

__all__ = ["EXTENSIONS", "Failure", "OutputNames", "Runner", "register", "run"]

EXTENSIONS: dict[str, str] = {
    "text": ".txt",
    "json": ".json",
    "verbose_json": ".json",
    "srt": ".srt",
    "vtt": ".vtt",
}

Runner = Callable[[Path, Progress], bytes]


class Failure(Exception):
    """One file could not be transcribed; ``fatal``: neither could any other."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "transcribe",
        help="transcribe audio files with a server or in-process",
        description="Transcribe audio files. One file prints to stdout; several write one file each.",
    )
    parser.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="audio or video files, or folders of them"
    )
    parser.add_argument("--recursive", "-r", action="store_true", help="with a folder: its sub-folders too")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--server",
        metavar="URL",
        help="server address, or 'auto' to find one on the LAN (default: $WHISPER_API_URL, $OPENAI_BASE_URL, "
        "http://localhost:5000); the key comes from $WHISPER_API_KEY or $OPENAI_API_KEY",
    )
    where.add_argument("--local", action="store_true", help="transcribe in this process (no server)")
    where.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="folders only: spread the files over the replicas of `whisperd serve --ray` on the Ray cluster at "
        "ADDRESS (default auto; the token from $RAY_AUTH_TOKEN)",
    )
    parser.add_argument(
        "--recursive", action="store_true", help="folders: also the audio in their sub-folders"
    )
    parser.add_argument(
        "--model", help="model or alias (default: whisper-1; with --local the configured one)"
    )
    parser.add_argument("--language", help="spoken language, e.g. en or de (default: detect)")
    parser.add_argument("--translate", action="store_true", help="translate into English")
    parser.add_argument(
        "--format",
        dest="response_format",
        default="text",
        choices=get_args(ResponseFormat),
        help="default text",
    )
    parser.add_argument("--output-dir", type=Path, metavar="DIR", help="write one output file per input here")
    parser.add_argument(
        "--retry-seconds",
        type=float,
        default=30.0,
        metavar="S",
        help="keep retrying this long while the server restarts, loads or is busy (default 30)",
    )
    parser.set_defaults(run=run)


class OutputNames:
    """Where each input's output goes: ``stem + extension``, never twice the same path in one run."""

    def __init__(self, folder: Path, extension: str) -> None:
        self._folder = folder
        self._extension = extension
        self._used: set[Path] = set()

    def path_for(self, source: Path) -> Path:
        candidate = self._folder / (source.stem + self._extension)
        if candidate in self._used or _same_file(candidate, source):
            candidate = self._folder / (source.name + self._extension)  # a.ogg and a.mp3 -> a.txt, a.mp3.txt
        number = 2
        while candidate in self._used:
            candidate = self._folder / f"{source.stem}-{number}{self._extension}"
            number += 1
        self._used.add(candidate)
        return candidate


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _audio_seconds(path: Path) -> float | None:
    """The duration from the container's header (cheap; no decoding), or None when it does not say."""
    from whisperd.errors import WhisperdError
    from whisperd.media.audio import probe

    try:
        return probe(path)
    except (WhisperdError, OSError):
        return None


def _remote(args: argparse.Namespace, job: FileTask, terminal: bool) -> Runner:
    client = WhisperdClient(
        server_url_from(args.server, os.environ), api_key_from(os.environ), retry_seconds=args.retry_seconds
    )

    def run(path: Path, progress: Progress) -> bytes:
        seconds = _audio_seconds(path) if terminal else None
        progress.enabled = terminal and (seconds or 0) >= LONG_AUDIO_SECONDS
        waiting = (
            f"{'translating' if job.task == 'translate' else 'transcribing'} {seconds or 0:.1f} s of audio"
        )

        def uploaded(sent: int, total: int) -> None:
            if sent < total:
                progress.upload(sent, total)
            else:
                progress.note(f"{waiting} on the server...")

        try:
            return client.transcribe(
                path,
                translate=job.task == "translate",
                model=job.model or "whisper-1",
                language=job.language,
                response_format=job.response_format,
                on_upload=uploaded,
            )
        except ServerError as exc:
            raise Failure(exc.message, fatal=exc.fatal) from None

    return run


def _load(transcriber: LocalTranscriber) -> str | None:
    """Load the in-process model now; why it cannot be loaded, or None."""
    from whisperd.engine.catalog import ModelUnavailable

    try:
        transcriber.engine()
    except ModelUnavailable as exc:
        return f"model {exc.name} is not available: {exc.reason}"
    except (ValueError, RuntimeError) as exc:
        return f"cannot load model {transcriber.model}: {exc}"
    return None


def _local(job: FileTask, terminal: bool, cleanup: contextlib.ExitStack) -> Runner:
    from whisperd.config import Settings
    from whisperd.errors import WhisperdError

    transcriber = LocalTranscriber(Settings(), job.model)
    cleanup.callback(transcriber.close)
    announced = [False]

    def run(path: Path, progress: Progress) -> bytes:
        if terminal and not announced[0]:
            print(f"whisperd: loading model {transcriber.model} ...", file=sys.stderr, flush=True)
            announced[0] = True
        problem = _load(transcriber)
        if problem is not None:
            raise Failure(problem, fatal=True)

        def on_audio(done: float, total: float) -> None:
            progress.enabled = terminal and total >= LONG_AUDIO_SECONDS
            progress.audio(done, total)

        try:
            return transcriber.transcribe(path, job, on_audio)
        except WhisperdError as exc:
            raise Failure(exc.message) from None

    return run


def _finished(body: bytes) -> bytes:
    """Bodies end with a newline (as text files should), except an empty transcript."""
    return body if not body or body.endswith(b"\n") else body + b"\n"


def run(args: argparse.Namespace) -> int:
    language = None
    if args.language:
        language = language_code(args.language)
        if language is None:
            print(
                f"whisperd: unknown language {args.language!r}; use an ISO-639-1 code such as en",
                file=sys.stderr,
            )
            return 2
        if args.translate:
            print("whisperd: --language applies to transcription, not to --translate", file=sys.stderr)
            return 2
    job = FileTask(
        task="translate" if args.translate else "transcribe",
        model=args.model,
        language=language,
        response_format=args.response_format,
    )
    terminal = sys.stderr.isatty()
    if any(path.is_dir() for path in args.files):
        return _run_folder(args, job, terminal)
    if args.ray is not None:
        print("whisperd: --ray transcribes folders (whisperd transcribe DIR --ray)", file=sys.stderr)
        return 2
    if not args.local and not _found_server(args, terminal):
        return 1
    to_stdout = len(args.files) == 1 and args.output_dir is None
    names = OutputNames(args.output_dir or Path("."), EXTENSIONS[job.response_format])
    if args.output_dir is not None:
        args.output_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as cleanup:
        runner = _local(job, terminal, cleanup) if args.local else _remote(args, job, terminal)
        return _run_files(args, runner, names, terminal, to_stdout)


def _run_folder(args: argparse.Namespace, task: FileTask, terminal: bool) -> int:
    """Every media file under the folders (and the files) given, one output each, resumable."""
    items = plan(
        collect(args.files, args.recursive), args.output_dir or Path("."), EXTENSIONS[task.response_format]
    )
    if not items:
        print("whisperd: no audio or video files found", file=sys.stderr)
        return 1
    with contextlib.ExitStack() as cleanup:
        if args.ray is not None:
            from whisperd.scale.files import ClusterFiles

            cluster = ClusterFiles(None if args.ray == "auto" else args.ray)
            cleanup.callback(cluster.close)
            done = run_concurrent(
                items,
                lambda path: cluster.transcribe(path, task),
                concurrency=cluster.slots,
                durations=_audio_seconds,
                terminal=terminal,
            )
        elif args.local:
            transcriber = _local_transcriber(task, terminal, cleanup)
            if isinstance(transcriber, int):
                return transcriber
            done = run_local(
                items,
                transcriber.transcribe,
                task,
                durations=_audio_seconds,
                terminal=terminal,
                failure=_file_failure,
            )
        else:
            if not _found_server(args, terminal):
                return 1
            client = WhisperdClient(
                server_url_from(args.server, os.environ),
                api_key_from(os.environ),
                retry_seconds=args.retry_seconds,
            )
            cleanup.callback(client.close)
            fields = {
                "model": task.model or "whisper-1",
                "response_format": task.response_format,
                "task": task.task,
            }
            if task.language:
                fields["language"] = task.language
            try:
                done = run_remote(items, JobsApi(client), fields, durations=_audio_seconds, terminal=terminal)
            except ServerError as exc:
                print(f"whisperd: {exc.message}", file=sys.stderr)
                return 1
    print(done.summary(), file=sys.stderr)
    return 1 if done.failed else 0


def _local_transcriber(
    task: FileTask, terminal: bool, cleanup: contextlib.ExitStack
) -> LocalTranscriber | int:
    """The in-process transcriber with its model loaded, or the exit status when it cannot load."""
    from whisperd.config import Settings

    transcriber = LocalTranscriber(Settings(), task.model)
    cleanup.callback(transcriber.close)
    if terminal:
        print(f"whisperd: loading model {transcriber.model} ...", file=sys.stderr, flush=True)
    problem = _load(transcriber)
    if problem is not None:
        print(f"whisperd: {problem}", file=sys.stderr)
        return 1
    return transcriber


def _file_failure(exc: Exception) -> str | None:
    """What a failed file's line says; None for a failure that is not the file's."""
    from whisperd.errors import WhisperdError

    if isinstance(exc, WhisperdError):
        return exc.message
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror}"
    return None


def _run_files(
    args: argparse.Namespace, runner: Runner, names: OutputNames, terminal: bool, to_stdout: bool
) -> int:
    failed: list[Path] = []
    for index, path in enumerate(args.files):
        progress = Progress(sys.stderr, path.name, enabled=False)
        started = time.monotonic()
        try:
            if not path.is_file():
                raise Failure("no such file")
            body = _finished(runner(path, progress))
        except Failure as exc:
            progress.close()
            print(f"whisperd: {path}: {exc}", file=sys.stderr)
            failed.append(path)
            if exc.fatal:
                skipped = args.files[index + 1 :]
                if skipped:
                    print(f"whisperd: not attempted: {', '.join(map(str, skipped))}", file=sys.stderr)
                failed.extend(skipped)
                break
            continue
        progress.close()
        if to_stdout:
            sys.stdout.buffer.write(body)
            sys.stdout.flush()
        else:
            target = names.path_for(path)
            write_atomically(target, body)
            if terminal:
                print(f"{path} -> {target} ({time.monotonic() - started:.1f} s)", file=sys.stderr)
    if failed:
        count = len(args.files)
        print(
            f"whisperd: {len(failed)} of {count} file(s) failed: {', '.join(map(str, failed))}",
            file=sys.stderr,
        )
        return 1
    return 0


def _found_server(args: argparse.Namespace, terminal: bool) -> bool:
    """``--server auto``: the server found on the LAN put in ``args.server``; False when none answered."""
    if args.server != AUTO:
        return True
    args.server = find_server()
    if args.server is None:
        print(
            "whisperd: no whisperd server answered on the LAN (see `whisperd discover`); use --server URL",
            file=sys.stderr,
        )
        return False
    if terminal:
        print(f"whisperd: using {args.server}", file=sys.stderr)
    return True
