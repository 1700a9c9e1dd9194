"""The faster-whisper adapter: one loaded model, and the one place that turns engine options into its calls.

faster-whisper returns segments as a lazy generator that does the decoding as it is consumed. This
adapter consumes it exactly once, turning each segment into an engine :class:`Segment`, checking the
cancel token between segments (so a request whose client left stops within one window) and handing
each segment to an optional callback as it appears (the basis of streaming).

When the placement asks for batching, a :class:`~whisperd.engine.faster_whisper.batching.BatchingWhisper`
sits between faster-whisper and CTranslate2 so that concurrent requests share batched model calls, and
audio longer than ``placement.chunk_seconds`` is decoded as sections side by side
(:mod:`whisperd.engine.faster_whisper.longform`). Every module of this package is the only code that
imports faster_whisper or ctranslate2, and only inside functions, so importing whisperd stays cheap.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import numpy as np

from whisperd.engine.catalog import CatalogEntry
from whisperd.engine.faster_whisper.batching import BatchingWhisper, Scope
from whisperd.engine.faster_whisper.language import (
    WINDOW_SECONDS,
    detect,
    first_window_speech,
    language_of_window,
)
from whisperd.engine.faster_whisper.logprobs import attach
from whisperd.engine.faster_whisper.longform import (
    PLAIN_VAD,
    chunk_segment,
    speech_as_one,
    speech_sections,
    to_segment,
    transcribe_chunks,
    vad_options,
)
from whisperd.engine.faster_whisper.recording import SpeechRecorder, SpeechRecording, WholeRecording
from whisperd.engine.tuning import Placement
from whisperd.engine.types import (
    SAMPLE_RATE,
    Cancelled,
    CancelToken,
    Checkpoint,
    DecodeOptions,
    Recording,
    Resume,
    Segment,
    Transcript,
)

__all__ = ["WhisperEngine", "cuda_device_count", "decode_kwargs"]


def cuda_device_count() -> int:
    """GPUs that CTranslate2 can use (0 when its CUDA libraries are absent)."""
    try:
        import ctranslate2

        return int(ctranslate2.get_cuda_device_count())
    except Exception:
        return 0


def decode_kwargs(options: DecodeOptions) -> dict[str, Any]:
    """faster-whisper ``transcribe`` keyword arguments for ``options``: one place maps ours to theirs."""
    kwargs: dict[str, Any] = {
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
    if options.vad is not None:
        kwargs["vad_parameters"] = vad_options(PLAIN_VAD, options.vad)
    return kwargs


class WhisperEngine:
    """One loaded model (with its CTranslate2 replicas), shared by every request that names it.

    ``chunk_pool`` runs the sections of long files; the model manager passes one pool to every engine so
    that threads stay bounded however many long requests run at once. An engine built alone (a test, a
    script) makes a pool of its own, closed with the engine.
    """

    def __init__(
        self, entry: CatalogEntry, placement: Placement, *, chunk_pool: Executor | None = None
    ) -> None:
        from faster_whisper import WhisperModel

        if entry.path is None:
            raise ValueError(f"model {entry.name} has no local folder")
        started = time.perf_counter()
        self.entry = entry
        self.placement = placement
        self._own_pool = chunk_pool is None and placement.batch_size > 1 and placement.chunk_seconds > 0
        self._chunk_pool: Executor | None = (
            ThreadPoolExecutor(placement.batch_size, thread_name_prefix="whisperd-chunk")
            if self._own_pool
            else chunk_pool
        )
        self._model: Any = WhisperModel(
            str(entry.path),
            device=placement.device,
            compute_type=placement.compute_type,
            cpu_threads=placement.cpu_threads,
            num_workers=placement.num_workers,
            local_files_only=True,
        )
        self._multilingual = bool(self._model.model.is_multilingual)
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
        return self._multilingual

    @property
    def size_bytes(self) -> int:
        """The weights on disk: the figure a memory budget counts (the loaded size is of that order)."""
        return self.entry.size_bytes

    def warm_up(self) -> None:
        """Load the VAD model and run the encoder and decoder once, so that lazy set-up happens now.

        On two seconds of silence rather than a full 30 s window: a full window here would add most of
        a second to every start, for a first request that is only slightly faster.
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

    def recorder(self, options: DecodeOptions) -> SpeechRecorder:
        """Where a request's decoded blocks go: all kept up to one window (or the chunking length, if
        longer); beyond that, with VAD on, only the audio near speech."""
        whole = max(self.placement.chunk_seconds, WINDOW_SECONDS) * SAMPLE_RATE
        return SpeechRecorder(whole_samples=int(whole), gate=options.vad_filter)

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
        """Decode ``audio`` (16 kHz mono float32, or what :meth:`recorder` kept). Blocking: call it from a
        worker thread. Only long audio decoded in chunks has checkpoints and resumes (see
        :mod:`~whisperd.engine.faster_whisper.longform`); the rest always starts from the beginning."""
        cancel = cancel or CancelToken()
        if isinstance(audio, np.ndarray):
            recorder = self.recorder(options)
            recorder.feed(audio)
            audio = recorder.finish()
        if isinstance(audio, SpeechRecording):
            return self._transcribe_speech(audio, options, cancel, on_segment, resume, on_checkpoint)
        assert isinstance(audio, WholeRecording)
        return self._transcribe_whole(audio.samples, options, cancel, on_segment)

    def _transcribe_whole(
        self,
        audio: np.ndarray,
        options: DecodeOptions,
        cancel: CancelToken,
        on_segment: Callable[[Segment], None] | None,
    ) -> Transcript:
        """faster-whisper's ``transcribe`` on every sample, its own VAD included: short audio, or VAD off."""
        scope = Scope()
        kwargs = decode_kwargs(options)
        detected: tuple[str, float] | None = None
        if options.language:
            detected = (options.language, 1.0)
        elif self.batcher is not None:
            with self._session(options, scope):
                detected = language_of_window(
                    self._model, first_window_speech(audio, options), self.multilingual, options.languages
                )
        if detected is None and options.languages and not options.language:
            with self._session(options, scope):
                detected = detect(self._model, audio[: int(WINDOW_SECONDS * SAMPLE_RATE)], self.multilingual,
                                  options.languages)  # fmt: skip
        if detected is not None:
            kwargs["language"] = detected[0]
        with self._session(options, scope):
            raw_segments, info = self._model.transcribe(audio, **kwargs)
            segments = _collected(
                raw_segments, cancel, on_segment, self._converter(options, scope, to_segment)
            )
        return Transcript(
            segments=segments,
            language=str(info.language),
            language_probability=float(info.language_probability if detected is None else detected[1]),
            duration=float(info.duration),
        )

    def _transcribe_speech(
        self,
        recording: SpeechRecording,
        options: DecodeOptions,
        cancel: CancelToken,
        on_segment: Callable[[Segment], None] | None,
        resume: Resume | None,
        on_checkpoint: Callable[[Checkpoint], None] | None,
    ) -> Transcript:
        """A long recording of which only the speech was kept: its chunks side by side when batching,
        else all its speech window after window (what faster-whisper's VAD filter does, step for step)."""
        scope = Scope()
        if self.batcher is not None and self._chunk_pool is not None and self.placement.chunk_seconds > 0:
            chunks = speech_sections(recording, self.placement.section_count, options.vad)
            if chunks:
                return transcribe_chunks(
                    self._model,
                    self.multilingual,
                    recording,
                    chunks,
                    options,
                    decode_kwargs(options),
                    pool=self._chunk_pool,
                    window=self.placement.batch_size,
                    session=lambda: self._session(options, scope),
                    cancel=cancel,
                    on_segment=on_segment,
                    finish=self._finisher(options, scope),
                    identity=self.name,
                    resume=resume,
                    on_checkpoint=on_checkpoint,
                )
        speech = speech_as_one(recording, options.vad)
        if speech is None:  # nothing but silence: nothing to decode
            return Transcript([], options.language or "en", 0.0, recording.duration)
        kwargs = {**decode_kwargs(options), "vad_filter": False}
        audio = speech.audio(recording.fetch)
        with self._session(options, scope):
            if options.languages and not options.language:
                window = audio[: int(WINDOW_SECONDS * SAMPLE_RATE)]
                kwargs["language"] = detect(self._model, window, self.multilingual, options.languages)[0]
            raw_segments, info = self._model.transcribe(audio, **kwargs)
            segments = _collected(
                raw_segments,
                cancel,
                on_segment,
                self._converter(options, scope, lambda index, raw: chunk_segment(index, raw, speech)),
            )
        return Transcript(
            segments=segments,
            language=str(info.language),
            language_probability=float(info.language_probability),
            duration=recording.duration,
        )

    def close(self) -> None:
        """Stop the batcher's threads and drop the model, so that its memory can go back to the system.

        The batcher object stays (its counters are still readable) but lets go of the model.
        """
        if self.batcher is not None:
            self.batcher.close()
        if self._own_pool and self._chunk_pool is not None:
            self._chunk_pool.shutdown(wait=True)
        self._model = None
        gc.collect()

    @contextlib.contextmanager
    def _session(self, options: DecodeOptions, scope: Scope) -> Iterator[None]:
        """Tell the batcher that this thread decodes for a request, whether its context may be cut, and
        whether its tokens' log probabilities are wanted."""
        if self.batcher is None:
            yield
            return
        with contextlib.ExitStack() as stack:
            stack.enter_context(self.batcher.session(scope))
            if options.exact_context:
                stack.enter_context(self.batcher.exact_prompts())
            if options.logprobs:
                stack.enter_context(self.batcher.scoring(scope.scores))
            yield

    def _finisher(self, options: DecodeOptions, scope: Scope) -> Callable[[Segment], Segment]:
        """What completes a segment before it is handed on: its tokens' log probabilities, if asked for."""
        if not options.logprobs:
            return lambda segment: segment
        tokenizer = self._model.hf_tokenizer
        first_special = int(tokenizer.token_to_id("<|endoftext|>"))
        return lambda segment: attach([segment], scope.scores, tokenizer, first_special)[0]

    def _converter(
        self, options: DecodeOptions, scope: Scope, convert: Callable[[int, Any], Segment]
    ) -> Callable[[int, Any], Segment]:
        finish = self._finisher(options, scope)
        return lambda index, raw: finish(convert(index, raw))


def _collected(
    raw_segments: Any,
    cancel: CancelToken,
    on_segment: Callable[[Segment], None] | None,
    convert: Callable[[int, Any], Segment],
) -> list[Segment]:
    """Consume faster-whisper's lazy generator once, stopping between two segments when cancelled."""
    segments: list[Segment] = []
    for raw in raw_segments:
        if cancel.cancelled:
            raise Cancelled
        segment = convert(len(segments), raw)
        segments.append(segment)
        if on_segment is not None:
            on_segment(segment)
    return segments
