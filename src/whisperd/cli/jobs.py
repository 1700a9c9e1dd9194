"""``whisperd jobs submit|status|result|wait|cancel|list``: a server's job API from the command line.

``submit`` prints the new job's id (so that ``id=$(whisperd jobs submit talk.mp3)`` works) or, with
``--wait``, waits and prints the result like ``wait``. ``wait`` shows a progress bar on a terminal and
prints the result when the job succeeds; a failed or cancelled job exits 1 with its error. ``status``
and ``list`` print a line per job (``--json`` prints the job objects). The server and the key come
from the same places as for ``whisperd transcribe``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, get_args

from whisperd.cli.client import ServerError, WhisperdClient, api_key_from, server_url_from
from whisperd.cli.jobs_api import JobFailed, JobsApi, metadata_field
from whisperd.cli.progress import Progress, clock
from whisperd.media.formats import ResponseFormat

__all__ = ["job_line", "register", "run"]


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "jobs",
        help="submit, follow and fetch transcription jobs on a server",
        description="Asynchronous jobs: submit now, fetch later (the server keeps the result).",
    )
    parser.add_argument("--server", metavar="URL", help="server address (default: $WHISPER_API_URL, ...)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    submit = actions.add_parser("submit", help="submit a file; prints the job id")
    submit.add_argument("file", type=Path)
    submit.add_argument("--model", default="whisper-1")
    submit.add_argument("--language", help="spoken language (default: detect)")
    submit.add_argument("--translate", action="store_true", help="translate into English")
    submit.add_argument("--format", dest="response_format", default="json", choices=get_args(ResponseFormat))
    submit.add_argument("--word-timestamps", action="store_true", help="keep word timings in the result")
    submit.add_argument("--webhook-url", help="where the server posts the signed event when the job ends")
    submit.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE", help="repeatable")
    submit.add_argument("--idempotency-key", help="a retried submit with the same key returns the same job")
    submit.add_argument("--wait", action="store_true", help="wait for the result and print it")

    for name, text in (("status", "a job's state"), ("cancel", "cancel a job (or delete a finished one)")):
        action = actions.add_parser(name, help=text)
        action.add_argument("job_id")
        action.add_argument("--json", action="store_true", help="print the job object")

    for name, text in (
        ("result", "print a succeeded job's result"),
        ("wait", "wait for a job, then print its result"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("job_id")
        action.add_argument("--format", dest="response_format", choices=get_args(ResponseFormat))
        action.add_argument("-o", "--output", type=Path, help="write the result to this file")

    listing = actions.add_parser("list", help="your jobs, newest first")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--json", action="store_true", help="print the list object")
    parser.set_defaults(run=run)


def job_line(job: dict[str, Any]) -> str:
    """``job_ab12  running  41%  12:03 of 29:30  talk.ogg`` (one line a person reads)."""
    progress = job.get("progress") or {}
    fraction = progress.get("fraction")
    duration = job.get("duration")
    parts = [job["id"], f"{job['status']:<9}"]
    parts.append(f"{fraction * 100:3.0f}%" if fraction is not None else "   -")
    if duration:
        parts.append(f"{clock(progress.get('seconds') or 0)} of {clock(duration)}")
    parts.append(str(job.get("filename", "")))
    if job.get("error"):
        parts.append(f"({job['error'].get('message')})")
    return "  ".join(parts)


def run(args: argparse.Namespace) -> int:
    client = WhisperdClient(server_url_from(args.server, os.environ), api_key_from(os.environ))
    api = JobsApi(client)
    try:
        return _ACTIONS[args.action](api, args)
    except ServerError as exc:
        print(f"whisperd: {exc.message}", file=sys.stderr)
        return 1
    except JobFailed as exc:
        print(f"whisperd: job {exc.job.get('id')} {exc.status}: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()


def _submit(api: JobsApi, args: argparse.Namespace) -> int:
    if not args.file.is_file():
        print(f"whisperd: {args.file}: no such file", file=sys.stderr)
        return 2
    try:
        metadata = metadata_field(args.metadata)
    except ValueError as exc:
        print(f"whisperd: {exc}", file=sys.stderr)
        return 2
    fields = {"model": args.model, "response_format": args.response_format}
    fields["task"] = "translate" if args.translate else "transcribe"
    if args.language:
        fields["language"] = args.language
    if args.word_timestamps:
        fields["timestamp_granularities[]"] = "word"
    if args.webhook_url:
        fields["webhook_url"] = args.webhook_url
    if metadata:
        fields["metadata"] = metadata
    progress = Progress(sys.stderr, args.file.name, enabled=sys.stderr.isatty())
    try:
        job = api.submit(args.file, fields, idempotency_key=args.idempotency_key, on_upload=progress.upload)
    finally:
        progress.close()
    if not args.wait:
        print(job["id"])
        return 0
    args.job_id, args.output = job["id"], None
    return _wait(api, args)


def _status(api: JobsApi, args: argparse.Namespace) -> int:
    job = api.get(args.job_id)
    print(json.dumps(job, indent=2) if args.json else job_line(job))
    return 0


def _cancel(api: JobsApi, args: argparse.Namespace) -> int:
    job = api.cancel(args.job_id)
    print(json.dumps(job, indent=2) if args.json else job_line(job))
    return 0


def _list(api: JobsApi, args: argparse.Namespace) -> int:
    page = api.page(limit=args.limit)
    if args.json:
        print(json.dumps(page, indent=2))
    else:
        for job in page["data"]:
            print(job_line(job))
    return 0


def _result(api: JobsApi, args: argparse.Namespace) -> int:
    _emit(api.result(args.job_id, args.response_format), args.output)
    return 0


def _wait(api: JobsApi, args: argparse.Namespace) -> int:
    progress = Progress(sys.stderr, args.job_id, enabled=sys.stderr.isatty())

    def update(job: dict[str, Any]) -> None:
        if job.get("duration"):
            progress.audio(job["progress"]["seconds"], job["duration"])

    try:
        api.wait(args.job_id, update)
    finally:
        progress.close()
    _emit(api.result(args.job_id, args.response_format), args.output)
    return 0


def _emit(body: bytes, output: Path | None) -> None:
    if output is not None:
        temporary = output.with_name(f".{output.name}.partial")
        temporary.write_bytes(body)
        os.replace(temporary, output)
        return
    sys.stdout.buffer.write(body if not body or body.endswith(b"\n") else body + b"\n")
    sys.stdout.flush()


_ACTIONS = {
    "submit": _submit,
    "status": _status,
    "result": _result,
    "wait": _wait,
    "cancel": _cancel,
    "list": _list,
}
