"""``whisperd discover [--timeout S] [--url]``: the whisperd servers on the LAN, found by name (mDNS).

Lists each server that announces itself (``_whisperd._tcp``: see :mod:`whisperd.discovery.records`)
with its name, URL, whether it wants an API key and its models. ``--url`` prints only the first
server's URL, for scripts::

    WHISPER_API_URL=$(whisperd discover --url)/v1/audio/transcriptions clients/transcribe.sh note.ogg

``whisperd transcribe --server auto`` and ``whisperd doctor --server auto`` use :func:`find_server`.
Exit status 1 when no server answered in time. A server announces itself only when it listens beyond
loopback (see the README's "Found by name").
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from whisperd.discovery.records import FoundServer

__all__ = ["AUTO", "DEFAULT_TIMEOUT", "find_server", "format_servers", "register", "run"]

AUTO = "auto"
"""What ``--server`` takes to mean: find the server on the LAN."""

DEFAULT_TIMEOUT = 3.0
"""Seconds to wait for answers: mDNS responders answer within a few hundred milliseconds."""


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "discover",
        help="list the whisperd servers on the LAN",
        description="List the whisperd servers on the LAN, found by name (mDNS): name, URL, auth, models.",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds to wait (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument("--url", action="store_true", help="print only the first server's URL (for scripts)")
    parser.set_defaults(run=run)


def find_server(timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """The URL of the first whisperd server that answers on the LAN, or None."""
    from whisperd.discovery.browse import browse

    found = browse(timeout, first=True)
    return found[0].url if found else None


def format_servers(servers: Sequence[FoundServer]) -> str:
    """One aligned line per server: name, URL, auth, models."""
    rows = [("NAME", "URL", "AUTH", "MODELS")]
    rows += [(s.name, s.url, s.auth, ", ".join(s.models) or "-") for s in servers]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in rows
    )


def run(args: argparse.Namespace) -> int:
    from whisperd.discovery.browse import browse

    servers = browse(args.timeout, first=args.url)
    if not servers:
        print(
            f"whisperd: no whisperd server answered on the LAN within {args.timeout:g} s "
            "(a server announces itself only when it listens beyond 127.0.0.1, without --no-advertise)",
            file=sys.stderr,
        )
        return 1
    if args.url:
        print(servers[0].url)
        return 0
    print(format_servers(servers))
    if any(server.auth == "keys" for server in servers):
        print(
            "\nservers with auth 'keys' want an API key: set WHISPER_API_KEY (or OPENAI_API_KEY)",
            file=sys.stderr,
        )
    return 0
