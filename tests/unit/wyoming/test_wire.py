"""Reading events within bounds: real events pass, a clean close is None, everything else is one error."""

from __future__ import annotations

import asyncio
import io

import pytest
from wyoming.audio import AudioChunk
from wyoming.event import Eventable, write_event
from wyoming.info import Describe

from whisperd.errors import InvalidEvent
from whisperd.wyoming.wire import BoundedStream, read_event


def _framed(*events: Eventable) -> bytes:
    """Events as the package frames them (header line, data, payload)."""
    out = io.BytesIO()
    for event in events:
        write_event(event.event(), out)
    return out.getvalue()


def _read_all(data: bytes, *, limit: int = 64 * 1024, max_block: int = 1024) -> list[object]:
    """Every outcome of reading ``data`` then EOF: events, None at the end, or the error that stops it."""

    async def read() -> list[object]:
        reader = asyncio.StreamReader(limit=limit)
        reader.feed_data(data)
        reader.feed_eof()
        stream = BoundedStream(reader, max_block_bytes=max_block)
        outcomes: list[object] = []
        while True:
            try:
                event = await read_event(stream)
            except InvalidEvent as exc:
                outcomes.append(exc)
                return outcomes
            outcomes.append(event)
            if event is None:
                return outcomes

    return asyncio.run(read())


def test_events_then_a_clean_close() -> None:
    chunk = AudioChunk(rate=16000, width=2, channels=1, audio=b"\x01\x00" * 100)
    first, second, end = _read_all(_framed(Describe(), chunk))
    assert getattr(first, "type", None) == "describe"
    assert getattr(second, "payload", None) == chunk.audio
    assert getattr(second, "data", {})["rate"] == 16000
    assert end is None


def test_a_close_in_the_middle_of_an_event_is_a_close() -> None:
    framed = _framed(AudioChunk(rate=16000, width=2, channels=1, audio=b"\x00" * 200))
    assert _read_all(framed[:-50]) == [None]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x00\xffgarbage\n", "not valid JSON"),
        (b"[1, 2]\n", "not an event object"),
        (b'"describe"\n', "not an event object"),
        (b'{"data": {}}\n', "not an event object"),
        (b'{"type": 5}\n', "'type' must be a string"),
        (b'{"type": "describe", "data": [1]}\n', "'data' an object"),
        (b'{"type": "audio-chunk", "payload_length": 999999999}\n', "at most 1024"),
        (b'{"type": "audio-chunk", "payload_length": 1.5}\n', "block of 1.5 bytes"),
        (b'{"type": "audio-chunk", "payload_length": "9"}\n', "not an event object"),
        (b'{"type": "describe", "data_length": 3}\n[1]', "not an event object"),
        (b"x" * 5000 + b"\n", "header line is too long"),
    ],
)
def test_anything_else_is_one_error(data: bytes, why: str) -> None:
    outcomes = _read_all(data, limit=4096)
    assert len(outcomes) == 1
    assert isinstance(outcomes[0], InvalidEvent)
    assert why in outcomes[0].message
    assert outcomes[0].code == "invalid_event"


def test_garbage_after_a_good_event_is_still_caught() -> None:
    outcomes = _read_all(_framed(Describe()) + b"}{\n")
    assert getattr(outcomes[0], "type", None) == "describe"
    assert isinstance(outcomes[1], InvalidEvent)
