"""Raw audio from socket clients to what Whisper hears: PCM of any rate, width and channels, and G.711.

Socket protocols send headerless audio in chunks whose format they announce: OpenAI's Realtime API
16-bit PCM at 24 kHz or 8 kHz G.711 from telephony, Wyoming (Home Assistant) PCM of any rate, width and
channel count, and a chunk may end in the middle of a frame. :func:`decode_g711` expands G.711 with the
standard's formulas (ITU-T G.711; the same values as sox's ``-e mu-law`` / ``-e a-law``).
:class:`PcmConverter` keeps a partial frame for the next chunk, mixes channels down to their mean (what
FFmpeg does for stereo), and resamples with FFmpeg's libswresample through PyAV, keeping the filter's
state between chunks so that chunk boundaries leave no trace, to the same s16 mono 16 kHz that uploads
are decoded to (:mod:`whisperd.media.audio`): audio is converted alike whichever way it arrives.
16 kHz 16-bit mono, what Home Assistant sends, passes through untouched.

Widths follow the Wyoming package's convention: 1 byte is unsigned (as in WAV files), 2, 3 and 4 bytes
are signed integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from whisperd.engine.types import SAMPLE_RATE
from whisperd.errors import InvalidParameter
from whisperd.media.resample import Resampler

__all__ = [
    "MAX_CHANNELS",
    "MAX_RATE",
    "MIN_RATE",
    "Encoding",
    "PcmConverter",
    "PcmFormat",
    "decode_g711",
    "pcm16_to_float",
]

Encoding = Literal["pcm16", "mulaw", "alaw"]

MIN_RATE = 1_000
MAX_RATE = 384_000
MAX_CHANNELS = 32
"""Bounds on an announced format: wide enough for any real device, narrow enough that a hostile value
cannot make the resampler allocate absurd buffers."""

_FULL_SCALE = {1: 128.0, 2: 32768.0, 3: 2.0**31, 4: 2.0**31}


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


@dataclass(frozen=True, slots=True)
class PcmFormat:
    """How raw PCM is laid out: frames per second, bytes per sample, interleaved channels."""

    rate: int
    width: int
    channels: int

    def check(self) -> None:
        """Raise :class:`InvalidParameter` (naming the field) for a format this module cannot convert."""
        for name, value, low, high in (
            ("rate", self.rate, MIN_RATE, MAX_RATE),
            ("width", self.width, 1, 4),
            ("channels", self.channels, 1, MAX_CHANNELS),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise InvalidParameter(
                    f"Unsupported audio {name} {value!r}: expected an integer from {low} to {high}.",
                    param=name,
                )

    @property
    def frame_bytes(self) -> int:
        return self.width * self.channels

    @property
    def is_native(self) -> bool:
        """Already what the model hears (16 kHz, 16-bit, mono): no conversion at all."""
        return (self.rate, self.width, self.channels) == (SAMPLE_RATE, 2, 1)

    def seconds(self, n_bytes: int) -> float:
        """How long ``n_bytes`` of this PCM lasts."""
        return n_bytes / (self.frame_bytes * self.rate)


class PcmConverter:
    """One stream of PCM in ``fmt``, chunk by chunk, to 16 kHz mono int16 (resampler state included)."""

    def __init__(self, fmt: PcmFormat) -> None:
        fmt.check()
        self.format = fmt
        self._partial = b""
        self._resampler: Resampler | None = None

    def convert(self, data: bytes) -> np.ndarray:
        """The samples of ``data`` (plus any frame the previous chunk left incomplete) that are ready now."""
        data = self._partial + data
        whole = len(data) - len(data) % self.format.frame_bytes
        self._partial = data[whole:]
        if self.format.is_native:
            return np.frombuffer(data[:whole], dtype="<i2").astype(np.int16)
        if whole == 0:
            return np.zeros(0, dtype=np.int16)
        return self._resample(_mono(data[:whole], self.format))

    def flush(self) -> np.ndarray:
        """What the resampler still holds at the end of the stream; an incomplete last frame is dropped."""
        self._partial = b""
        if self._resampler is None:
            return np.zeros(0, dtype=np.int16)
        blocks = [frame.to_ndarray().reshape(-1) for frame in self._resampler.resample(None)]
        self._resampler = None
        return _joined(blocks)

    def _resample(self, mono: np.ndarray) -> np.ndarray:
        import av  # PyAV pulls in FFmpeg: imported on first use, not with the package

        if self._resampler is None:
            self._resampler = Resampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        frame = av.AudioFrame.from_ndarray(mono.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = self.format.rate
        return _joined([out.to_ndarray().reshape(-1) for out in self._resampler.resample(frame)])


def _mono(data: bytes, fmt: PcmFormat) -> np.ndarray:
    """Whole frames of ``data`` as float32 mono in [-1, 1): integers scaled, channels averaged."""
    if fmt.width == 1:
        values = np.frombuffer(data, dtype=np.uint8).astype(np.float32) - np.float32(128.0)
    elif fmt.width == 3:
        padded = np.zeros((len(data) // 3, 4), dtype=np.uint8)
        padded[:, 1:] = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3)
        values = padded.view("<i4").reshape(-1).astype(np.float32)  # 24 bits in the top of an int32
    else:
        values = np.frombuffer(data, dtype="<i2" if fmt.width == 2 else "<i4").astype(np.float32)
    values /= np.float32(_FULL_SCALE[fmt.width])
    if fmt.channels > 1:
        values = values.reshape(-1, fmt.channels).mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(values, dtype=np.float32)


def _joined(blocks: list[np.ndarray]) -> np.ndarray:
    if not blocks:
        return np.zeros(0, dtype=np.int16)
    return np.concatenate(blocks).astype(np.int16, copy=False)
