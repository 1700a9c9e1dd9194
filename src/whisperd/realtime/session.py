"""One live transcription session: audio in, turns found, text out while the person speaks, then the turn.

The socket hands every client event to :meth:`RealtimeSession.handle`; the session answers through
``send`` (one ordered outbox, so events never interleave). Appended audio is converted to 16 kHz,
scored by Silero VAD off the event loop, and cut into turns (:mod:`whisperd.realtime.turns`) or, with
turn detection off, committed by the client. While a turn grows, it is decoded again every
``partial_seconds`` of new audio as a best-effort draft that never queues (a busy server simply shows
fewer partials), and only the words two drafts agree on are sent (:mod:`whisperd.realtime.agreement`).
A committed turn is transcribed in full through the transcription service like any request, turn
after turn in order, and its ``completed`` event carries the final text. Drafts are spaced by their own
cost (never more than about half the session's time), and the final decode starts as soon as a pause
looks like the end of the turn, before the VAD's silence has confirmed it: when the turn does end, its
text is ready or nearly; when the speaker goes on, that early decode is dropped.

Memory is bounded: the buffer holds the current turn (at most ``max_turn_seconds``, or
``max_buffer_seconds`` when the client commits), and at most ``max_pending_turns`` committed turns
wait for their final decode; a client that sends audio faster than it can be transcribed is told so
(``transcription.failed`` with ``rate_limit_exceeded``) instead of piling up audio.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from whisperd.engine.types import SAMPLE_RATE, Cancelled, CancelToken, SpeechScorer, Transcript
from whisperd.errors import (
    AudioBufferFull,
    EmptyAudioBuffer,
    InvalidParameter,
    InvalidRequest,
    QueueFull,
    WhisperdError,
)
from whisperd.media.pcm import PcmConverter, PcmFormat, decode_g711, pcm16_to_float
from whisperd.realtime.agreement import Agreement
from whisperd.realtime.protocol import (
    Dialect,
    SessionConfig,
    apply_beta,
    apply_ga,
    event,
    new_id,
    session_payload,
)
from whisperd.realtime.turns import TurnDetector, TurnSettings
from whisperd.service.drafts import DraftBudget, Drafts
from whisperd.service.transcription import Samples, Transcription, TranscriptionRequest

__all__ = ["LiveLimits", "RealtimeSession", "TurnObserver"]

logger = logging.getLogger("whisperd")

MAX_EVENT_BYTES = 15 * 1024 * 1024
"""OpenAI's limit for one ``input_audio_buffer.append``."""
_MIN_COMMIT_SAMPLES = SAMPLE_RATE // 10  # OpenAI refuses to commit less than 100 ms
_EARLY_TAIL = SAMPLE_RATE // 4  # silence kept after the last word in an early final decode


class TurnObserver(Protocol):
    """What the metrics learn of each turn."""

    def turn(self, first_delta_seconds: float | None, completion_seconds: float) -> None: ...


@dataclass(frozen=True, slots=True)
class LiveLimits:
    partial_seconds: float = 0.5
    """New audio between two drafts of a growing turn."""
    max_turn_seconds: float = 30.0
    max_buffer_seconds: float = 300.0
    """Audio a client may append before it commits (turn detection off)."""
    max_pending_turns: int = 8
    idle_seconds: float = 60.0
    max_session_seconds: float = 3600.0


@dataclass(slots=True)
class _Turn:
    """A turn from its first audio to its completed transcript."""

    item_id: str
    start: int
    agreement: Agreement = field(default_factory=Agreement)
    started_at: float = field(default_factory=time.monotonic)
    first_delta_at: float | None = None
    committed_at: float = 0.0
    audio: np.ndarray | None = None
    early: asyncio.Task[Transcript] | None = None
    """The final decode started at a pause that looked like the end of the turn."""
    early_token: CancelToken | None = None


