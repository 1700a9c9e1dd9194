"""API keys in front of ``/v1/*`` and ``/metrics``, for HTTP requests and WebSocket handshakes alike.

A missing or wrong key is a 401 in the OpenAI error shape (the official SDKs turn it into
``AuthenticationError``), answered before any body is read. A WebSocket is refused before it opens:
with a 401 response where the server supports denial responses, otherwise closed with policy code 1008.
Browsers cannot set headers on a WebSocket, so a socket may also carry its key as OpenAI's
``openai-insecure-api-key.<key>`` subprotocol, and the live socket also accepts a short-lived client
secret (``POST /v1/realtime/client_secrets``) so that a page need not hold a real key. ``/health``, ``/``
and the page's static files stay open.

An accepted key's identity (:func:`~whisperd.security.key_identity`, never the key) goes into the
request's state for what is owned per key (jobs): :func:`owner_of` reads it; with keys off it is "".
"""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from whisperd.errors import AuthenticationFailed
from whisperd.http.responses import error_response
from whisperd.security import ApiKeys, ClientSecrets, key_identity

__all__ = ["AuthMiddleware", "is_protected", "owner_of", "presented_key"]

_SUBPROTOCOL_PREFIX = "openai-insecure-api-key."


def is_protected(path: str) -> bool:
    return path.startswith("/v1/") or path == "/v1" or path == "/metrics"


def presented_key(scope: Scope) -> str | None:
    """The key a client presents: a bearer token, or (sockets) the key subprotocol; None when absent."""
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            text: str = bytes(value).decode("latin-1")
            scheme, _, token = text.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    if scope["type"] == "websocket":
        for name, value in scope.get("headers") or []:
            if name == b"sec-websocket-protocol":
                offered: str = bytes(value).decode("latin-1")
                for protocol in offered.split(","):
                    if protocol.strip().startswith(_SUBPROTOCOL_PREFIX):
                        return protocol.strip()[len(_SUBPROTOCOL_PREFIX) :]
    return None


def owner_of(connection: HTTPConnection) -> str:
    """The identity of the key this request was accepted with ("" when keys are off)."""
    owner: str = connection.scope.get("state", {}).get("owner", "")
    return owner


def _is_live_socket(scope: Scope) -> bool:
    return bool(scope["type"] == "websocket" and scope.get("path") == "/v1/realtime")


class AuthMiddleware:
    """Rejects protected requests and sockets without a valid key before anything else happens."""

    def __init__(self, app: ASGIApp, keys: ApiKeys, secrets: ClientSecrets) -> None:
        self.app = app
        self.keys = keys
        self.secrets = secrets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] not in ("http", "websocket")
            or not self.keys.enabled
            or not is_protected(scope.get("path", ""))
        ):
            await self.app(scope, receive, send)
            return
        key = presented_key(scope)
        if key and self.keys.accepts(key):
            scope.setdefault("state", {})["owner"] = key_identity(key)
            await self.app(scope, receive, send)
            return
        if key and self._client_secret(scope, key):
            await self.app(scope, receive, send)
            return
        refusal = error_response(AuthenticationFailed(key_given=key is not None))
        if scope["type"] == "http":
            await refusal(scope, receive, send)
        elif "websocket.http.response" in scope.get("extensions", {}):
            await WebSocket(scope, receive, send).send_denial_response(refusal)
        else:
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008, "reason": "invalid_api_key"})

    def _client_secret(self, scope: Scope, key: str) -> bool:
        """A client secret opens the live socket, and nothing else."""
        return _is_live_socket(scope) and self.secrets.accepts(key)
