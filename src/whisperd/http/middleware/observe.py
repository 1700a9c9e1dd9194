"""One middleware observes every request and socket: its id, its timing, its status, its log line and metrics.

It gives each request an id (a client's ``X-Request-ID`` when it is well-formed, else a new one),
echoes it, puts a :class:`~whisperd.observability.record.RequestRecord` in the scope for the route to
fill, and when the answer is over (a stream included) writes the log line and updates the metrics from
that one record. On a cluster, ``X-Whisperd-Replica`` names the replica that did the work. WebSocket
sessions are observed the same way: status 101 once accepted, the denial's status when refused, 403
when closed before accepting.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from fastapi.routing import RouteContext, iter_route_contexts
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from whisperd.observability.logs import is_request_id, log_request
from whisperd.observability.metrics import Metrics
from whisperd.observability.record import RequestRecord, serve_record

__all__ = ["ObserveMiddleware", "record_of", "route_label"]


def record_of(connection: HTTPConnection) -> RequestRecord:
    """The record of the request or socket being served (made by the middleware)."""
    record: RequestRecord = connection.scope["state"]["record"]
    return record


def route_label(scope: Scope, routes: list[RouteContext]) -> str:
    """The route's path template (``/v1/models/{model_id:path}``), or ``unmatched``.

    Templates rather than raw paths keep the label set bounded: a scanner probing random URLs must
    not be able to create a time series per URL. A request answered before routing (a 401 from the
    key check) has no route in its scope yet; it is matched against ``routes`` here.
    """
    route: object = scope.get("route")
    if route is None:
        route = next((r for r in routes if r.matches(scope)[0] is not Match.NONE), None)
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


class ObserveMiddleware:
    """Outermost: even a 401 from the key check gets a request id, a log line and a count."""

    def __init__(
        self, app: ASGIApp, metrics: Callable[[], Metrics], routes: Callable[[], list[BaseRoute]]
    ) -> None:
        self.app = app
        self._metrics = metrics
        self._routes = routes
        self._flat: list[RouteContext] | None = None

    def _flat_routes(self) -> list[RouteContext]:
        """Every endpoint with its full path (FastAPI nests included routers); built once, on first use."""
        if self._flat is None:
            self._flat = list(iter_route_contexts(self._routes()))
        return self._flat

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        record = RequestRecord(
            request_id=incoming if is_request_id(incoming) else uuid.uuid4().hex,
            method=scope.get("method", "WS"),
            path=scope.get("path", ""),
        )
        scope.setdefault("state", {})["record"] = record
        serve_record(record)
        started = time.perf_counter()

        async def observed_send(message: Message) -> None:
            kind = message["type"]
            if kind in ("http.response.start", "websocket.http.response.start"):
                record.status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = record.request_id
                if record.replica is not None:
                    headers["X-Whisperd-Replica"] = record.replica
            elif kind == "websocket.accept":
                record.status = 101
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"x-request-id", record.request_id.encode())],
                }
            elif kind == "websocket.close" and record.status == 499:
                record.status = 403  # closed before it was accepted: what the client sees
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        except Exception:
            record.status = 500
            raise
        finally:
            record.elapsed = time.perf_counter() - started
            record.route = route_label(scope, self._flat_routes())
            log_request(record)
            self._metrics().observe(record)
