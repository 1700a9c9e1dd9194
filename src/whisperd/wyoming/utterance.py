"""One utterance's audio as it arrives: PCM chunks converted on the fly, bounded in seconds.

Between ``audio-start`` and ``audio-stop`` a client sends raw PCM chunks, each announcing its format.
They are converted as they come (:class:`~whisperd.media.pcm.PcmConverter`), so that what is held is
16 kHz mono int16 whatever the client sends (44.1 kHz stereo 32-bit is eleven times smaller once
converted), and the duration limit is checked on what the client announces before anything is
converted, so an over-long utterance is refused at the chunk that crosses the limit.
"""

from __future__ import annotations

import numpy as np

from whisperd.errors import AudioTooLong
from whisperd.media.pcm import PcmConverter, PcmFormat

__all__ = ["Utterance"]


class Utterance:
    """The audio received so far, converted; :meth:`samples` ends it."""

    def __init__(self, fmt: PcmFormat, *, max_seconds: float) -> None:
        fmt.check()
        self.format = fmt
        self.max_seconds = max_seconds
        self.received_bytes = 0
        self.seconds = 0.0
        """Seconds of audio received, as the chunks' formats say."""
        self._converter = PcmConverter(fmt)
        self._blocks: list[np.ndarray] = []
        self.sample_count = 0
        """16 kHz samples converted so far."""

    def add(self, fmt: PcmFormat, data: bytes) -> None:
        """Convert one chunk; :class:`AudioTooLong` once the utterance passes the limit."""
        if fmt != self._converter.format:  # a client may change format between chunks
            fmt.check()
            flushed = self._converter.flush()
            self._blocks.append(flushed)
            self.sample_count += len(flushed)
            self._converter = PcmConverter(fmt)
        seconds = self.seconds + fmt.seconds(len(data))
        if seconds > self.max_seconds:
            raise AudioTooLong(self.max_seconds)
        self.seconds = seconds
        self.received_bytes += len(data)
        block = self._converter.convert(data)
        if len(block):
            self._blocks.append(block)
            self.sample_count += len(block)

    def so_far(self) -> np.ndarray:
        """The samples converted so far as float32, for a draft; the utterance goes on."""
        return _float(np.concatenate(self._blocks) if self._blocks else np.zeros(0, dtype=np.int16))

    def samples(self) -> np.ndarray:
        """Every sample as float32 in [-1, 1), as the model takes them (empty when nothing came)."""
        self._blocks.append(self._converter.flush())
        pcm = np.concatenate(self._blocks) if self._blocks else np.zeros(0, dtype=np.int16)
        self._blocks = []
        return _float(pcm)


def _float(pcm: np.ndarray) -> np.ndarray:
    return pcm.astype(np.float32) / np.float32(32768.0)
