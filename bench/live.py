"""The realtime scenario: held-out speech streamed at real time over OpenAI's Realtime transcription socket.

Each session streams one of the corpus's one-minute clips as 24 kHz PCM16 in 100 ms events, paced by the
clock, to a whisperd server (server VAD at OpenAI's defaults), and records when each turn's events
arrive. Reported per run of 1 and of N concurrent sessions: the first-delta delay (speech_started to the
turn's first partial text), end of speech to completed (speech_stopped to the completed transcript,
p50/p95), and the WER of the completed turns beside the WER of the same clip uploaded whole.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

from bench.corpus import Clip
from bench.report import percentile
from bench.servers import Server
from bench.wer import wer

__all__ = ["LiveRow", "live_rows", "render_live"]

RATE = 24_000
STEP_SECONDS = 0.1
TARGET_COMPLETED_P50 = 1.0


@dataclass
class _Turn:
    started: float | None = None
    stopped: float | None = None
    first_delta: float | None = None
    completed: float | None = None
    transcript: str = ""
    failed: bool = False


@dataclass
class _Session:
    turns: dict[str, _Turn] = field(default_factory=dict)

    def turn(self, item: str) -> _Turn:
        return self.turns.setdefault(item, _Turn())


@dataclass(frozen=True, slots=True)
class LiveRow:
    sessions: int
    turns: int
    first_delta_p50: float | None
    first_delta_p95: float | None
    completed_p50: float
    completed_p95: float
    wer_live: float
    wer_offline: float


def _pcm(clip: Clip) -> bytes:
    done = subprocess.run(
        ["sox", str(clip.path), "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16", "-c", "1", "-"],
        capture_output=True,
        check=True,
    )
    return done.stdout + b"\0" * (RATE * 2 * 2)  # two seconds of quiet after the last word


async def _stream(server: Server, audio: bytes) -> _Session:
    session = _Session()
    url = server.url.replace("http://", "ws://") + "/v1/realtime?intent=transcription"
    async with websockets.connect(url, max_size=None) as socket:
        await socket.recv()  # session.created
        update = {"type": "transcription", "audio": {"input": {"turn_detection": {"type": "server_vad"}}}}
        await socket.send(json.dumps({"type": "session.update", "session": update}))

        async def send() -> None:
            step = int(RATE * STEP_SECONDS) * 2
            began = time.monotonic()
            for index, start in enumerate(range(0, len(audio), step)):
                chunk = base64.b64encode(audio[start : start + step]).decode()
                await socket.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
                await asyncio.sleep(max(0.0, began + (index + 1) * STEP_SECONDS - time.monotonic()))

        sender = asyncio.create_task(send())
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 120:
            # the last turn's text may arrive before the last audio is sent: look again once a second
            done = all(t.completed is not None for t in session.turns.values() if t.stopped is not None)
            if sender.done() and done and session.turns:
                break
            try:
                message = json.loads(await asyncio.wait_for(socket.recv(), 1.0))
            except TimeoutError:
                continue
            quiet_since = time.monotonic()
            _note(session, message, quiet_since)
        await sender
    return session


def _note(session: _Session, event: dict[str, Any], now: float) -> None:
    kind, item = event.get("type"), event.get("item_id")
    if not isinstance(item, str):
        return
    turn = session.turn(item)
    if kind == "input_audio_buffer.speech_started":
        turn.started = now
    elif kind == "input_audio_buffer.speech_stopped":
        turn.stopped = now
    elif kind == "conversation.item.input_audio_transcription.delta" and turn.first_delta is None:
        turn.first_delta = now
    elif kind == "conversation.item.input_audio_transcription.completed":
        turn.completed = now
        turn.transcript = str(event.get("transcript", ""))
    elif kind == "conversation.item.input_audio_transcription.failed":
        turn.completed = now  # no text will come: counted as a failed turn, not waited for
        turn.failed = True


def _offline(server: Server, clip: Clip) -> float:
    with clip.path.open("rb") as handle:
        response = httpx.post(
            server.transcriptions_url, files={"file": (clip.path.name, handle)}, timeout=600
        )
    return wer(clip.text, response.json()["text"])


def _row(server: Server, clips: list[Clip]) -> LiveRow:
    audio = [_pcm(clip) for clip in clips]

    async def all_sessions() -> list[_Session]:
        return list(await asyncio.gather(*(_stream(server, a) for a in audio)))

    sessions = asyncio.run(all_sessions())
    firsts = [
        t.first_delta - t.started for s in sessions for t in s.turns.values() if t.first_delta and t.started
    ]
    completions = [
        t.completed - t.stopped
        for s in sessions
        for t in s.turns.values()
        if t.completed and t.stopped and not t.failed
    ]
    live = [" ".join(t.transcript for t in s.turns.values() if t.completed) for s in sessions]
    return LiveRow(
        sessions=len(clips),
        turns=len(completions),
        first_delta_p50=percentile(firsts, 50) if firsts else None,
        first_delta_p95=percentile(firsts, 95) if firsts else None,
        completed_p50=percentile(completions, 50),
        completed_p95=percentile(completions, 95),
        wer_live=sum(wer(c.text, text) for c, text in zip(clips, live, strict=True)) / len(clips),
        wer_offline=sum(_offline(server, c) for c in clips) / len(clips),
    )


def live_rows(server: Server, minute: tuple[Clip, ...], concurrent: int) -> list[LiveRow]:
    """One session alone, then ``concurrent`` at once (each a different clip where there are enough)."""
    return [
        _row(server, [minute[0]]),
        _row(server, [minute[i % len(minute)] for i in range(concurrent)]),
    ]


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def render_live(profile: str, rows: list[LiveRow]) -> str:
    """The realtime table, with the target for one session."""
    lines = [
        f"Live transcription over the Realtime socket (`{profile}`, server VAD at OpenAI's defaults, 24 kHz "
        "PCM16 in 100 ms events at real time):",
        "",
        "| sessions | turns | first delta p50 / p95 | end of speech -> completed p50 / p95 | WER live / offline "
        "| target |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        target = "-"
        if row.sessions == 1:
            met = row.completed_p50 <= TARGET_COMPLETED_P50
            target = f"completed <= {TARGET_COMPLETED_P50:.1f} s after speech stops (p50): {'met' if met else 'NOT MET'}"
        lines.append(
            f"| {row.sessions} | {row.turns} | {_seconds(row.first_delta_p50)} / {_seconds(row.first_delta_p95)} "
            f"| {row.completed_p50:.2f} / {row.completed_p95:.2f} s | {100 * row.wer_live:.1f} % / "
            f"{100 * row.wer_offline:.1f} % | {target} |"
        )
    lines += [
        "",
        "First delta: from the server's speech_started to the turn's first partial text. End of speech: the "
        "server's speech_stopped, which comes the VAD's 500 ms of silence after the last word. Offline: the "
        "same clip uploaded whole; live turns lose the context across pauses that one upload keeps.",
    ]
    return "\n".join(lines)
