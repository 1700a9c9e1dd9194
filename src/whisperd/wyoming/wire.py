"""Wyoming events on a socket: read within bounds (telling a closed connection from garbage), written,
and the connection closed so that the last event reaches the client.

The framing is the ``wyoming`` package's (:func:`wyoming.event.async_read_event`: a JSON header line,
then ``data_length`` bytes of JSON and ``payload_length`` bytes of payload). Used as it is on a socket
open to a network, it would trust the lengths a client announces (``payload_length`` of 10 GB is read
into memory), and it answers garbage exactly as it answers a clean close: with None. So it reads
through :class:`BoundedStream`, which refuses a header line beyond the stream's limit and a data block
or payload beyond ``max_block_bytes``, and remembers whether the connection reached its end; a None
from the package before the end then means a malformed event, and a header that is valid JSON but not
an event object is caught here too. Every such case is one :class:`~whisperd.errors.InvalidEvent`,
which the handler answers with an ``error`` event before closing.

Closing right after that answer while the client's unread bytes sit in the socket would make the
kernel reset the connection, and the client could lose the answer; :func:`close` half-closes first and
reads what is left for a moment.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import cast

from wyoming.event import Event, async_read_event, async_write_event

from whisperd.errors import InvalidEvent

__all__ = ["MAX_BLOCK_BYTES", "MAX_HEADER_BYTES", "BoundedStream", "close", "read_event", "write_event"]

MAX_HEADER_BYTES = 64 * 1024
"""Longest JSON header line (the StreamReader's limit, set when the listener is created)."""

MAX_BLOCK_BYTES = 4 * 1024 * 1024
"""Largest data block or payload of one event: 2 minutes of Home Assistant's 16 kHz 16-bit mono audio
in one chunk (it sends a few thousand bytes per chunk)."""


_LINGER_SECONDS = 1.0
"""How long :func:`close` waits for the client's side after the last event (then closes anyway)."""

write_event: Callable[[Event, asyncio.StreamWriter], Awaitable[None]] = async_write_event
"""The package's writer (one event: header line, data, payload), typed for this code base."""


class _Oversized(Exception):
    """Not a ValueError on purpose: the package swallows those, and this must reach the handler."""


class BoundedStream:
    """What the package's reader reads from: the connection's StreamReader, within bounds."""

    def __init__(self, reader: asyncio.StreamReader, *, max_block_bytes: int = MAX_BLOCK_BYTES) -> None:
        self._reader = reader
        self._max_block = max_block_bytes
        self.ended = False
        """The client closed its side: the next read returns nothing."""

    async def readline(self) -> bytes:
        try:
            line = await self._reader.readline()
        except ValueError:  # the line is longer than the reader's limit
            raise _Oversized("the event header line is too long") from None
        if not line:
            self.ended = True
        return line

    async def readexactly(self, n: int) -> bytes:
        if not isinstance(n, int) or isinstance(n, bool) or n > self._max_block:
            raise _Oversized(
                f"an event announces a block of {n!r} bytes; at most {self._max_block} are accepted"
            )
        return await self._reader.readexactly(n)


async def read_event(stream: BoundedStream) -> Event | None:
    """The next event, or None when the client has closed; raises :class:`InvalidEvent` for anything else.

    A client that closes in the middle of an event has closed: None, not an error.
    """
    try:
        event = await async_read_event(cast(asyncio.StreamReader, stream))
    except asyncio.IncompleteReadError:
        return None
    except _Oversized as exc:
        raise InvalidEvent(f"Malformed Wyoming event: {exc}.") from None
    except (AttributeError, KeyError, TypeError):  # JSON, but not an event object
        raise InvalidEvent("Malformed Wyoming event: the header is not an event object.") from None
    if event is None:
        if stream.ended:
            return None
        raise InvalidEvent("Malformed Wyoming event: the header is not valid JSON.")
    if not isinstance(event.type, str) or not isinstance(event.data, dict):
        raise InvalidEvent("Malformed Wyoming event: 'type' must be a string and 'data' an object.")
    return event


async def close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Close the connection after the last event, without a reset that could destroy that event."""
    with contextlib.suppress(ConnectionError, RuntimeError, OSError):
        if writer.can_write_eof() and not writer.is_closing():
            writer.write_eof()
    with contextlib.suppress(ConnectionError, TimeoutError, RuntimeError, OSError):
        async with asyncio.timeout(_LINGER_SECONDS):
            while await reader.read(65536):
                pass
    writer.close()
    with contextlib.suppress(ConnectionError, TimeoutError, RuntimeError, OSError):
        await asyncio.wait_for(writer.wait_closed(), _LINGER_SECONDS)
