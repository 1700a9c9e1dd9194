"""The voice of a recording, window by window, computed as the audio is decoded.

Speaker embeddings are taken over 1.5 s windows every 0.75 s (short enough to follow quick turns, long
enough for a stable voice print). Windows are embedded in small batches while decoding goes on, so only
the embeddings are kept, a few hundred bytes per window: memory does not grow with the recording's
audio. Windows with almost no sound are skipped; they carry no voice and no words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from whisperd.engine.types import SAMPLE_RATE

__all__ = [
    "HOP_SECONDS",
    "WINDOW_SECONDS",
    "Embedder",
    "VoiceTrack",
    "VoiceWindows",
]

WINDOW_SECONDS = 1.5
HOP_SECONDS = 0.75
_SILENT_DBFS = -55.0
_BATCH = 16


class Embedder(Protocol):
    """A speaker-embedding model: one unit-free vector per clip of 16 kHz mono float32 audio."""

    def embed_batch(self, clips: Sequence[np.ndarray]) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class VoiceWindows:
    """Embedded windows: their start times in seconds and one embedding row each."""

    starts: np.ndarray
    embeddings: np.ndarray
    length: float = WINDOW_SECONDS

    def __len__(self) -> int:
        return len(self.starts)

    def mean(self) -> np.ndarray | None:
        """One voice print for the whole recording (a reference clip), or None if nothing was heard."""
        if not len(self):
            return None
        unit = self.embeddings / np.maximum(np.linalg.norm(self.embeddings, axis=1, keepdims=True), 1e-12)
        mean: np.ndarray = unit.mean(axis=0)
        return mean


class VoiceTrack:
    """Feed it decoded blocks (16 kHz mono, int16 or float32); :meth:`finish` gives the embedded windows."""

    def __init__(
        self, embedder: Embedder, *, window: float = WINDOW_SECONDS, hop: float = HOP_SECONDS
    ) -> None:
        self._embedder = embedder
        self._window = int(window * SAMPLE_RATE)
        self._hop = int(hop * SAMPLE_RATE)
        self._length = window
        self._buffer = np.zeros(0, dtype=np.float32)
        self._offset = 0  # sample index of the buffer's first sample
        self._pending: list[tuple[int, np.ndarray]] = []
        self._starts: list[int] = []
        self._embeddings: list[np.ndarray] = []
        self._floor = np.float32(10 ** (_SILENT_DBFS / 20))
        self._formed = False

    def feed(self, block: np.ndarray) -> None:
        samples = block.astype(np.float32) / np.float32(32768.0) if block.dtype == np.int16 else block
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])
        while len(self._buffer) >= self._window:
            self._formed = True
            self._take(self._buffer[: self._window])
            self._buffer = self._buffer[self._hop :]
            self._offset += self._hop

    def finish(self) -> VoiceWindows:
        """Embed what is left: the audio after the last full window, as one shorter window."""
        covered = self._window - self._hop if self._formed else 0
        if len(self._buffer) > covered and len(self._buffer) >= SAMPLE_RATE // 2:
            self._take(self._buffer.copy())  # the tail, or a whole clip shorter than one window
        self._buffer = np.zeros(0, dtype=np.float32)
        self._flush()
        starts = np.array(self._starts, dtype=np.float64) / SAMPLE_RATE
        embeddings = np.concatenate(self._embeddings) if self._embeddings else np.zeros((0, 0), np.float32)
        return VoiceWindows(starts, embeddings, self._length)

    def _take(self, clip: np.ndarray) -> None:
        if float(np.sqrt(np.mean(clip.astype(np.float64) ** 2))) < self._floor:
            return
        self._pending.append((self._offset, clip.copy()))
        if len(self._pending) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        self._embeddings.append(np.asarray(self._embedder.embed_batch([clip for _, clip in self._pending])))
        self._starts.extend(start for start, _ in self._pending)
        self._pending = []
