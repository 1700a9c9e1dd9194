"""One party per channel, or one mix on every channel? Decided from loudness per frame."""

from __future__ import annotations

import numpy as np
import pytest

from whisperd.diarization.channels import ChannelMeter

RATE = 16_000


def _bursts(rng: np.random.Generator, pattern: list[int], seconds: float = 0.5) -> np.ndarray:
    """Noise bursts standing for speech: ``pattern`` says who talks in each half second (-1: nobody)."""
    n = int(RATE * seconds)
    left = np.concatenate([rng.normal(0, 0.2, n) if who == 0 else np.zeros(n) for who in pattern])
    right = np.concatenate([rng.normal(0, 0.2, n) if who == 1 else np.zeros(n) for who in pattern])
    return np.stack([left, right], axis=1)


def _meter(samples: np.ndarray, block: int = 12_345) -> ChannelMeter:
    meter = ChannelMeter(samples.shape[1])
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
    for start in range(0, len(pcm), block):
        meter.feed(pcm[start : start + block])
    return meter


PATTERN = [0, 0, 1, 1, -1, 0, 1, 1, 0, -1, 1, 0]


def test_a_call_with_one_party_per_channel_is_separate() -> None:
    assert _meter(_bursts(np.random.default_rng(1), PATTERN)).separate_parties()


def test_crosstalk_between_legs_does_not_change_that() -> None:
    legs = _bursts(np.random.default_rng(2), PATTERN)
    bleed = legs + 0.1 * legs[:, ::-1]
    assert _meter(bleed).separate_parties()


@pytest.mark.parametrize("mix", ["duplicated", "panned", "one channel only"])
def test_a_mix_is_not(mix: str) -> None:
    legs = _bursts(np.random.default_rng(3), PATTERN)
    mono = legs.sum(axis=1)
    if mix == "duplicated":
        samples = np.stack([mono, mono], axis=1)
    elif mix == "panned":
        samples = np.stack([legs[:, 0] + 0.8 * legs[:, 1], 0.8 * legs[:, 0] + legs[:, 1]], axis=1)
    else:
        samples = np.stack([mono, np.zeros_like(mono)], axis=1)
    assert not _meter(samples).separate_parties()


def test_silence_is_not() -> None:
    assert not _meter(np.zeros((RATE * 2, 2))).separate_parties()
