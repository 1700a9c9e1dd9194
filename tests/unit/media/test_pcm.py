"""Raw PCM to 16 kHz mono and G.711 expansion, checked against sox: the same input through both must agree.

sox's resampler (its "high quality" default) is an independent implementation of the same maths, so
agreement to 60 dB (the difference a thousandth of the signal) shows that rate, width, channel mixing
and chunk boundaries are all handled right. Upsampling is judged more loosely, as the two resamplers'
filters differ near the old Nyquist frequency, and 8-bit audio against its own quantisation noise.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.support.media import AUDIO_DIR
from whisperd.errors import InvalidParameter
from whisperd.media.pcm import PcmConverter, PcmFormat, decode_g711

_ENCODING = {1: ["-e", "unsigned-integer"], 2: ["-e", "signed-integer"], 3: ["-e", "signed-integer"], 4: ["-e", "signed-integer"]}  # fmt: skip


def _sox_raw(source: Path, fmt: PcmFormat, *extra_input: str) -> bytes:
    """``source`` as raw little-endian PCM in ``fmt``, made by sox."""
    done = subprocess.run(
        ["sox", *extra_input, str(source), "-t", "raw", "-r", str(fmt.rate), "-c", str(fmt.channels),
         "-b", str(8 * fmt.width), *_ENCODING[fmt.width], "-L", "-"],
        capture_output=True, check=True,
    )  # fmt: skip
    return done.stdout


def _sox_16k(raw: bytes, fmt: PcmFormat) -> np.ndarray:
    """sox's own conversion of the raw PCM to 16 kHz mono int16 (the reference)."""
    done = subprocess.run(
        ["sox", "-t", "raw", "-r", str(fmt.rate), "-c", str(fmt.channels), "-b", str(8 * fmt.width),
         *_ENCODING[fmt.width], "-L", "-", "-t", "raw", "-r", "16000", "-c", "1", "-b", "16",
         "-e", "signed-integer", "-L", "-"],
        input=raw, capture_output=True, check=True,
    )  # fmt: skip
    return np.frombuffer(done.stdout, dtype="<i2")


def _converted(raw: bytes, fmt: PcmFormat, chunk: int) -> np.ndarray:
    converter = PcmConverter(fmt)
    blocks = [converter.convert(raw[i : i + chunk]) for i in range(0, len(raw), chunk)]
    return np.concatenate([*blocks, converter.flush()])


def _snr_db(ours: np.ndarray, reference: np.ndarray) -> float:
    assert abs(len(ours) - len(reference)) <= 1, (len(ours), len(reference))
    n = min(len(ours), len(reference))
    signal = reference[:n].astype(np.float64)
    noise = ours[:n].astype(np.float64) - signal
    return float(10 * np.log10(np.sum(signal**2) / max(np.sum(noise**2), 1e-9)))


@pytest.mark.parametrize(
    ("fmt", "min_snr_db"),
    [
        (PcmFormat(44_100, 4, 2), 60.0),  # 44.1 kHz stereo 32-bit
        (PcmFormat(44_100, 3, 2), 60.0),  # 24-bit
        (PcmFormat(48_000, 2, 1), 60.0),
        (PcmFormat(24_000, 2, 1), 60.0),  # what OpenAI's Realtime API sends
        (PcmFormat(8_000, 2, 1), 45.0),  # upsampling: the two filters differ most near 4 kHz
        (PcmFormat(22_050, 2, 6), 60.0),  # more channels than any layout name needs
        (PcmFormat(44_100, 1, 2), 30.0),  # 8-bit unsigned: its own quantisation noise is about 40 dB down
    ],
)
def test_agrees_with_sox(tmp_path: Path, fmt: PcmFormat, min_snr_db: float) -> None:
    raw = _sox_raw(AUDIO_DIR / "jfk.flac", fmt)
    ours = _converted(raw, fmt, chunk=4099)  # chunks that end inside frames, as a socket delivers them
    assert _snr_db(ours, _sox_16k(raw, fmt)) > min_snr_db


def test_chunking_changes_nothing() -> None:
    fmt = PcmFormat(44_100, 4, 2)
    raw = _sox_raw(AUDIO_DIR / "jfk.flac", fmt)
    whole = _converted(raw, fmt, chunk=len(raw))
    assert np.array_equal(_converted(raw, fmt, chunk=1001), whole)
    assert np.array_equal(_converted(raw, fmt, chunk=8), whole)


def test_sixteen_kilohertz_mono_passes_untouched() -> None:
    pcm = np.random.default_rng(7).integers(-32768, 32767, 16_001, dtype=np.int16)
    raw = pcm.astype("<i2").tobytes()
    assert np.array_equal(_converted(raw, PcmFormat(16_000, 2, 1), chunk=333), pcm)


def test_a_last_incomplete_frame_is_dropped() -> None:
    converter = PcmConverter(PcmFormat(16_000, 2, 1))
    assert converter.convert(b"\x01\x00\x02").tolist() == [1]
    assert converter.flush().tolist() == []


@pytest.mark.parametrize(
    ("fmt", "param"),
    [
        (PcmFormat(16_000, 5, 1), "width"),
        (PcmFormat(16_000, 0, 1), "width"),
        (PcmFormat(999, 2, 1), "rate"),
        (PcmFormat(10**9, 2, 1), "rate"),
        (PcmFormat(16_000, 2, 0), "channels"),
        (PcmFormat(16_000, 2, 10**6), "channels"),
        (PcmFormat("16000", 2, 1), "rate"),  # type: ignore[arg-type]  # what a client may send
        (PcmFormat(16_000.0, 2, 1), "rate"),  # type: ignore[arg-type]
        (PcmFormat(True, 2, 1), "rate"),
    ],
)
def test_unsupported_formats_are_refused_by_name(fmt: PcmFormat, param: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        PcmConverter(fmt)
    assert refused.value.param == param


def _sox_bytes(args: list[str], data: bytes) -> bytes:
    return subprocess.run(["sox", *args], input=data, capture_output=True, check=True).stdout


@pytest.mark.parametrize(("encoding", "sox_name"), [("mulaw", "mu-law"), ("alaw", "a-law")])
def test_g711_expands_as_sox_does(encoding: str, sox_name: str) -> None:
    every_code = bytes(range(256))
    expected = _sox_bytes(
        ["-t", "raw", "-r", "8000", "-e", sox_name, "-b", "8", "-c", "1", "-", "-t", "raw", "-e", "signed",
         "-b", "16", "-"],
        every_code,
    )  # fmt: skip
    ours = decode_g711(every_code, encoding)  # type: ignore[arg-type]
    assert ours.tolist() == np.frombuffer(expected, dtype="<i2").tolist()