class RealtimeSession:
    """The state of one live session; framework-free (the socket adapter feeds it and sends its events)."""

    def __init__(
        self,
        service: Transcription,
        send: Callable[[dict[str, Any]], Awaitable[None]],
        scorer: Callable[[], SpeechScorer],
        *,
        dialect: Dialect,
        limits: LiveLimits,
        observer: TurnObserver | None = None,
        budget: DraftBudget | None = None,
    ) -> None:
        """``budget`` is the process's: the drafts of every live stream in it share one budget."""
        self._service = service
        self._send = send
        self._new_scorer = scorer
        self.dialect = dialect
        self.limits = limits
        self._observer = observer
        self.config = SessionConfig(turns=TurnSettings(max_turn_seconds=limits.max_turn_seconds))
        self._resampler = PcmConverter(PcmFormat(self.config.format.rate, 2, 1))
        self._scorer = scorer()
        self._detector = TurnDetector(self.config.turns or TurnSettings())
        self._origin = 0  # absolute sample where the current scorer and detector began
        self._chunks: list[np.ndarray] = []
        self._buffer_start = 0  # absolute sample index of the first buffered sample
        self._received = 0  # absolute samples received (16 kHz)
        self._turn: _Turn | None = None
        self._previous_item: str | None = None
        self._paused = False
        self._drafts = Drafts(service, budget or DraftBudget(), partial_seconds=limits.partial_seconds)
        self._finals: asyncio.Queue[_Turn | None] = asyncio.Queue()
        self._pending = 0
        self._outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._write()), asyncio.create_task(self._finish_turns())]
        self._tokens: set[CancelToken] = set()

    # --- lifecycle --------------------------------------------------------------------------------

    async def open(self) -> None:
        name = "transcription_session.created" if self.dialect == "beta" else "session.created"
        self._emit(event(name, session=session_payload(self.config, self.dialect)))

    async def close(self) -> None:
        """Stop everything: drafts and finals are cancelled (their slots end when their threads do)."""
        for token in list(self._tokens):
            token.cancel()
        await self._drafts.close()
        await self._finals.put(None)
        await self._outbox.put(None)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def drain(self) -> None:
        """Wait until the committed turns are transcribed and every event is sent (bound it with a timeout)."""
        await self._finals.join()
        await self._outbox.join()

    @property
    def busy(self) -> bool:
        """Whether committed turns are still being transcribed (the client is waiting, not idle)."""
        return self._pending > 0

    def expire(self, code: str, message: str) -> None:
        """Tell the client why the session ends (idle, too long); the adapter closes the socket."""
        self._emit(event("error", error={"type": "invalid_request_error", "code": code, "message": message,
                                          "param": None, "event_id": None}))  # fmt: skip

    # --- client events ----------------------------------------------------------------------------

    async def handle(self, message: str | bytes) -> None:
        """One client event; a bad one is answered with an ``error`` event and the session goes on."""
        client_event_id: str | None = None
        try:
            try:
                payload = json.loads(message)
            except (ValueError, UnicodeDecodeError):
                raise InvalidRequest("The event is not valid JSON.") from None
            if not isinstance(payload, dict):
                raise InvalidRequest("An event must be a JSON object with a 'type'.")
            client_event_id = payload.get("event_id") if isinstance(payload.get("event_id"), str) else None
            await self._dispatch(payload)
        except WhisperdError as error:
            self._emit(event("error", error={**error.detail(), "event_id": client_event_id}))

    async def _dispatch(self, payload: dict[str, Any]) -> None:
        kind = payload.get("type")
        if kind == "input_audio_buffer.append":
            await self._append(payload.get("audio"))
        elif kind == "input_audio_buffer.commit":
            self._commit_by_client()
        elif kind == "input_audio_buffer.clear":
            self._clear()
        elif kind == "session.update":
            self._configure(apply_ga(self.config, payload.get("session")), "session.updated", "ga")
        elif kind == "transcription_session.update":
            self._configure(
                apply_beta(self.config, payload.get("session")), "transcription_session.updated", "beta"
            )
        else:
            raise InvalidParameter(
                f"Invalid value: '{kind}'. Supported client events: session.update, transcription_session.update, "
                "input_audio_buffer.append, input_audio_buffer.commit, input_audio_buffer.clear.",
                param="type",
            )

    def _configure(self, config: SessionConfig, answer: str, dialect: Dialect) -> None:
        if config.format != self.config.format:
            self._resampler = PcmConverter(PcmFormat(config.format.rate, 2, 1))
        if config.turns is not None:
            config = replace(config, turns=_capped(config.turns, self.limits))
        if config.turns != self.config.turns:
            self._detector = TurnDetector(config.turns or TurnSettings())
            self._scorer = self._new_scorer()
            self._origin = self._received
        self.config = config
        self._emit(event(answer, session=session_payload(config, dialect)))

    async def _append(self, audio: Any) -> None:
        if not isinstance(audio, str):
            raise InvalidParameter("Missing 'audio': base64-encoded audio bytes.", param="audio")
        if len(audio) * 3 // 4 > MAX_EVENT_BYTES:
            raise InvalidParameter("The audio of one event may be at most 15 MiB.", param="audio")
        try:
            raw = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidParameter(
                "Invalid 'audio': expected base64-encoded audio bytes.", param="audio"
            ) from None
        pcm = self._pcm(raw)
        if self.config.turns is None and (self._received - self._buffer_start) + len(pcm) > int(
            self.limits.max_buffer_seconds * SAMPLE_RATE
        ):
            raise AudioBufferFull(
                f"The input audio buffer is full ({self.limits.max_buffer_seconds:g} s): commit or clear it."
            )
        if len(pcm) == 0:
            return
        self._chunks.append(pcm)
        self._received += len(pcm)
        if self.config.turns is None:
            if self._turn is None:
                self._turn = _Turn(new_id("item"), self._buffer_start)
            self._maybe_draft()
            return
        probabilities = await asyncio.to_thread(self._score, pcm)
        for change in self._detector.feed(probabilities):
            sample = self._origin + change.sample
            if change.kind == "started":
                self._start_turn(sample)
            elif change.kind == "paused":
                self._pause(sample)
            elif change.kind == "resumed":
                self._resume()
            else:
                self._stop_turn(sample)
        if self._turn is None:
            self._trim(self._received - self._padding())
        else:
            self._maybe_draft()

    def _pcm(self, raw: bytes) -> np.ndarray:
        encoding = self.config.format.encoding
        data = raw if encoding == "pcm16" else decode_g711(raw, encoding).tobytes()
        return pcm16_to_float(self._resampler.convert(data))

    def _score(self, pcm: np.ndarray) -> list[float]:
        return [float(p) for p in self._scorer.feed(pcm)]

    def _padding(self) -> int:
        turns = self.config.turns or TurnSettings()
        return turns.prefix_padding_ms * SAMPLE_RATE // 1000

    # --- turns --------------------------------------------------------------------------------------

    def _start_turn(self, sample: int) -> None:
        self._turn = _Turn(new_id("item"), max(sample, self._buffer_start))
        self._drafts.restart(self._turn.start)
        self._emit(event("input_audio_buffer.speech_started", audio_start_ms=_ms(self._turn.start),
                         item_id=self._turn.item_id))  # fmt: skip

    def _pause(self, silence_from: int) -> None:
        """The speaker paused: the turn may be over, so its final decode starts now."""
        turn = self._turn
        if turn is None:
            return
        self._paused = True
        self._drafts.cancel()
        self._drop_early(turn)
        end = min(self._received, silence_from + _EARLY_TAIL)
        token = CancelToken()
        turn.early_token = token
        turn.early = asyncio.create_task(self._transcribe(self._slice(turn.start, end), token))

    def _resume(self) -> None:
        """The speaker went on: the early decode was for nothing."""
        self._paused = False
        if self._turn is not None:
            self._drop_early(self._turn)

    def _drop_early(self, turn: _Turn) -> None:
        if turn.early_token is not None:
            turn.early_token.cancel()
        if turn.early is not None:
            turn.early.add_done_callback(_consume)
        turn.early = turn.early_token = None

    async def _transcribe(self, audio: np.ndarray, token: CancelToken) -> Transcript:
        self._tokens.add(token)
        try:
            return await self._service.transcribe(Samples(audio), self._request(draft=False), cancel=token)
        finally:
            self._tokens.discard(token)

    def _stop_turn(self, sample: int) -> None:
        turn = self._turn
        if turn is None:
            return
        end = min(sample, self._received)
        self._emit(event("input_audio_buffer.speech_stopped", audio_end_ms=_ms(end), item_id=turn.item_id))
        self._commit(turn, end)

    def _commit_by_client(self) -> None:
        end = self._received
        if end - self._buffer_start < _MIN_COMMIT_SAMPLES:
            raise EmptyAudioBuffer(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but "
                f"buffer only has {(end - self._buffer_start) / SAMPLE_RATE * 1000:.2f}ms of audio."
            )
        turn = self._turn or _Turn(new_id("item"), self._buffer_start)
        turn.start = self._buffer_start
        self._commit(turn, end)
        self._detector.reset(end - self._origin)

    def _commit(self, turn: _Turn, end: int) -> None:
        turn.audio = self._slice(turn.start, end)
        turn.committed_at = time.monotonic()
        self._turn = None
        self._paused = False
        self._trim(end)
        self._drafts.cancel()
        self._emit(
            event("input_audio_buffer.committed", previous_item_id=self._previous_item, item_id=turn.item_id)
        )
        item = _item(turn.item_id, None)
        if self.dialect == "beta":
            self._emit(event("conversation.item.created", previous_item_id=self._previous_item, item=item))
        else:
            self._emit(event("conversation.item.added", previous_item_id=self._previous_item, item=item))
        self._previous_item = turn.item_id
        if self._pending >= self.limits.max_pending_turns:
            self._drop_early(turn)
            self._failed(turn, QueueFull(
                "Transcription is behind: audio arrives faster than it can be transcribed. Send it at real "
                "time, or commit less often.", retry_after=1))  # fmt: skip
            return
        self._pending += 1
        self._finals.put_nowait(turn)

    def _clear(self) -> None:
        self._drafts.cancel()
        if self._turn is not None:
            self._drop_early(self._turn)
        self._turn = None
        self._paused = False
        self._trim(self._received)
        self._detector.reset(self._received - self._origin)
        self._emit(event("input_audio_buffer.cleared"))

    def _slice(self, start: int, end: int) -> np.ndarray:
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)
        return audio[max(0, start - self._buffer_start) : max(0, end - self._buffer_start)].copy()

    def _trim(self, keep_from: int) -> None:
        """Drop buffered audio before ``keep_from`` (absolute sample)."""
        if keep_from <= self._buffer_start:
            return
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)
        audio = audio[keep_from - self._buffer_start :]
        self._chunks = [audio] if len(audio) else []
        self._buffer_start = keep_from

    # --- drafts ---------------------------------------------------------------------------------------

    def _maybe_draft(self) -> None:
        turn = self._turn
        if turn is None or self._paused or not self._drafts.due(self._received, turn.start):
            return  # also a turn over one window: it is only transcribed when committed
        audio = self._slice(turn.start, self._received)
        self._drafts.start(
            audio, self._request(draft=True), self._received, lambda text: self._drafted(turn, text)
        )

    def _drafted(self, turn: _Turn, text: str) -> None:
        if self._turn is not turn:
            return  # the turn was committed or cleared while its draft ran
        delta = turn.agreement.update(text)
        if delta:
            self._delta(turn, delta)

    def _request(self, *, draft: bool) -> TranscriptionRequest:
        return TranscriptionRequest(
            model=self.config.model, language=self.config.language, prompt=self.config.prompt, draft=draft
        )

    # --- finals -----------------------------------------------------------------------------------

    async def _finish_turns(self) -> None:
        while (turn := await self._finals.get()) is not None:
            try:
                await self._finish(turn)
            finally:
                self._pending -= 1
                self._finals.task_done()

    async def _finish(self, turn: _Turn) -> None:
        assert turn.audio is not None
        token = CancelToken()
        self._tokens.add(token)
        try:
            transcript = await self._service.transcribe(
                Samples(turn.audio), self._request(draft=False), cancel=token
            )
        except Cancelled:
            return
        except WhisperdError as error:
            self._failed(turn, error)
            return
        except Exception:
            logger.exception("a live turn failed")
            self._failed(turn, WhisperdError("The server had an error while transcribing this turn."))
            return
        finally:
            self._tokens.discard(token)
        delta = turn.agreement.complete(transcript.text)
        if delta:
            self._delta(turn, delta)
        seconds = len(turn.audio) / SAMPLE_RATE
        self._emit(event("conversation.item.input_audio_transcription.completed", item_id=turn.item_id,
                         content_index=0, transcript=transcript.text,
                         usage={"type": "duration", "seconds": round(seconds, 3)}))  # fmt: skip
        if self.dialect == "ga":
            self._emit(
                event(
                    "conversation.item.done", previous_item_id=None, item=_item(turn.item_id, transcript.text)
                )
            )
        if self._observer is not None:
            first = None if turn.first_delta_at is None else turn.first_delta_at - turn.started_at
            self._observer.turn(first, time.monotonic() - turn.committed_at)

    def _failed(self, turn: _Turn, error: WhisperdError) -> None:
        self._emit(event("conversation.item.input_audio_transcription.failed", item_id=turn.item_id,
                         content_index=0, error=error.detail()))  # fmt: skip

    def _delta(self, turn: _Turn, delta: str) -> None:
        if turn.first_delta_at is None:
            turn.first_delta_at = time.monotonic()
        self._emit(event("conversation.item.input_audio_transcription.delta", item_id=turn.item_id,
                         content_index=0, delta=delta))  # fmt: skip

    # --- output -------------------------------------------------------------------------------------

    def _emit(self, message: dict[str, Any]) -> None:
        self._outbox.put_nowait(message)

    async def _write(self) -> None:
        connected = True
        while (message := await self._outbox.get()) is not None:
            try:
                if connected:
                    await self._send(message)
            except Exception:  # the socket is gone: keep draining so that nothing waits for it
                connected = False
            finally:
                self._outbox.task_done()


def _consume(task: asyncio.Task[Transcript]) -> None:
    """Retrieve a dropped decode's outcome, so that its exception is not reported as never retrieved."""
    if not task.cancelled():
        task.exception()


def _ms(sample: int) -> int:
    return sample * 1000 // SAMPLE_RATE


def _item(item_id: str, transcript: str | None) -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": transcript}],
    }


def _capped(turns: TurnSettings, limits: LiveLimits) -> TurnSettings:
    return TurnSettings(
        turns.threshold, turns.prefix_padding_ms, turns.silence_duration_ms, limits.max_turn_seconds
    )
