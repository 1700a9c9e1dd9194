"""Who may use the server, and where it may listen: API keys and the rules about exposure.

Framework-free, so that every front end applies the same keys and the same bind rules: the HTTP API
(``whisperd.http.middleware.auth``), and any listener that a later front end opens. Keys come from
``WHISPERD_API_KEYS`` and/or ``WHISPERD_API_KEYS_FILE`` (re-read on SIGHUP, so keys can be rotated without
a restart), are compared in constant time and are never logged.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
from pathlib import Path

__all__ = ["ApiKeys", "bind_refusal", "is_loopback"]

logger = logging.getLogger("whisperd")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost`` reach only this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_refusal(host: str, has_keys: bool, allow_unauthenticated: bool) -> str | None:
    """Why binding to ``host`` must be refused, or None when it is acceptable.

    Voice messages are private: an API reachable from a network without keys is refused unless the
    operator says so explicitly.
    """
    if is_loopback(host) or has_keys or allow_unauthenticated:
        return None
    return (
        f"refusing to listen on {host} without API keys: anyone on the network could use the server. "
        "Set WHISPERD_API_KEYS (or WHISPERD_API_KEYS_FILE), bind to 127.0.0.1, "
        "or pass --allow-unauthenticated (WHISPERD_ALLOW_UNAUTHENTICATED=true) if that exposure is intended."
    )


class ApiKeys:
    """The current set of accepted keys; thread-safe replacement on reload."""

    def __init__(self, keys: list[str], keys_file: Path | None = None) -> None:
        self._static = [k for k in keys if k]
        self._file = keys_file
        self._lock = threading.Lock()
        self._keys: tuple[bytes, ...] = ()
        self.reload()

    def reload(self) -> int:
        """Re-read the keys file (if any); returns how many keys are now accepted."""
        keys = list(self._static)
        if self._file is not None:
            try:
                for line in self._file.read_text().splitlines():
                    key = line.split("#", 1)[0].strip()
                    if key:
                        keys.append(key)
            except OSError as exc:
                logger.error("cannot read API keys file %s: %s", self._file, exc.strerror)
        with self._lock:
            self._keys = tuple(k.encode() for k in keys)
        return len(keys)

    @property
    def enabled(self) -> bool:
        return bool(self._keys) or self._file is not None

    def accepts(self, candidate: str) -> bool:
        """Constant-time comparison against every key (no early exit that would leak which matched)."""
        given = candidate.encode()
        with self._lock:
            keys = self._keys
        matched = False
        for key in keys:
            matched |= hmac.compare_digest(given, key)
        return matched
