"""The faster-whisper adapter: the only module that touches faster_whisper's model objects.

faster-whisper returns segments as a lazy generator that does the decoding as it is consumed. This
adapter consumes it exactly once, turning each segment into an engine :class:`Segment`, checking a
cancel flag between segments (so a request whose client left stops within one window) and handing each
segment to an optional callback as it appears (the basis of streaming).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from whisperd.engine.catalog import CatalogEntry
from whisperd.engine.tuning import Placement
from whisperd.engine.types import DecodeOptions, Segment, Transcript, Word

__all__ = ["Cancelled", "WhisperEngine", "cuda_device_count", "decode_kwargs"]

SAMPLE_RATE = 16_000


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
        self.load_seconds = time.perf_counter() - started

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    def warm_up(self) -> None:
        """Decode one second of silence so that lazy initialisation happens now, not in a request."""
        silence = np.zeros(SAMPLE_RATE, dtype=np.float32)
        self.transcribe(silence, DecodeOptions(vad_filter=False, beam_size=1, temperature_fallback=False))

    def transcribe(
        self,
        audio: np.ndarray,
        options: DecodeOptions,
        *,
        cancel: threading.Event | None = None,
        on_segment: Callable[[Segment], None] | None = None,
    ) -> Transcript:
        """Decode ``audio`` (16 kHz mono float32). Blocking: call it from a worker thread."""
        raw_segments, info = self._model.transcribe(audio, **decode_kwargs(options))
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
            language_probability=float(info.language_probability),
            duration=float(info.duration),
        )


def _segment(index: int, raw: Any) -> Segment:
    words = [
        Word(word=str(w.word), start=float(w.start), end=float(w.end), probability=float(w.probability))
        for w in (raw.words or [])
    ]
    return Segment(
        id=index,
        seek=int(raw.seek),
        start=float(raw.start),
        end=float(raw.end),
        text=str(raw.text),
        tokens=[int(t) for t in raw.tokens],
        temperature=float(raw.temperature if raw.temperature is not None else 0.0),
        avg_logprob=float(raw.avg_logprob),
        compression_ratio=float(raw.compression_ratio),
        no_speech_prob=float(raw.no_speech_prob),
        words=words,
    )
