"""Long audio: cut at pauses into sections, each decoded window after window, side by side on one pool.

Long recordings reach this module as :class:`~whisperd.engine.faster_whisper.recording.SpeechRecording`
(only the audio near speech was kept while decoding); the spans come from the VAD probabilities of the
whole recording, computed as it was decoded.

Decoding a long file window after window is serial: each window starts where the last one's text
ended, with that text as its prompt. Cut into independent 30 s chunks instead, a file decodes in
parallel but every chunk starts without the text before it, and Whisper uses that context (names,
spelling, punctuation), so the text gets worse. Sections are the middle way: the speech that faster-whisper's own VAD filter keeps
(:data:`PLAIN_VAD`) is cut at pauses between phrases into a few contiguous sections of about equal
speech (one per batch row, :func:`~whisperd.engine.faster_whisper.chunking.split_at_pauses`); each
section is decoded by faster-whisper's own window-by-window loop with its running context (VAD off: a
section is speech already), and the sections run at once, so the batcher merges their model calls.
Only the section boundaries lose context. A section whose text stops early is resumed where it stopped.

Segments go out in order as they are found: those of the first section while it is decoded (a stream
shows text early), those of the others when their turn comes. Every request's sections share one thread
pool owned by the model manager (sized to the batch), so the threads in the process are bounded however
many long requests run at once; each request keeps at most a batch of sections on it, and no section is
longer than :data:`MAX_SECTION_SECONDS` of speech, so that one long file cannot hold the pool for long.

Because the sections are independent, a long transcription can also stop and start again between two of
them: after each section (in order) the caller hears a :class:`~whisperd.engine.types.Checkpoint`, and
a checkpoint of the same cut and options resumes at the next section with the segments already handed
on. This is how a job survives a crash. The text is the same as if it had never stopped, because no
section depends on another one (the language, detected on the first section, is kept in the checkpoint).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, wait
from dataclasses import replace
from typing import Any

from faster_whisper.vad import VadOptions

from whisperd.engine.faster_whisper.chunking import Chunk, Span, split_at_pauses
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
    "MAX_SECTION_SECONDS",
    "PHRASE_VAD",
    "PLAIN_VAD",
    "SessionFactory",
    "chunk_segment",
    "layout_of",
    "speech_as_one",
    "speech_sections",
    "to_segment",
    "transcribe_chunks",
    "vad_options",
]

SessionFactory = Callable[[], contextlib.AbstractContextManager[None]]
"""Enters the request's batching session on the calling thread (a no-op without batching)."""


PHRASE_VAD = VadOptions(max_speech_duration_s=WINDOW_SECONDS, min_silence_duration_ms=160)
"""faster-whisper's ``BatchedInferencePipeline`` settings, split at every short pause: the pauses between
phrases where a long file may be cut into sections without cutting a word."""

PLAIN_VAD = VadOptions()
"""faster-whisper's own defaults for ``transcribe(vad_filter=True)``: what a long file decoded window
after window keeps."""

check_covered(PHRASE_VAD, PLAIN_VAD)

MAX_SECTION_SECONDS = 150.0
"""The most speech in one section. Longer sections lose less context at their edges, but a section is
also what a job resumes from after a crash and what one request holds a pool thread with: an hour of
speech becomes 24 sections, a batch of them at a time."""


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


