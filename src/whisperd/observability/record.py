"""What one request did, as one typed record: filled by the front end, read by the log line and metrics.

A record replaces the loose dict of magic keys that handlers used to fill: a misspelt field is now a
type error, not a silently missing metric. Every front end makes one per request (an HTTP request, a
WebSocket session, a Wyoming utterance) and hands it to :func:`whisperd.observability.logs.log_request`
and :meth:`whisperd.observability.metrics.Metrics.observe` when the request ends.

The record being served is also reachable from the code below its front end through
:func:`current_record`, for the one fact only that code learns: which replica of a cluster did the work.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

__all__ = ["RequestRecord", "current_record", "serve_record"]


@dataclass(slots=True)
class RequestRecord:
    """One request, from its id to its outcome. Fields left None are left out of the log line."""

    request_id: str
    method: str | None = None
    path: str = ""
    route: str = "unmatched"
    """The route's path template (a bounded metric label, unlike the raw path)."""
    status: int = 499
    """499 until an answer starts: the client left before one did."""
    task: str | None = None
    response_format: str | None = None
    file: str | None = None
    bytes: int | None = None
    audio_seconds: float | None = None
    language: str | None = None
    text: str | None = None
    """The transcript, only when the operator asked for transcripts in the log."""
    segments: int | None = None
    cancelled: bool | None = None
    replica: str | None = None
    """The cluster replica (``host:pid``) that did the work; None in a single process."""
    elapsed: float = 0.0

    def fields(self) -> dict[str, Any]:
        """The log line's fields, in the order an operator reads them."""
        line: dict[str, Any] = {
            "request_id": self.request_id,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "task": self.task,
            "file": self.file,
            "bytes": self.bytes,
            "format": self.response_format,
            "audio_s": self.audio_seconds,
            "language": self.language,
            "text": None if self.text is None else json.dumps(self.text),
            "segments": self.segments,
            "cancelled": self.cancelled,
            "replica": self.replica,
            "elapsed_s": self.elapsed,
        }
        if self.audio_seconds and self.elapsed > 0:
            line["rtf"] = self.elapsed / self.audio_seconds
        return line


_CURRENT: ContextVar[RequestRecord | None] = ContextVar("whisperd_request_record", default=None)


def serve_record(record: RequestRecord) -> None:
    """Make ``record`` the current one for the task serving it (and the tasks it starts)."""
    _CURRENT.set(record)


def current_record() -> RequestRecord | None:
    """The record of the request being served, or None outside one."""
    return _CURRENT.get()
