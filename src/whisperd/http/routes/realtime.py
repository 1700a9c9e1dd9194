"""``/v1/realtime?intent=transcription``: OpenAI's Realtime transcription socket, and its client secrets.

The socket adapts a WebSocket to a :class:`~whisperd.realtime.session.RealtimeSession`: it refuses what
it must before accepting (a conversation session, too many sessions: an HTTP answer in OpenAI's error
shape), picks the dialect (``OpenAI-Beta: realtime=v1`` speaks the beta event names), and closes the
session when the client goes quiet for too long or the session reaches its maximum length, saying why
first. The key check happened in the auth middleware (a bearer header, the
``openai-insecure-api-key.<key>`` subprotocol, or a client secret).

``POST /v1/realtime/client_secrets`` gives a short-lived secret for the socket, so that a web page can
open it without holding a real key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from whisperd.errors import InvalidParameter, InvalidRequest, WhisperdError
from whisperd.http.middleware.observe import record_of
from whisperd.http.responses import error_response
from whisperd.http.routes import runtime_of
from whisperd.realtime.protocol import Dialect
from whisperd.realtime.session import LiveLimits, RealtimeSession
from whisperd.runtime import Runtime

__all__ = ["client_secrets", "realtime", "router"]

router = APIRouter(tags=["realtime"])

_DRAIN_SECONDS = 30.0
"""After the client stops sending, how long committed turns may take to arrive before the socket closes."""


def _limits(request: WebSocket) -> LiveLimits:
    settings = runtime_of(request).settings
    return LiveLimits(
        partial_seconds=settings.realtime_partial_seconds,
        max_buffer_seconds=settings.realtime_max_buffer_seconds,
        idle_seconds=settings.realtime_idle_seconds,
        max_session_seconds=settings.realtime_max_session_seconds,
    )


def _subprotocol(websocket: WebSocket) -> str | None:
    """The subprotocol to accept: browsers that offer some fail a handshake that picks none."""
    offered: list[str] = websocket.scope.get("subprotocols") or []
    if "realtime" in offered:
        return "realtime"
    return offered[0] if offered else None


async def _refuse(websocket: WebSocket, error: WhisperdError) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(error_response(error))
    else:
        await websocket.close(code=1008, reason=error.message[:120])


@router.websocket("/v1/realtime")
async def realtime(websocket: WebSocket, intent: str | None = None, model: str | None = None) -> None:
    runtime = runtime_of(websocket)
    if intent != "transcription":
        await _refuse(
            websocket,
            InvalidParameter(
                "This server offers transcription sessions: connect to /v1/realtime?intent=transcription "
                "(without a model; choose it in session.update).",
                param="intent",
            ),
        )
        return
    not_ready = runtime.readiness()
    if not_ready is not None:
        await _refuse(websocket, not_ready)
        return
    try:
        with runtime.live.session():
            await _serve(websocket, runtime, _limits(websocket))
    except WhisperdError as error:  # the session limit
        await _refuse(websocket, error)


async def _serve(websocket: WebSocket, runtime: Runtime, limits: LiveLimits) -> None:
    dialect: Dialect = "beta" if websocket.headers.get("openai-beta", "").startswith("realtime=v1") else "ga"
    record = record_of(websocket)
    record.task = "realtime"
    await websocket.accept(subprotocol=_subprotocol(websocket))
    session = RealtimeSession(
        runtime.service,
        websocket.send_json,
        runtime.speech_scorer,
        dialect=dialect,
        limits=limits,
        observer=runtime.metrics,
        budget=runtime.drafts,
    )
    await session.open()
    ends = time.monotonic() + limits.max_session_seconds
    try:
        while True:
            remaining = ends - time.monotonic()
            quiet = min(limits.idle_seconds, remaining)
            try:
                async with asyncio.timeout(max(0.0, quiet)):
                    message = await websocket.receive()
            except TimeoutError:
                if session.busy and remaining > limits.idle_seconds:
                    continue  # the client waits for its turns' text: that is not idleness
                if remaining <= limits.idle_seconds:
                    session.expire("session_expired", f"The session reached its maximum duration of "
                                   f"{limits.max_session_seconds:g} seconds.")  # fmt: skip
                else:
                    session.expire("session_idle_timeout", f"No events for {limits.idle_seconds:g} seconds: "
                                   "the session is closed.")  # fmt: skip
                break
            if message["type"] == "websocket.disconnect":
                return
            await session.handle(message.get("text") or message.get("bytes") or b"")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_DRAIN_SECONDS):
                await session.drain()
        if websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close(code=1000)
    finally:
        await session.close()


@router.post("/v1/realtime/client_secrets", summary="A short-lived secret for the live transcription socket")
async def client_secrets(request: Request) -> dict[str, Any]:
    runtime = runtime_of(request)
    seconds = _asked_seconds(await request.body()) or runtime.settings.client_secret_seconds
    value, expires_at = runtime.client_secrets.issue(seconds)
    return {
        "value": value,
        "expires_at": expires_at,
        "session": {"type": "transcription", "object": "realtime.transcription_session"},
    }


def _asked_seconds(body: bytes) -> int | None:
    """``expires_after.seconds`` of an optional JSON body, checked as OpenAI checks it (10 to 7200)."""
    if not body.strip():
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        raise InvalidRequest("The body must be JSON.") from None
    expires = parsed.get("expires_after") if isinstance(parsed, dict) else None
    seconds = expires.get("seconds") if isinstance(expires, dict) else None
    if seconds is None:
        return None
    if not isinstance(seconds, int) or not 10 <= seconds <= 7200:
        raise InvalidParameter(
            "expires_after.seconds must be an integer from 10 to 7200.", param="expires_after.seconds"
        )
    return seconds
