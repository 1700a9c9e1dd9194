"""The Wyoming listener: one per process, beside the HTTP API, over the same runtime.

``whisperd serve --wyoming tcp://HOST:PORT`` binds the socket at start-up (:meth:`WyomingServer.bind`, so
that a port in use fails the command at once with a clear message) and hands the server to the HTTP
app, whose lifespan starts it after the runtime and stops it before the runtime closes.

Admission happens here, before a handler exists: a client outside ``WHISPERD_WYOMING_ALLOW_NETWORKS`` is
answered ``error`` (``client_not_allowed``) and closed, and so is one beyond
``WHISPERD_WYOMING_MAX_CONNECTIONS`` (``rate_limit_exceeded``). Stopping closes the listener and idle
connections at once, lets utterances being transcribed finish (at most ``grace_seconds``), then
cancels what is left, so a stop never waits on a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid

from wyoming.error import Error

from whisperd.config import WyomingEndpoint, WyomingLimits
from whisperd.errors import Forbidden, QueueFull, WhisperdError
from whisperd.observability.logs import LOGGER_NAME
from whisperd.observability.record import RequestRecord
from whisperd.runtime import Runtime
from whisperd.security import ClientNetworks
from whisperd.wyoming.handler import ROUTE, WyomingHandler, observe
from whisperd.wyoming.wire import MAX_HEADER_BYTES, close, write_event

__all__ = ["WyomingServer"]

logger = logging.getLogger(LOGGER_NAME)


class WyomingServer:
    """Accepts Wyoming connections on a bound socket and serves each with a :class:`WyomingHandler`."""

    def __init__(
        self, runtime: Runtime, sock: socket.socket, limits: WyomingLimits, *, grace_seconds: float = 30.0
    ) -> None:
        self._runtime = runtime
        self._sock = sock
        self._limits = limits
        self._networks = ClientNetworks(limits.allow_networks)
        self._grace = grace_seconds
        self._server: asyncio.Server | None = None
        self._handlers: dict[asyncio.Task[None], WyomingHandler] = {}

    @staticmethod
    def bind(endpoint: WyomingEndpoint) -> socket.socket:
        """A listening socket on ``endpoint`` (raises OSError: address in use, not on this machine...)."""
        family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
        return socket.create_server((endpoint.host, endpoint.port), family=family, backlog=128)

    @property
    def port(self) -> int:
        """The port really bound (what port 0 became)."""
        port: int = self._sock.getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, sock=self._sock, limit=MAX_HEADER_BYTES)
        host = self._sock.getsockname()[0]
        shown = f"[{host}]" if ":" in host else host
        logger.info("Wyoming (Home Assistant) listening on tcp://%s:%d", shown, self.port)

    async def stop(self) -> None:
        """Stop accepting, let transcriptions in progress finish (within the grace period), close the rest."""
        if self._server is None:
            return
        self._server.close()
        self._server = None
        handlers = dict(self._handlers)
        for task, handler in handlers.items():
            handler.closing = True
            if not handler.transcribing:
                task.cancel()
        busy = [task for task, handler in handlers.items() if handler.transcribing]
        if busy:
            _, late = await asyncio.wait(busy, timeout=self._grace)
            for task in late:
                task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if peer else ""
        if not self._networks.allows(address):
            logger.warning("wyoming: refused %s (not in WHISPERD_WYOMING_ALLOW_NETWORKS)", address)
            await self._refuse(
                reader, writer, Forbidden("This client's address may not use the Wyoming server.")
            )
            return
        if len(self._handlers) >= self._limits.max_connections:
            error = QueueFull(
                f"Too many Wyoming connections at once ({self._limits.max_connections}); try again shortly."
            )
            await self._refuse(reader, writer, error)
            return
        task = asyncio.current_task()
        assert task is not None
        handler = WyomingHandler(reader, writer, runtime=self._runtime, limits=self._limits)
        self._handlers[task] = handler
        try:
            await handler.run()
        finally:
            del self._handlers[task]

    async def _refuse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, error: WhisperdError
    ) -> None:
        """Answer a connection that is not admitted, count it, close it."""
        started = time.perf_counter()
        record = RequestRecord(request_id=uuid.uuid4().hex, method="WYOMING", path="connect", route=ROUTE)
        observe(self._runtime, record, error.status, started)
        with contextlib.suppress(ConnectionError, TimeoutError, RuntimeError):
            await asyncio.wait_for(write_event(Error(text=error.message, code=error.code).event(), writer), 5)
        await close(reader, writer)
