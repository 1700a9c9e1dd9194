"""Raw audio from live clients to the 16 kHz mono float32 Whisper hears: PCM16, G.711 μ-law and A-law.

Live clients (OpenAI's Realtime API, the web page's microphone) send headerless audio: 16-bit PCM at
24 kHz, or 8 kHz G.711 from telephony. :func:`decode_g711` expands G.711 with the standard's
formulas (ITU-T G.711; the same values as sox's ``-e mu-law`` / ``-e a-law``), and :class:`Resampler`
converts a stream of PCM blocks of any rate to 16 kHz with FFmpeg's resampler through PyAV, keeping
the filter's state between blocks so that block boundaries leave no trace.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from whisperd.engine.types import SAMPLE_RATE

__all__ = ["Encoding", "Resampler", "decode_g711", "pcm16_to_float"]

Encoding = Literal["pcm16", "mulaw", "alaw"]


def _mulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


_TABLES = {"mulaw": _mulaw_table(), "alaw": _alaw_table()}


def decode_g711(data: bytes, encoding: Literal["mulaw", "alaw"]) -> np.ndarray:
    """G.711 bytes (one sample each) as int16 samples."""
    table: np.ndarray = _TABLES[encoding]
    decoded: np.ndarray = table[np.frombuffer(data, dtype=np.uint8)]
    return decoded


def pcm16_to_float(samples: np.ndarray) -> np.ndarray:
    """int16 samples as float32 in [-1, 1), scaled as faster-whisper scales decoded audio."""
    scaled: np.ndarray = samples.astype(np.float32) / np.float32(32768.0)
    return scaled


class Resampler:
    """A stream of int16 mono blocks at ``rate`` Hz to int16 mono blocks at 16 kHz, state kept between blocks.

    :meth:`flush` returns what the filter still holds at the end of the stream.
    """

    def __init__(self, rate: int) -> None:
        import av  # PyAV pulls in FFmpeg: imported on first use

        self.rate = rate
        self._av: Any = av
        self._resampler: Any = (
            None if rate == SAMPLE_RATE else av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        )

    def convert(self, samples: np.ndarray) -> np.ndarray:
        """The 16 kHz samples for this block (possibly a few fewer or more than rate-exact: filter delay)."""
        if self._resampler is None or len(samples) == 0:
            return samples.astype(np.int16, copy=False)
        frame = self._av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = self.rate
        return self._collect(self._resampler.resample(frame))

    def flush(self) -> np.ndarray:
        if self._resampler is None:
            return np.zeros(0, dtype=np.int16)
        return self._collect(self._resampler.resample(None))

    @staticmethod
    def _collect(frames: list[Any]) -> np.ndarray:
        if not frames:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.int16, copy=False)
