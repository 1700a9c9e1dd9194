"""Voice windows as the audio is decoded: every hop, silence skipped, the tail kept, bounded batches."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from whisperd.diarization.voices import VoiceTrack

RATE = 16_000


class _Recorder:
    """Stands in for the embedding model: records the clips it is given (pure bookkeeping under test)."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.lengths: list[int] = []

    def embed_batch(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        self.batches.append(len(clips))
        self.lengths += [len(c) for c in clips]
        return np.array([[float(np.abs(c).mean()), 1.0] for c in clips])


def test_windows_every_hop_and_the_tail() -> None:
    recorder = _Recorder()
    track = VoiceTrack(recorder)
    audio = np.random.default_rng(0).normal(0, 0.1, RATE * 5).astype(np.float32)  # 5 s
    for start in range(0, len(audio), 7_000):  # blocks that do not line up with the windows
        track.feed(audio[start : start + 7_000])
    windows = track.finish()
    assert windows.starts.tolist() == [0.0, 0.75, 1.5, 2.25, 3.0, 3.75]
    assert recorder.lengths == [24_000] * 5 + [20_000]  # 3.75-5.0 s: the tail after the last full window
    assert max(recorder.batches) <= 16


def test_silence_is_skipped() -> None:
    recorder = _Recorder()
    track = VoiceTrack(recorder)
    speech = np.random.default_rng(1).normal(0, 0.1, RATE * 3).astype(np.float32)
    track.feed(np.concatenate([np.zeros(RATE * 3, np.float32), speech]))
    windows = track.finish()
    assert windows.starts.min() >= 1.5  # no window made only of the first 3 s of silence
    assert len(windows) == len(recorder.lengths)


def test_a_short_clip_is_one_window() -> None:
    recorder = _Recorder()
    track = VoiceTrack(recorder)
    track.feed((np.random.default_rng(2).normal(0, 0.1, RATE) * 32767).astype(np.int16))
    windows = track.finish()
    assert recorder.lengths == [RATE]
    assert windows.mean() is not None
    assert VoiceTrack(recorder).finish().mean() is None
