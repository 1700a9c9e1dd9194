"""One utterance's audio: converted as it comes, refused at the chunk that passes the limit."""

from __future__ import annotations

import numpy as np
import pytest

from whisperd.errors import AudioTooLong, InvalidParameter
from whisperd.media.pcm import PcmFormat
from whisperd.wyoming.utterance import Utterance

_HA = PcmFormat(16_000, 2, 1)  # what Home Assistant sends


def _pcm(seconds: float, value: int = 1000, fmt: PcmFormat = _HA) -> bytes:
    frames = int(seconds * fmt.rate)
    return np.full(frames * fmt.channels, value, dtype=f"<i{fmt.width}").tobytes()


def test_home_assistant_audio_arrives_as_float_samples() -> None:
    utterance = Utterance(_HA, max_seconds=10)
    for _ in range(10):
        utterance.add(_HA, _pcm(0.1, 16384))
    samples = utterance.samples()
    assert samples.dtype == np.float32
    assert len(samples) == 16_000
    assert np.all(samples == 0.5)
    assert utterance.received_bytes == 32_000
    assert utterance.seconds == pytest.approx(1.0)


def test_nothing_received_is_empty_audio() -> None:
    samples = Utterance(_HA, max_seconds=10).samples()
    assert samples.dtype == np.float32
    assert len(samples) == 0


def test_the_limit_is_checked_before_converting() -> None:
    utterance = Utterance(_HA, max_seconds=1.0)
    utterance.add(_HA, _pcm(0.9))
    with pytest.raises(AudioTooLong) as refused:
        utterance.add(_HA, _pcm(0.2))
    assert refused.value.code == "audio_too_long"
    assert utterance.seconds == pytest.approx(0.9)


def test_a_client_may_change_format_between_chunks() -> None:
    stereo = PcmFormat(48_000, 4, 2)
    utterance = Utterance(_HA, max_seconds=10)
    utterance.add(_HA, _pcm(0.5))
    utterance.add(stereo, _pcm(0.5, 2**20, stereo))
    assert len(utterance.samples()) == pytest.approx(16_000, abs=32)
    with pytest.raises(InvalidParameter):
        utterance.add(PcmFormat(16_000, 7, 1), b"\x00" * 7)
