"""Resampling holds no threads of its own, and converts exactly as PyAV's resampler does.

PyAV's ``AudioResampler`` builds an FFmpeg filter graph with the automatic thread count, so every
resampler kept one idle thread per CPU core: every decode of an upload and every live session held
them (two on this machine, sixty-four on a large server), which the server's thread bound did not count.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest

from tests.support.media import AUDIO_DIR, pcm
from whisperd.media.audio import decode_blocks
from whisperd.media.pcm import PcmConverter, PcmFormat
from whisperd.media.resample import Resampler


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _peak_threads(blocks: Iterator[np.ndarray]) -> int:
    peak = _threads()
    for _ in blocks:
        peak = max(peak, _threads())
    return peak


@pytest.mark.parametrize("name", ["jfk.mp3", "jfk.flac", "stereo_diarization.wav"])
def test_decoding_a_file_starts_no_thread(name: str) -> None:
    before = _threads()
    peak = _peak_threads(decode_blocks(AUDIO_DIR / name, max_seconds=600, max_decode_seconds=600))
    assert peak == before
    assert _threads() == before


def test_a_live_stream_at_24_khz_starts_no_thread() -> None:
    data = pcm(AUDIO_DIR / "jfk.flac", 24_000)
    converter = PcmConverter(PcmFormat(24_000, 2, 1))
    before = _threads()
    chunks = (converter.convert(data[i : i + 4800]) for i in range(0, len(data), 4800))
    assert _peak_threads(chunks) == before
    converter.flush()
    assert _threads() == before


@pytest.mark.parametrize(("name", "layout"), [("jfk.mp3", "mono"), ("stereo_diarization.wav", "stereo")])
def test_the_same_samples_as_pyavs_resampler(name: str, layout: str) -> None:
    import av

    ours, theirs = [], []
    with av.open(str(AUDIO_DIR / name)) as container:
        reference = av.AudioResampler(format="s16", layout=layout, rate=16_000)
        resampler = Resampler(format="s16", layout=layout, rate=16_000)
        for frame in [*container.decode(audio=0), None]:
            ours += [out.to_ndarray() for out in resampler.resample(frame)]
            theirs += [out.to_ndarray() for out in reference.resample(frame)]
    assert len(ours) > 0
    np.testing.assert_array_equal(np.concatenate(ours, axis=1), np.concatenate(theirs, axis=1))


def test_audio_already_in_the_target_format_passes_through() -> None:
    import av

    frame = av.AudioFrame.from_ndarray(np.zeros((1, 1600), dtype=np.int16), format="s16", layout="mono")
    frame.sample_rate = 16_000
    assert Resampler(format="s16", layout="mono", rate=16_000).resample(frame) == [frame]


def test_flushing_before_any_audio_gives_nothing() -> None:
    assert Resampler(format="s16", layout="mono", rate=16_000).resample(None) == []


def test_a_frame_unlike_the_first_is_refused() -> None:
    import av

    resampler = Resampler(format="s16", layout="mono", rate=16_000)
    first = av.AudioFrame.from_ndarray(np.zeros((1, 480), dtype=np.float32), format="flt", layout="mono")
    first.sample_rate = 48_000
    resampler.resample(first)
    other = av.AudioFrame.from_ndarray(np.zeros((1, 480), dtype=np.float32), format="flt", layout="mono")
    other.sample_rate = 44_100
    with pytest.raises(ValueError, match="differs"):
        resampler.resample(other)
