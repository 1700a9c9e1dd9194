"""API keys: who may call ``/v1/*`` and ``/metrics``.

Keys come from ``WHISPERD_API_KEYS`` and/or ``WHISPERD_API_KEYS_FILE`` (re-read on SIGHUP, so keys can
be rotated without a restart). With no keys configured, the API is open, which is safe only on a
loopback address (see :func:`whisperd.security.bind_refusal`). A missing or wrong key is a 401 in the
OpenAI error shape - the official SDKs turn it into ``AuthenticationError`` - and keys are compared in
constant time and never logged. ``/health``, ``/`` and the page's static files stay open.
"""

from __future__ import annotations

import hmac
import logging
import threading
from pathlib import Path

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from whisperd.errors import error_body

__all__ = ["ApiKeys", "AuthMiddleware", "is_protected"]

logger = logging.getLogger("whisperd")


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


def is_protected(path: str) -> bool:
    return path.startswith("/v1/") or path == "/v1" or path == "/metrics"


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return None


class AuthMiddleware:
    """Rejects protected requests without a valid key before any body is read."""

    def __init__(self, app: ASGIApp, keys: ApiKeys) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys.enabled or not is_protected(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        token = _bearer(scope)
        if token and self.keys.accepts(token):
            await self.app(scope, receive, send)
            return
        if token is None:
            message = (
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        else:
            message = "Incorrect API key provided."
        response = JSONResponse(
            error_body(message, "invalid_request_error", None, "invalid_api_key"),
            status_code=401,
            headers={"WWW-Authenticate": "Bearer", "x-should-retry": "false"},
        )
        await response(scope, receive, send)
