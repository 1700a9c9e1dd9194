"""The faster-whisper adapter: the only module that touches faster_whisper's model objects.

faster-whisper returns segments as a lazy generator that does the decoding as it is consumed. This
adapter consumes it exactly once, turning each segment into an engine :class:`Segment`, checking a
cancel flag between segments (so a request whose client left stops within one window) and handing each
segment to an optional callback as it appears (the basis of streaming).

When the placement asks for batching, a :class:`~whisperd.engine.faster_whisper.batching.BatchingWhisper` sits between
faster-whisper and CTranslate2, so that concurrent requests share batched model calls; and audio longer
than ``placement.chunk_seconds`` is cut at pauses into chunks (:mod:`whisperd.engine.faster_whisper.chunking`) that are
decoded side by side, each by faster-whisper's own window-by-window loop, so that one long file fills
batches too.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from whisperd.engine.catalog import CatalogEntry
from whisperd.engine.faster_whisper.batching import BatchingWhisper, Scope
from whisperd.engine.faster_whisper.chunking import Chunk, Span, pack
from whisperd.engine.tuning import Placement
from whisperd.engine.types import DecodeOptions, Segment, Transcript, Word

__all__ = ["Cancelled", "WhisperEngine", "cuda_device_count", "decode_kwargs"]

SAMPLE_RATE = 16_000
WINDOW_SECONDS = 30.0


class Cancelled(Exception):
    """The caller gave up (the client disconnected); the work was abandoned between two segments."""


def cuda_device_count() -> int:
    """GPUs that CTranslate2 can use (0 when its CUDA libraries are absent)."""
    try:
        import ctranslate2

        return int(ctranslate2.get_cuda_device_count())
    except Exception:
        return 0


def decode_kwargs(options: DecodeOptions) -> dict[str, Any]:
    """faster-whisper ``transcribe`` keyword arguments for ``options``: one place maps ours to theirs."""
    return {
        "task": options.task,
        "language": options.language,
        "initial_prompt": options.prompt or None,
        "temperature": list(options.temperatures()),
        "word_timestamps": options.word_timestamps,
        "beam_size": options.beam_size,
        "best_of": max(1, options.beam_size),
        "vad_filter": options.vad_filter,
        "hotwords": options.hotwords or None,
    }


class WhisperEngine:
    """One loaded model (with its CTranslate2 replicas), shared by every request that names it."""

    def __init__(self, entry: CatalogEntry, placement: Placement) -> None:
        from faster_whisper import WhisperModel

        if entry.path is None:
            raise ValueError(f"model {entry.name} has no local folder")
        started = time.perf_counter()
        self.entry = entry
        self.placement = placement
        self._model = WhisperModel(
            str(entry.path),
            device=placement.device,
            compute_type=placement.compute_type,
            cpu_threads=placement.cpu_threads,
            num_workers=placement.num_workers,
            local_files_only=True,
        )
        self.batcher: BatchingWhisper | None = None
        if placement.batch_size > 1:
            import ctranslate2

            self.batcher = BatchingWhisper.wrap(
                self._model,
                storage=ctranslate2.StorageView.from_array,
                max_batch=placement.batch_size,
                workers=placement.num_workers,
            )
        self.load_seconds = time.perf_counter() - started

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    def warm_up(self) -> None:
        """Load the VAD model and run the encoder and decoder once, so that lazy set-up happens now.

        On two seconds of silence rather than a full 30 s window: the first request then pays some
        50 ms more for its first full window (measured on 2 cores with ``base``), while a full window
        here would add most of a second to every start.
        """
        import ctranslate2
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.vad import get_vad_model

        get_vad_model()
        model = self.batcher.model if self.batcher is not None else self._model.model
        features = np.zeros((1, model.n_mels, 200), dtype=np.float32)
        encoded = model.encode(ctranslate2.StorageView.from_array(features))
        tokenizer = Tokenizer(self._model.hf_tokenizer, self.multilingual, task="transcribe", language="en")
        model.generate(encoded, [list(tokenizer.sot_sequence)], beam_size=1, max_length=4)

    def transcribe(
        self,
        audio: np.ndarray,
        options: DecodeOptions,
        *,
        cancel: threading.Event | None = None,
        on_segment: Callable[[Segment], None] | None = None,
    ) -> Transcript:
        """Decode ``audio`` (16 kHz mono float32). Blocking: call it from a worker thread."""
        chunks = self._chunks(audio, options)
        if chunks is not None and len(chunks) > 1:
            return self._transcribe_chunks(audio, chunks, options, cancel, on_segment)
        scope = Scope()
        kwargs = decode_kwargs(options)
        detected = self._language(self._speech(audio, options), options, scope)
        if detected is not None:
            kwargs["language"] = detected[0]
        with self._session(options, scope):
            raw_segments, info = self._model.transcribe(audio, **kwargs)
            segments: list[Segment] = []
            for raw in raw_segments:
                if cancel is not None and cancel.is_set():
                    raise Cancelled
                segment = _segment(len(segments), raw)
                segments.append(segment)
                if on_segment is not None:
                    on_segment(segment)
        return Transcript(
            segments=segments,
            language=str(info.language),
            language_probability=float(info.language_probability if detected is None else detected[1]),
            duration=float(info.duration),
        )

    def close(self) -> None:
        """Stop the batcher threads (the model itself is freed with the engine)."""
        if self.batcher is not None:
            self.batcher.close()

    @contextlib.contextmanager
    def _session(self, options: DecodeOptions, scope: Scope | None) -> Iterator[None]:
        """Tell the batcher that this thread decodes for a request (and whether its prompts may be cut)."""
        if self.batcher is None:
            yield
            return
        with self.batcher.session(scope):
            if options.hotwords:
                with self.batcher.exact_prompts():
                    yield
            else:
                yield

    def _chunks(self, audio: np.ndarray, options: DecodeOptions) -> list[Chunk] | None:
        """VAD chunks for audio long enough to gain from them, or None to decode window after window."""
        limit = self.placement.chunk_seconds
        if self.batcher is None or not options.vad_filter or limit <= 0:
            return None
        if len(audio) <= max(limit, WINDOW_SECONDS) * SAMPLE_RATE:
            return None
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        # BatchedInferencePipeline's settings: split at every pause of 160 ms, never beyond one window
        vad = VadOptions(max_speech_duration_s=WINDOW_SECONDS, min_silence_duration_ms=160)
        spans = [Span(int(t["start"]), int(t["end"])) for t in get_speech_timestamps(audio, vad)]
        return pack(spans, WINDOW_SECONDS, SAMPLE_RATE)

    def _transcribe_chunks(
        self,
        audio: np.ndarray,
        chunks: list[Chunk],
        options: DecodeOptions,
        cancel: threading.Event | None,
        on_segment: Callable[[Segment], None] | None,
    ) -> Transcript:
        """Decode every chunk in its own thread; the batcher merges their model calls.

        Each chunk is decoded by faster-whisper's window-by-window loop with VAD off (a chunk is speech
        already), so a chunk whose text stops early is resumed where it stopped, as in a plain
        transcription. The language is detected once, on the first chunk, and imposed on the rest.
        Segments are handed on in order as soon as every chunk before theirs is done.
        """
        stop = cancel or threading.Event()
        scope = Scope()
        first = chunks[0].audio(audio)
        language, probability = self._language(first, options, scope) or self._detect(first, options, scope)
        kwargs = {**decode_kwargs(options), "language": language, "vad_filter": False}
        workers = min(len(chunks), self.placement.batch_size)
        segments: list[Segment] = []
        with ThreadPoolExecutor(workers, thread_name_prefix="whisperd-chunk") as pool:
            futures: list[Future[list[tuple[Any, Chunk]]]] = []
            try:
                for chunk in chunks:
                    futures.append(
                        pool.submit(self._decode_chunk, chunk, audio, kwargs, options, stop, scope)
                    )
                    if options.early_text and len(futures) == 1:
                        futures[0].result()  # streaming: the first text before the full batches
                for future in futures:
                    for raw, piece in future.result():
                        segment = _chunk_segment(len(segments), raw, piece)
                        segments.append(segment)
                        if on_segment is not None:
                            on_segment(segment)
            except BaseException:
                stop.set()
                raise
        return Transcript(
            segments=segments,
            language=language,
            language_probability=probability,
            duration=len(audio) / SAMPLE_RATE,
        )

    def _speech(self, audio: np.ndarray, options: DecodeOptions) -> np.ndarray | None:
        """What faster-whisper's ``transcribe`` will decode, for audio of one window; None otherwise.

        With VAD on, that is the speech it keeps with its default settings, joined (as its own
        ``transcribe`` does, step for step).
        """
        if self.batcher is None or options.language or len(audio) > WINDOW_SECONDS * SAMPLE_RATE:
            return None
        if not options.vad_filter:
            return audio
        from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

        speech = get_speech_timestamps(audio, VadOptions())
        return np.concatenate(collect_chunks(audio, speech)[0])

    def _language(
        self, speech: np.ndarray | None, options: DecodeOptions, scope: Scope
    ) -> tuple[str, float] | None:
        """The language, detected on the first window exactly as ``transcribe`` will encode it.

        faster-whisper detects the language with one encoder pass over the first window and then
        encodes that window again to decode it. Given the language, it skips the first pass; and since
        the window encoded here is the very one it will ask for, the batcher serves that from memory.
        None: the language was not asked for (English-only model) or cannot be found this way.
        """
        if options.language:
            return options.language, 1.0
        if speech is None or not self.multilingual or len(speech) > WINDOW_SECONDS * SAMPLE_RATE:
            return None
        from faster_whisper.audio import pad_or_trim

        features = self._model.feature_extractor(speech)
        content = features.shape[-1] - 1
        if content <= 0:
            return None
        with self._session(options, scope):
            encoded = self._model.encode(pad_or_trim(features[:, : min(content, 3000)]))
            scores = self._model.model.detect_language(encoded)[0]
        token, probability = scores[0]
        return str(token)[2:-2], float(probability)

    def _detect(self, speech: np.ndarray, options: DecodeOptions, scope: Scope) -> tuple[str, float]:
        """The language by faster-whisper's own detection (English for an English-only model)."""
        if not self.multilingual:
            return "en", 1.0
        with self._session(options, scope):
            language, probability, _ = self._model.detect_language(audio=speech)
        return str(language), float(probability)

    def _decode_chunk(
        self,
        chunk: Chunk,
        recording: np.ndarray,
        kwargs: dict[str, Any],
        options: DecodeOptions,
        stop: threading.Event,
        scope: Scope,
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
            found = self._decode_part(part, recording, kwargs, options, stop, scope)
            pieces += [(raw, part) for raw in found]
            part = part.after(float(found[-1].end)) if found else None  # nothing found: no speech
        return pieces

    def _decode_part(
        self,
        part: Chunk,
        recording: np.ndarray,
        kwargs: dict[str, Any],
        options: DecodeOptions,
        stop: threading.Event,
        scope: Scope,
    ) -> list[Any]:
        """faster-whisper's segments for one chunk's audio, stopping between two when asked to."""
        if stop.is_set():
            raise Cancelled
        found = []
        with self._session(options, scope):
            raw_segments, _ = self._model.transcribe(part.audio(recording), **kwargs)
            for raw in raw_segments:
                if stop.is_set():
                    raise Cancelled
                found.append(raw)
        return found


def _chunk_segment(index: int, raw: Any, chunk: Chunk) -> Segment:
    """A chunk's segment with its times (and its words' times) in the recording's time line."""
    words = []
    for w in raw.words or []:
        span = chunk.span_at((w.start + w.end) / 2)
        start, end = chunk.original_time(w.start, span=span), chunk.original_time(w.end, span=span)
        words.append(Word(word=str(w.word), start=start, end=end, probability=float(w.probability)))
    start = words[0].start if words else chunk.original_time(raw.start)
    end = words[-1].end if words else chunk.original_time(raw.end, is_end=True)
    seek = int(raw.seek) + round(chunk.start * 100)
    return _segment(index, raw, start=start, end=end, seek=seek, words=words)


def _segment(
    index: int,
    raw: Any,
    *,
    start: float | None = None,
    end: float | None = None,
    seek: int | None = None,
    words: list[Word] | None = None,
) -> Segment:
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
