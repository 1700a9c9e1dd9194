"""Logging: stderr plus a rotating file (10 MB x 5), and one line per request with its request id.

The request line carries what an operator needs to see load and trouble (id, endpoint, status, file
name, bytes, audio seconds, language, elapsed seconds, real-time factor) and, by default, no transcript
text and no audio. File names are sanitised so that a client cannot forge log lines.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import time
import uuid
from pathlib import Path
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["LOGGER_NAME", "RequestContextMiddleware", "configure_logging", "log_fields", "sanitize"]

LOGGER_NAME = "whisperd"
_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_UNSAFE = re.compile(r"[^\w.\- ()\[\]+,@]")

logger = logging.getLogger(LOGGER_NAME)


def configure_logging(log_dir: Path | None, level: str) -> Path | None:
    """Attach the stderr and rotating-file handlers once; returns the log file path (None if unwritable)."""
    root = logging.getLogger(LOGGER_NAME)
    root.setLevel(level)
    for handler in list(root.handlers):
        if getattr(handler, "_whisperd", False):
            root.removeHandler(handler)
            handler.close()
    formatter = logging.Formatter(_FORMAT)
    stream = logging.StreamHandler()
    stream.setFormatter(formatter)
    stream._whisperd = True  # type: ignore[attr-defined]
    root.addHandler(stream)
    root.propagate = False
    if log_dir is None:
        return None
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / "whisperd.log"
        rotating = logging.handlers.RotatingFileHandler(path, maxBytes=10 * 1024 * 1024, backupCount=5)
    except OSError as exc:
        root.warning("cannot write logs to %s (%s); logging to stderr only", log_dir, exc)
        return None
    rotating.setFormatter(formatter)
    rotating._whisperd = True  # type: ignore[attr-defined]
    root.addHandler(rotating)
    return path


def sanitize(value: str, limit: int = 80) -> str:
    """A file name fit for a log line: no control characters, quotes or newlines; bounded length."""
    cleaned = _UNSAFE.sub("_", value)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def log_fields(scope: Scope) -> dict[str, Any]:
    """The per-request dict that handlers fill and the middleware logs."""
    state = scope.setdefault("state", {})
    fields: dict[str, Any] = state.setdefault("log_fields", {})
    return fields


def _format(fields: dict[str, Any]) -> str:
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, float):
            value = f"{value:.3f}"
        parts.append(f"{key}={value}")
    return " ".join(parts)


class RequestContextMiddleware:
    """Gives every request an id (from ``X-Request-ID`` or new), echoes it, and logs one line at the end."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _ID_PATTERN.fullmatch(incoming) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        fields = log_fields(scope)
        started = time.perf_counter()
        status = [499]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            status[0] = 500
            raise
        finally:
            path = _CONTROL.sub("?", scope.get("path", ""))[:200]  # a client must not forge log lines
            elapsed = time.perf_counter() - started
            line = {
                "request_id": request_id,
                "method": scope.get("method"),
                "path": path,
                "status": status[0],
            }
            line.update(fields)
            line["elapsed_s"] = elapsed
            audio = fields.get("audio_s")
            if isinstance(audio, float) and elapsed > 0 and audio > 0:
                line["rtf"] = elapsed / audio
            level = logging.DEBUG if path in {"/health", "/metrics"} else logging.INFO
            logger.log(level, _format(line))
