"""What faster-whisper's adapter keeps of a request's decoded audio: all of it, or only what is near speech.

A recording up to one window long (or with VAD off) is kept whole, so short requests are decoded
exactly as faster-whisper decodes them. Beyond that, with VAD on, the recorder scores Silero VAD block
by block as the audio is decoded and keeps only the audio that a speech span could reach
(:mod:`whisperd.engine.faster_whisper.vad`), as int16: memory follows the speech, not the upload's
duration, and a long silent file costs almost nothing. The spans are computed later, for whichever VAD
settings the decoding path uses, from the probabilities of the whole recording.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import VadOptions

from whisperd.engine.faster_whisper.vad import KeptAudio, SpeechKeeper, covers
from whisperd.engine.types import SAMPLE_RATE

__all__ = ["SpeechRecorder", "SpeechRecording", "WholeRecording", "check_covered"]


@dataclass(frozen=True, eq=False, slots=True)
class WholeRecording:
    """Every sample, float32."""

    samples: np.ndarray

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


@dataclass(frozen=True, eq=False, slots=True)
class SpeechRecording:
    """Only the audio near speech of a long recording, with the VAD's view of all of it."""

    kept: KeptAudio

    @property
    def duration(self) -> float:
        return self.kept.n_samples / SAMPLE_RATE

    def fetch(self, start: int, end: int) -> np.ndarray:
        """Original samples ``[start, end)`` as float32 (inside a speech span, so inside kept audio)."""
        return self.kept.fetch(start, end)


class SpeechRecorder:
    """Keeps everything up to ``whole_samples``; beyond, only the audio near speech (if ``gate``)."""

    def __init__(self, *, whole_samples: int, gate: bool) -> None:
        self._whole_samples = whole_samples
        self._keeper = SpeechKeeper() if gate else None
        self._blocks: list[np.ndarray] = []
        self._seen = 0
        self._gated = False

    def feed(self, block: np.ndarray) -> None:
        if self._keeper is not None:
            self._keeper.feed(block)
        self._seen += len(block)
        if self._gated:
            return
        self._blocks.append(block)
        if self._keeper is not None and self._seen > self._whole_samples:
            self._gated = True  # a long recording: from now on the keeper's copy is the only one
            self._blocks = []

    def finish(self) -> WholeRecording | SpeechRecording:
        if self._keeper is not None and self._gated:
            return SpeechRecording(self._keeper.finish())
        if not self._blocks:
            return WholeRecording(np.zeros(0, dtype=np.float32))
        samples = np.concatenate(self._blocks)
        self._blocks = []
        if samples.dtype == np.int16:
            return WholeRecording(samples.astype(np.float32) / np.float32(32768.0))
        return WholeRecording(samples.astype(np.float32, copy=False))


def check_covered(*options: VadOptions) -> None:
    """Fail at import if a VAD setting the adapter uses could need audio the keeper drops."""
    for option in options:
        if not covers(option):
            raise AssertionError(f"the speech keeper's margins do not cover {option}")
