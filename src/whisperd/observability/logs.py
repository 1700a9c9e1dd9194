"""Logging: stderr plus a rotating file (10 MB x 5), and one line per request with its request id.

The request line (:class:`~whisperd.observability.record.RequestRecord`) carries what an operator needs
to see load and trouble (id, task, status, file name, bytes, audio seconds, language, elapsed seconds,
real-time factor) and, by default, no transcript text and no audio. File names and paths are sanitised
so that a client cannot forge log lines.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path
from typing import Any

from whisperd.observability.record import RequestRecord

__all__ = ["LOGGER_NAME", "configure_logging", "format_fields", "is_request_id", "log_request", "sanitize"]

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


def is_request_id(value: str) -> bool:
    """Whether a client's ``X-Request-ID`` may be used as it is (short, no spaces or controls)."""
    return bool(_ID_PATTERN.fullmatch(value))


def sanitize(value: str, limit: int = 80) -> str:
    """A file name fit for a log line: no control characters, quotes or newlines; bounded length."""
    cleaned = _UNSAFE.sub("_", value)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def format_fields(fields: dict[str, Any]) -> str:
    """``key=value`` pairs; None left out, floats to the millisecond."""
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, float):
            value = f"{value:.3f}"
        parts.append(f"{key}={value}")
    return " ".join(parts)


def log_request(record: RequestRecord) -> None:
    """The request's one log line (health checks and scrapes at DEBUG, so they do not drown the rest)."""
    record.path = _CONTROL.sub("?", record.path)[:200]  # a client must not forge log lines
    level = logging.DEBUG if record.path in {"/health", "/metrics"} else logging.INFO
    logger.log(level, format_fields(record.fields()))