def speech_sections(
    recording: SpeechRecording, count: int, settings: VadSettings | None = None
) -> list[Chunk]:
    """All the speech of ``recording`` as faster-whisper's VAD filter keeps it (:data:`PLAIN_VAD`), cut
    at the pauses between the phrases :data:`PHRASE_VAD` finds into ``count`` sections, or more where
    that would make one longer than :data:`MAX_SECTION_SECONDS`.

    The sections' audio, joined, is what faster-whisper decodes for the whole file; cut at the sections'
    boundaries, the file decodes ``count`` times faster on a batch, and only those boundaries lose the
    previous text (bench/results/2026-12-01-longform-sections.md).
    """
    speech = speech_as_one(recording, settings)
    if speech is None:
        return []
    options = vad_options(PHRASE_VAD, settings)
    phrases = [Span(int(t["start"]), int(t["end"])) for t in recording.kept.timestamps(options)]
    pauses = [(a.end + b.start) // 2 for a, b in itertools.pairwise(phrases) if b.start > a.end]
    return split_at_pauses(speech, pauses, max(count, math.ceil(speech.seconds / MAX_SECTION_SECONDS)))


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
    outputs: list[_Output] = []
    futures: list[Future[None]] = []
    handed = 0  # sections whose segments are all handed on
    room = threading.Semaphore(max(1, window))
    stop = CancelToken()  # the sections' own token: a failed one stops its siblings, not the caller
    forget = cancel.on_cancel(stop.cancel)

    def hand_on(block: bool) -> None:
        """Hand on the segments found so far, in order (all of them when ``block``)."""
        nonlocal handed
        while handed < len(outputs):
            stop.check()
            output = outputs[handed]
            for raw, piece in output.drain(block):
                segment = finish(chunk_segment(len(segments), raw, piece))
                segments.append(segment)
                if on_segment is not None:
                    on_segment(segment)
            if not output.ended:
                return
            handed += 1
            checkpoint(start + handed)

    try:
        for chunk in chunks[start:]:
            while not room.acquire(timeout=0.1):  # released when one of this request's sections ends
                hand_on(block=False)
            stop.check()
            output = _Output()
            future = pool.submit(_decode_chunk, model, chunk, recording, chunk_kwargs, session, stop, output)
            future.add_done_callback(lambda _: room.release())
            outputs.append(output)
            futures.append(future)
            if options.early_text and len(futures) == 1:
                output.first.wait()  # streaming: the first text before the others fill the batches
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
        # a chunk's exception (Cancelled) is kept by its output, and its traceback holds this frame:
        # drop them, so that exception -> frame -> outputs -> exception is no cycle that would keep the
        # model alive until the next garbage collection
        futures.clear()
        outputs.clear()
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


class _Output:
    """One section's segments as its thread finds them, read in order by the request's thread."""

    _END = object()

    def __init__(self) -> None:
        self._items: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.first = threading.Event()
        """Set at the first segment (or the end): when a stream may go on."""
        self.ended = False
        """The section's last segment (or its failure) has been read."""

    def put(self, item: tuple[Any, Chunk]) -> None:
        self._items.put(item)
        self.first.set()

    def close(self, error: BaseException | None = None) -> None:
        self._items.put(error if error is not None else self._END)
        self.first.set()

    def drain(self, block: bool = True) -> Iterator[tuple[Any, Chunk]]:
        """The segments found so far (``block``: every one until the section ends); a failure is raised."""
        while not self.ended:
            try:
                item = self._items.get(block=block)
            except queue.Empty:
                return
            if item is self._END or isinstance(item, BaseException):
                self.ended = True
                if isinstance(item, BaseException):
                    raise item
                return
            yield item


def _decode_chunk(
    model: Any,
    chunk: Chunk,
    recording: SpeechRecording,
    kwargs: dict[str, Any],
    session: SessionFactory,
    cancel: CancelToken,
    output: _Output,
) -> None:
    """The raw segments of one chunk, each with the chunk (or the part of it) it was decoded from, put
    on ``output`` as they come.

    Speech that the chunk's text never reached (Whisper ended early and called the rest silence) is
    decoded again on its own, at most twice, so that no sentence is lost at the end of a chunk.
    """
    try:
        part: Chunk | None = chunk
        for _ in range(3):  # the chunk, then at most twice the speech its text did not reach
            if part is None:
                break
            last = None
            for raw in _decode_part(model, part, recording, kwargs, session, cancel):
                output.put((raw, part))
                last = raw
            part = part.after(float(last.end)) if last is not None else None  # nothing found: no speech
    except BaseException as exc:
        output.close(exc)
        raise
    output.close()


def _decode_part(
    model: Any,
    part: Chunk,
    recording: SpeechRecording,
    kwargs: dict[str, Any],
    session: SessionFactory,
    cancel: CancelToken,
) -> Iterator[Any]:
    """faster-whisper's segments for one chunk's audio as they are decoded, stopping between two when asked."""
    cancel.check()
    with session():
        raw_segments, _ = model.transcribe(part.audio(recording.fetch), **kwargs)
        yield from _checked(raw_segments, cancel)


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
