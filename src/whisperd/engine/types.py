"""Engine-side values: results, decoding options, cancellation and what an engine offers.

Plain dataclasses, independent of any wire format, so every front end (HTTP, a socket, the CLI) shares
them and the engine knows nothing of protocols.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

__all__ = [
    "SAMPLE_RATE",
    "CancelToken",
    "Cancelled",
    "Checkpoint",
    "DecodeOptions",
    "Recorder",
    "Recording",
    "Resume",
    "Segment",
    "SpeechScorer",
    "Task",
    "TokenLogprob",
    "Transcriber",
    "Transcript",
    "VadSettings",
    "Word",
]

Task = Literal["transcribe", "translate"]

SAMPLE_RATE = 16_000
"""What Whisper hears: every decoder, resampler and time computation uses this one rate."""


class Cancelled(Exception):
    """The caller gave up (a client left, a job was deleted); the work stopped between two segments."""


class CancelToken:
    """A request for work to stop, that any front end can make and any thread can check.

    A thread cannot be interrupted, so the work checks the token between two segments; the front end
    cancels it when its client goes away (an HTTP disconnect, a closed socket, a job's DELETE).
    Callbacks let asynchronous waiters (a request queued for a slot) react at once.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        """Ask the work to stop; idempotent, callable from any thread."""
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` once when cancelled (at once if already); returns a function that forgets it."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return lambda: self._forget(callback)
        callback()
        return lambda: None

    def _forget(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def check(self) -> None:
        """Raise :class:`Cancelled` if the work should stop."""
        if self._event.is_set():
            raise Cancelled


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One output token with the log probability the decoder gave it (OpenAI's ``logprobs`` entries)."""

    token: str
    bytes: list[int]
    logprob: float


@dataclass(frozen=True, slots=True)
class VadSettings:
    """Where audio is cut at pauses, when a request says (OpenAI's ``chunking_strategy``); None: defaults."""

    threshold: float = 0.5
    min_silence_ms: int | None = None
    speech_pad_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Word:
    """One word with its time span in seconds."""

    word: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True, slots=True)
class Segment:
    """One decoded window of speech, with the decoder's confidence figures."""

    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    words: list[Word] = field(default_factory=list)
    logprobs: list[TokenLogprob] | None = None
    """The segment's text tokens with their log probabilities, when the request asked for them."""
    speaker: str | None = None
    """Who speaks, when the request asked for diarization."""


@dataclass(frozen=True, slots=True)
class Transcript:
    """A whole result: the segments, the language found and the length of the audio."""

    segments: list[Segment]
    language: str
    language_probability: float
    duration: float

    @property
    def text(self) -> str:
        """The transcript as OpenAI returns it: segment texts joined, outer spaces removed."""
        return "".join(segment.text for segment in self.segments).strip()

    @property
    def words(self) -> list[Word]:
        return [word for segment in self.segments for word in segment.words]

    @property
    def logprobs(self) -> list[TokenLogprob]:
        """Every segment's token log probabilities in order (empty when they were not asked for)."""
        return [entry for segment in self.segments for entry in segment.logprobs or []]


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """What a request asks of the decoder, already validated."""

    task: Task = "transcribe"
    language: str | None = None
    prompt: str | None = None
    temperature: float = 0.0
    word_timestamps: bool = False
    beam_size: int = 5
    vad_filter: bool = True
    temperature_fallback: bool = True
    hotwords: str | None = None
    languages: tuple[str, ...] = ()
    """Candidate languages: detection chooses among them (empty: any)."""
    logprobs: bool = False
    """Capture each output token's log probability from the decoder."""
    vad: VadSettings | None = None
    early_text: bool = False
    """Decode the first part of a long file before the rest, so that streamed text starts early. Costs
    throughput (that part is decoded without the others' batch), so only streaming asks for it."""

    @property
    def exact_context(self) -> bool:
        """Whether the decoder's context must reach the model untouched: a user's prompt or hotwords
        (names, spellings) sit at its start, where batching would shorten it to merge calls."""
        return bool(self.prompt or self.hotwords)

    def temperatures(self) -> tuple[float, ...]:
        """The temperature schedule: 0 means OpenAI's fallback ladder, any other value is used alone."""
        if self.temperature > 0:
            return (self.temperature,)
        if not self.temperature_fallback:
            return (0.0,)
        return (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """How far a long transcription has got, in a form it can resume from after a crash.

    Long audio is decoded in independent chunks cut at pauses; a checkpoint says that the first
    ``chunks`` of them are done and their ``segments`` handed on, so that the work can start again at the
    next chunk instead of at the beginning. ``layout`` identifies the cut and the decoding arguments: a
    checkpoint only resumes the same work (same audio, same model and options).
    """

    layout: str
    chunks: int
    """Chunks done, in order, from the first."""
    segments: int
    """Segments handed on by those chunks."""
    seconds: float
    """Where the last chunk done ends, in seconds of the recording."""
    language: str
    language_probability: float


@dataclass(frozen=True, slots=True)
class Resume:
    """Work to pick up: a checkpoint and the segments handed on up to it (what the caller kept)."""

    checkpoint: Checkpoint
    segments: list[Segment]


class Recording(Protocol):
    """Decoded audio as an engine keeps it: whole, or (a long file) only what lies near speech."""

    @property
    def duration(self) -> float:
        """Seconds of the original audio, silence included."""
        ...


class Recorder(Protocol):
    """Takes decoded blocks as they come (16 kHz mono, int16 or float32) and keeps what the engine needs.

    Memory then follows what is kept, not the upload's length: a long file of silence costs nothing.
    """

    def feed(self, block: np.ndarray) -> None: ...

    def finish(self) -> Recording: ...


class SpeechScorer(Protocol):
    """Speech probabilities of a live stream, one per 32 ms window (the engine's voice activity detector)."""

    def feed(self, block: np.ndarray) -> np.ndarray:
        """Score 16 kHz mono float32 samples; the probabilities of the windows they complete."""
        ...


class Transcriber(Protocol):
    """What the service needs of a loaded model (faster-whisper's adapter is the one implementation)."""

    @property
    def name(self) -> str: ...

    @property
    def multilingual(self) -> bool: ...

    def recorder(self, options: DecodeOptions) -> Recorder:
        """Where the decoded blocks of one request go before :meth:`transcribe`."""
        ...

    def transcribe(
        self,
        audio: np.ndarray | Recording,
        options: DecodeOptions,
        *,
        cancel: CancelToken | None = None,
        on_segment: Callable[[Segment], None] | None = None,
        resume: Resume | None = None,
        on_checkpoint: Callable[[Checkpoint], None] | None = None,
    ) -> Transcript:
        """The whole transcript of ``audio``; segments go to ``on_segment`` as they are decoded.

        Where the engine cuts long audio into chunks, it reports a :class:`Checkpoint` to
        ``on_checkpoint`` when it starts (where it starts from) and after each chunk, and ``resume``
        starts from a checkpoint of the same work (its segments included in the result); elsewhere, and
        for a checkpoint of other work, it starts from the beginning.
        """
        ...
