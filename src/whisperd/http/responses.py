"""HTTP renderings: the one renderer of errors, and the streamed answer that stops its work when it ends.

Every failure the HTTP API answers, whatever raised it (a route, a middleware, FastAPI's own routing),
goes through :func:`error_response`, so the body is always OpenAI's and the retry headers always there.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Callable
from typing import Any

import anyio
from starlette.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from whisperd.errors import WhisperdError

__all__ = ["EventStream", "error_response", "sse"]


def error_response(error: WhisperdError, *, status: int | None = None) -> JSONResponse:
    """``error`` as an HTTP response: OpenAI's body, its status (or ``status``), its retry headers."""
    return JSONResponse(error.body(), status_code=status or error.status, headers=error.headers())


def sse(event: dict[str, Any]) -> bytes:
    """One Server-Sent Event as OpenAI sends them: a single ``data:`` line of JSON, then a blank line."""
    return f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


class EventStream(StreamingResponse):
    """``text/event-stream`` that calls ``on_close`` however it ends: completed, failed or abandoned.

    It always watches for the client's disconnection beside the stream (whatever ASGI version the server
    speaks), so that an abandoned stream stops its work at once; ``on_close`` runs even if the body was
    never started. The work's resources are not released here: they belong to the work, which releases
    them when its thread returns.
    """

    def __init__(self, events: AsyncIterable[bytes], on_close: Callable[[], None]) -> None:
        super().__init__(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    group.cancel_scope.cancel()

                group.start_soon(watch)
                await self.stream_response(send)
                group.cancel_scope.cancel()
        finally:
            self._on_close()
