"""A Home Assistant-style Wyoming client for tests, built on the ``wyoming`` package's own client.

:func:`utterance` does exactly what Home Assistant's ``stt.py`` does for one utterance: a new
connection, ``transcribe{language}``, ``audio-start{16000, 2, 1}``, the audio in small chunks,
``audio-stop``, then events until a ``transcript`` (or here also an ``error``, which Home Assistant
skips before it sees the connection close).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe, Info

__all__ = [
    "CHUNK_BYTES",
    "Reply",
    "Streamed",
    "connect",
    "describe",
    "pcm_of",
    "read_until",
    "send_audio",
    "streamed_utterance",
    "utterance",
]

CHUNK_BYTES = 2048
"""64 ms of 16 kHz 16-bit mono per ``audio-chunk``, the order of what Home Assistant streams."""


class Reply:
    """The event that ended an utterance and how long after ``audio-stop`` it came."""

    def __init__(self, event: Event | None, seconds: float) -> None:
        self.event = event
        self.seconds = seconds

    @property
    def type(self) -> str | None:
        return None if self.event is None else self.event.type

    @property
    def text(self) -> str:
        assert self.event is not None
        assert self.event.type == "transcript", self.event
        text = self.event.data["text"]
        assert isinstance(text, str)
        return text

    @property
    def code(self) -> str | None:
        assert self.event is not None
        assert self.event.type == "error", self.event
        code = self.event.data.get("code")
        return code if isinstance(code, str) else None


def pcm_of(path: Path) -> bytes:
    """``path`` as 16 kHz 16-bit mono PCM, decoded exactly as the HTTP API decodes an upload."""
    from whisperd.media.audio import decode_blocks

    blocks = list(decode_blocks(path, max_seconds=3600, max_decode_seconds=120))
    return np.concatenate(blocks).astype("<i2").tobytes()


async def connect(port: int, host: str = "127.0.0.1") -> AsyncTcpClient:
    client = AsyncTcpClient(host, port)
    await client.connect()
    return client


async def read_until(client: AsyncTcpClient, *types: str) -> Event | None:
    """The first event of one of ``types``, skipping others; None if the server closed first."""
    while True:
        event = await client.read_event()
        if event is None or event.type in types:
            return event


async def describe(port: int, host: str = "127.0.0.1") -> tuple[Info, float]:
    """The server's ``info`` and how long it took to come (Home Assistant waits one second)."""
    client = await connect(port, host)
    try:
        started = time.perf_counter()
        await client.write_event(Describe().event())
        async with asyncio.timeout(10):
            event = await read_until(client, "info")
        assert event is not None
        return Info.from_event(event), time.perf_counter() - started
    finally:
        await client.disconnect()


async def send_audio(
    client: AsyncTcpClient,
    pcm: bytes,
    *,
    rate: int = 16000,
    width: int = 2,
    channels: int = 1,
    real_time: bool = False,
) -> None:
    """``audio-start``, the chunks (``real_time``: each when a microphone would have it), ``audio-stop``."""
    await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
    step = CHUNK_BYTES * width * channels // 2
    began = time.monotonic()
    for start in range(0, len(pcm), step):
        if real_time:
            await asyncio.sleep(max(0.0, began + start / (rate * width * channels) - time.monotonic()))
        chunk = AudioChunk(rate=rate, width=width, channels=channels, audio=pcm[start : start + step])
        await client.write_event(chunk.event())
    await client.write_event(AudioStop().event())


async def utterance(
    port: int,
    pcm: bytes,
    *,
    language: str | None = "en",
    name: str | None = None,
    rate: int = 16000,
    width: int = 2,
    channels: int = 1,
    host: str = "127.0.0.1",
) -> Reply:
    """One utterance on a new connection, as Home Assistant sends it; the transcript or error."""
    client = await connect(port, host)
    try:
        await client.write_event(Transcribe(name=name, language=language).event())
        await send_audio(client, pcm, rate=rate, width=width, channels=channels)
        stopped = time.perf_counter()
        async with asyncio.timeout(300):
            event = await read_until(client, "transcript", "error")
        return Reply(event, time.perf_counter() - stopped)
    finally:
        await client.disconnect()


class Streamed:
    """Every event of one utterance sent at real time, each with whether it came before ``audio-stop``."""

    def __init__(self, events: list[tuple[Event, bool]]) -> None:
        self.events = events

    @property
    def types(self) -> list[str]:
        return [event.type for event, _ in self.events]

    def texts(self, kind: str) -> list[str]:
        return [str(event.data["text"]) for event, _ in self.events if event.type == kind]

    def while_speaking(self, kind: str) -> list[str]:
        return [str(event.data["text"]) for event, early in self.events if event.type == kind and early]


async def streamed_utterance(port: int, pcm: bytes, *, language: str | None = "en") -> Streamed:
    """One utterance as a microphone sends it, reading the server's events as they come, until
    ``transcript-stop`` or an ``error``."""
    client = await connect(port)
    stopped = asyncio.Event()
    events: list[tuple[Event, bool]] = []

    async def read() -> None:
        while (event := await client.read_event()) is not None:
            events.append((event, not stopped.is_set()))
            if event.type in ("transcript-stop", "error"):
                return

    try:
        reader = asyncio.create_task(read())
        await client.write_event(Transcribe(language=language).event())
        await send_audio(client, pcm, real_time=True)
        stopped.set()
        async with asyncio.timeout(120):
            await reader
        return Streamed(events)
    finally:
        await client.disconnect()
