"""Live audio formats against sox: G.711 expansion bit for bit, 24 kHz -> 16 kHz resampling by signal."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.support.media import AUDIO_DIR
from whisperd.media.audio import decode_file
from whisperd.media.pcm import Resampler, decode_g711

SOX = shutil.which("sox")
pytestmark = pytest.mark.skipif(SOX is None, reason="sox is needed (make setup installs it)")


def _sox(args: list[str], data: bytes) -> bytes:
    assert SOX is not None
    return subprocess.run([SOX, *args], input=data, capture_output=True, check=True).stdout


@pytest.mark.parametrize(("encoding", "sox_name"), [("mulaw", "mu-law"), ("alaw", "a-law")])
def test_g711_expands_as_sox_does(encoding: str, sox_name: str) -> None:
    every_code = bytes(range(256))
    expected = _sox(
        ["-t", "raw", "-r", "8000", "-e", sox_name, "-b", "8", "-c", "1", "-", "-t", "raw", "-e", "signed",
         "-b", "16", "-"],
        every_code,
    )  # fmt: skip
    ours = decode_g711(every_code, encoding)  # type: ignore[arg-type]
    assert ours.tolist() == np.frombuffer(expected, dtype="<i2").tolist()


def _speech_at(rate: int) -> np.ndarray:
    """Real speech (jfk.flac) at ``rate`` Hz as int16, made by sox."""
    samples = decode_file(AUDIO_DIR / "jfk.flac", max_seconds=60, max_decode_seconds=60).samples
    raw = (samples * 32767).astype("<i2").tobytes()
    out = _sox(
        [
            "-t",
            "raw",
            "-r",
            "16000",
            "-e",
            "signed",
            "-b",
            "16",
            "-c",
            "1",
            "-",
            "-t",
            "raw",
            "-r",
            str(rate),
            "-",
        ],
        raw,
    )
    return np.frombuffer(out, dtype="<i2")


@pytest.mark.parametrize("block", [480, 2400, 4801])
def test_24_khz_blocks_resample_like_sox(block: int) -> None:
    speech = _speech_at(24_000)
    expected = np.frombuffer(
        _sox(
            [
                "-t",
                "raw",
                "-r",
                "24000",
                "-e",
                "signed",
                "-b",
                "16",
                "-c",
                "1",
                "-",
                "-t",
                "raw",
                "-r",
                "16000",
                "-",
            ],
            speech.tobytes(),
        ),
        dtype="<i2",
    ).astype(np.float64)
    resampler = Resampler(24_000)
    parts = [resampler.convert(speech[i : i + block]) for i in range(0, len(speech), block)]
    ours = np.concatenate([*parts, resampler.flush()]).astype(np.float64)
    assert abs(len(ours) - len(expected)) <= 32
    n = min(len(ours), len(expected))
    # the two filters differ a little (and by a few samples of delay): compare the best-aligned signal
    best = max((np.corrcoef(ours[lag : lag + n - 64], expected[: n - 64])[0, 1], lag) for lag in range(0, 16))
    assert best[0] > 0.999, best


def test_16_khz_passes_through() -> None:
    samples = np.arange(-100, 100, dtype=np.int16)
    assert Resampler(16_000).convert(samples).tolist() == samples.tolist()


def test_an_empty_block_is_empty(tmp_path: Path) -> None:
    assert len(Resampler(24_000).convert(np.zeros(0, dtype=np.int16))) == 0
