"""Long audio: cut at pauses into chunks, the chunks decoded side by side on one shared pool.

Long recordings reach this module as :class:`~whisperd.engine.faster_whisper.recording.SpeechRecording`
(only the audio near speech was kept while decoding); the spans come from the VAD probabilities of the
whole recording, computed as it was decoded.

Decoding a long file window after window is serial: each window starts where the last one's text
ended. Cut instead at the pauses that voice activity detection finds, every chunk is independent, so the
chunks of one file (and of every other request) are decoded at once and the batcher merges their model
calls. Each chunk is decoded by faster-whisper's own window-by-window loop with VAD off (a chunk is
speech already), so a chunk whose text stops early is resumed where it stopped.

Every request's chunks share one thread pool owned by the model manager (sized to the batch), so the
threads in the process are bounded however many long requests run at once; each request keeps at most a
batch of chunks on it, so that one long file cannot queue all its chunks ahead of other requests.

Because the chunks are independent, a long transcription can also stop and start again between two of
them: after each chunk (in order) the caller hears a :class:`~whisperd.engine.types.Checkpoint`, and a
checkpoint of the same cut and options resumes at the next chunk with the segments already handed on.
This is how a job survives a crash. The text is the same as if it had never stopped, because no chunk
depends on another one (the language, detected on the first chunk, is kept in the checkpoint).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, wait
from dataclasses import replace
from typing import Any

from faster_whisper.vad import VadOptions

from whisperd.engine.faster_whisper.chunking import Chunk, Span, pack
from whisperd.engine.faster_whisper.language import WINDOW_SECONDS, detect, language_of_window
from whisperd.engine.faster_whisper.recording import SpeechRecording, check_covered
from whisperd.engine.types import (
    SAMPLE_RATE,
    Cancelled,
    CancelToken,
    Checkpoint,
    DecodeOptions,
    Resume,
    Segment,
    Transcript,
    VadSettings,
    Word,
)

__all__ = [
    "CHUNK_VAD",
    "PLAIN_VAD",
    "SessionFactory",
    "chunk_segment",
    "layout_of",
    "speech_as_one",
    "speech_chunks",
    "to_segment",
    "transcribe_chunks",
    "vad_options",
]

SessionFactory = Callable[[], contextlib.AbstractContextManager[None]]
"""Enters the request's batching session on the calling thread (a no-op without batching)."""


CHUNK_VAD = VadOptions(max_speech_duration_s=WINDOW_SECONDS, min_silence_duration_ms=160)
"""faster-whisper's ``BatchedInferencePipeline`` settings: never beyond one window, split at every short
pause so that a chunk rarely cuts a word."""

PLAIN_VAD = VadOptions()
"""faster-whisper's own defaults for ``transcribe(vad_filter=True)``: what a long file decoded window
after window keeps."""

check_covered(CHUNK_VAD, PLAIN_VAD)


def vad_options(base: VadOptions, settings: VadSettings | None) -> VadOptions:
    """``base`` with a request's own threshold, silence and padding (OpenAI's ``chunking_strategy``)."""
    if settings is None:
        return base
    return replace(
        base,
        threshold=settings.threshold,
        min_silence_duration_ms=base.min_silence_duration_ms
        if settings.min_silence_ms is None
        else settings.min_silence_ms,
        speech_pad_ms=base.speech_pad_ms if settings.speech_pad_ms is None else settings.speech_pad_ms,
    )


def speech_chunks(recording: SpeechRecording, settings: VadSettings | None = None) -> list[Chunk]:
    """The speech of ``recording`` packed into chunks of at most one window (:data:`CHUNK_VAD`)."""
    options = vad_options(CHUNK_VAD, settings)
    spans = [Span(int(t["start"]), int(t["end"])) for t in recording.kept.timestamps(options)]
    return pack(spans, WINDOW_SECONDS, SAMPLE_RATE)


