"""``whisperd [--version] COMMAND ...``: dispatches to the sub-command modules."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from whisperd import __version__
from whisperd.cli import discover, doctor, jobs, models, serve, service, transcribe
from whisperd.observability.memory import limit_malloc_arenas

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whisperd", description="Self-hosted OpenAI-compatible speech-to-text."
    )
    parser.add_argument("--version", action="version", version=f"whisperd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.register(commands)
    models.register(commands)
    transcribe.register(commands)
    jobs.register(commands)
    service.register(commands)
    discover.register(commands)
    doctor.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    limit_malloc_arenas()  # first, before any thread allocates: see whisperd.observability.memory
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