def speech_as_one(recording: SpeechRecording, settings: VadSettings | None = None) -> Chunk | None:
    """All the speech of ``recording`` (:data:`PLAIN_VAD`) as one chunk, or None if there is none."""
    options = vad_options(PLAIN_VAD, settings)
    spans = [Span(int(t["start"]), int(t["end"])) for t in recording.kept.timestamps(options)]
    spans = [span for span in spans if span.length > 0]
    return Chunk(tuple(spans), SAMPLE_RATE) if spans else None


def layout_of(chunks: list[Chunk], kwargs: dict[str, Any], model: str) -> str:
    """A digest of the cut and of the decoding arguments: what a checkpoint may resume."""
    spans = [(span.start, span.end) for chunk in chunks for span in chunk.spans]
    text = json.dumps([model, spans, kwargs], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def transcribe_chunks(
    model: Any,
    multilingual: bool,
    recording: SpeechRecording,
    chunks: list[Chunk],
    options: DecodeOptions,
    kwargs: dict[str, Any],
    *,
    pool: Executor,
    window: int,
    session: SessionFactory,
    cancel: CancelToken,
    on_segment: Callable[[Segment], None] | None,
    finish: Callable[[Segment], Segment] = lambda segment: segment,
    identity: str = "",
    resume: Resume | None = None,
    on_checkpoint: Callable[[Checkpoint], None] | None = None,
) -> Transcript:
    """Decode every chunk on ``pool``; segments are handed on in order as soon as their chunk is done.

    ``finish`` completes each segment before it is handed on (the request's log probabilities).

    At most ``window`` chunks of one request are on the pool at a time: the pool is shared, so a long
    file (a job of an hour) must not queue its hundred chunks ahead of another request's. The language
    is detected once, on the first chunk, and imposed on the rest. A failure or a cancellation stops the
    chunks not yet started; those already running stop at their next segment.

    ``on_checkpoint`` hears where the work starts and, after each chunk, how far it has got; ``resume``
    (a checkpoint of the same layout, ``identity`` naming the model) starts after its last chunk.
    """
    layout = layout_of(chunks, kwargs, identity)
    start, segments = 0, []
    if resume is not None and _resumable(resume, layout, len(chunks)):
        start, segments = resume.checkpoint.chunks, list(resume.segments)
        language, probability = resume.checkpoint.language, resume.checkpoint.language_probability
    else:
        first = chunks[0].audio(recording.fetch)
        with session():
            if options.language:
                language, probability = options.language, 1.0
            else:
                found = language_of_window(model, first, multilingual, options.languages)
                language, probability = found or detect(model, first, multilingual, options.languages)

    def checkpoint(done: int) -> None:
        if on_checkpoint is not None:
            seconds = chunks[done - 1].spans[-1].end / SAMPLE_RATE if done else 0.0
            on_checkpoint(Checkpoint(layout, done, len(segments), seconds, language, probability))

    checkpoint(start)
    chunk_kwargs = {**kwargs, "language": language, "vad_filter": False}
    futures: list[Future[list[tuple[Any, Chunk]]]] = []
    future: Future[list[tuple[Any, Chunk]]] | None = None
    handed = 0  # futures whose segments are handed on
    room = threading.Semaphore(max(1, window))
    stop = CancelToken()  # the chunks' own token: a failed chunk stops its siblings, not the caller
    forget = cancel.on_cancel(stop.cancel)

    def hand_on(block: bool) -> None:
        nonlocal handed
        while handed < len(futures) and (block or futures[handed].done()):
            stop.check()
            for raw, piece in futures[handed].result():
                segment = finish(chunk_segment(len(segments), raw, piece))
                segments.append(segment)
                if on_segment is not None:
                    on_segment(segment)
            handed += 1
            checkpoint(start + handed)

    try:
        for chunk in chunks[start:]:
            room.acquire()  # released when one of this request's chunks ends
            stop.check()
            future = pool.submit(_decode_chunk, model, chunk, recording, chunk_kwargs, session, stop)
            future.add_done_callback(lambda _: room.release())
            futures.append(future)
            if options.early_text and len(futures) == 1:
                futures[0].result()  # streaming: the first text before the full batches
            hand_on(block=False)
        hand_on(block=True)
    except BaseException:
        stop.cancel()
        for future in futures:
            future.cancel()
        wait(futures)  # the request's work is over only when its chunks are: the slot bound holds
        raise
    finally:
        forget()
        # a chunk's exception (Cancelled) is kept by its future, and its traceback holds this frame:
        # drop the futures, so that exception -> frame -> futures -> exception is no cycle that would keep
        # the model alive until the next garbage collection
        futures.clear()
        future = None
    return Transcript(
        segments=segments,
        language=language,
        language_probability=probability,
        duration=recording.duration,
    )


def _resumable(resume: Resume, layout: str, chunks: int) -> bool:
    """Whether ``resume`` is a checkpoint of this very work, with the segments it says were handed on."""
    point = resume.checkpoint
    return point.layout == layout and 0 < point.chunks <= chunks and len(resume.segments) == point.segments


def _decode_chunk(
    model: Any,
    chunk: Chunk,
    recording: SpeechRecording,
    kwargs: dict[str, Any],
    session: SessionFactory,
    cancel: CancelToken,
) -> list[tuple[Any, Chunk]]:
    """The raw segments of one chunk, each with the chunk (or the part of it) it was decoded from.

    Speech that the chunk's text never reached (Whisper ended early and called the rest silence) is
    decoded again on its own, at most twice, so that no sentence is lost at the end of a chunk.
    """
    pieces: list[tuple[Any, Chunk]] = []
    part: Chunk | None = chunk
    for _ in range(3):  # the chunk, then at most twice the speech its text did not reach
        if part is None:
            break
        found = _decode_part(model, part, recording, kwargs, session, cancel)
        pieces += [(raw, part) for raw in found]
        part = part.after(float(found[-1].end)) if found else None  # nothing found: no speech
    return pieces


def _decode_part(
    model: Any,
    part: Chunk,
    recording: SpeechRecording,
    kwargs: dict[str, Any],
    session: SessionFactory,
    cancel: CancelToken,
) -> list[Any]:
    """faster-whisper's segments for one chunk's audio, stopping between two when asked to."""
    cancel.check()
    found = []
    with session():
        raw_segments, _ = model.transcribe(part.audio(recording.fetch), **kwargs)
        for raw in _checked(raw_segments, cancel):
            found.append(raw)
    return found


def _checked(raw_segments: Any, cancel: CancelToken) -> Iterator[Any]:
    for raw in raw_segments:
        if cancel.cancelled:
            raise Cancelled
        yield raw


def chunk_segment(index: int, raw: Any, chunk: Chunk) -> Segment:
    """A chunk's segment with its times (and its words' times) in the recording's time line."""
    words = []
    for w in raw.words or []:
        span = chunk.span_at((w.start + w.end) / 2)
        start, end = chunk.original_time(w.start, span=span), chunk.original_time(w.end, span=span)
        words.append(Word(word=str(w.word), start=start, end=end, probability=float(w.probability)))
    start = words[0].start if words else chunk.original_time(raw.start)
    end = words[-1].end if words else chunk.original_time(raw.end, is_end=True)
    seek = int(raw.seek) + round(chunk.start * 100)
    return to_segment(index, raw, start=start, end=end, seek=seek, words=words)


def to_segment(
    index: int,
    raw: Any,
    *,
    start: float | None = None,
    end: float | None = None,
    seek: int | None = None,
    words: list[Word] | None = None,
) -> Segment:
    """faster-whisper's segment as an engine :class:`Segment`, numbered ``index``."""
    if words is None:
        words = [
            Word(word=str(w.word), start=float(w.start), end=float(w.end), probability=float(w.probability))
            for w in (raw.words or [])
        ]
    return Segment(
        id=index,
        seek=int(raw.seek) if seek is None else seek,
        start=float(raw.start) if start is None else start,
        end=float(raw.end) if end is None else end,
        text=str(raw.text),
        tokens=[int(t) for t in raw.tokens],
        temperature=float(raw.temperature if raw.temperature is not None else 0.0),
        avg_logprob=float(raw.avg_logprob),
        compression_ratio=float(raw.compression_ratio),
        no_speech_prob=float(raw.no_speech_prob),
        words=words,
    )
