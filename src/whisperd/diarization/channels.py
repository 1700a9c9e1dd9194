"""Does a multi-channel recording hold one party per channel (a call centre's two legs), or one mix?

Call recorders put each party on its own channel; then the channel says who speaks, exactly, and each
channel is transcribed on its own. But stereo files are also made by duplicating mono, by panning a mix,
or by two microphones in one room, where every channel hears everyone. The test is loudness per 50 ms
frame: in a recording of separate parties, most frames with sound are clearly louder (by 6 dB or more)
on one channel than on any other, and at least two channels lead in a fair share of them. A room or a
mix gives channels that rise and fall together. Faint crosstalk between legs does not change the answer.
"""

from __future__ import annotations

import numpy as np

from whisperd.engine.types import SAMPLE_RATE

__all__ = ["ChannelMeter"]

_FRAME = SAMPLE_RATE // 20
_LEAD_DB = 6.0
_ACTIVE_BELOW_PEAK_DB = 40.0
_SEPARATE_SHARE = 0.5
_MIN_LEADER_SHARE = 0.05


class ChannelMeter:
    """Loudness of each channel per 50 ms frame, fed block by block; a few bytes per frame."""

    def __init__(self, channels: int) -> None:
        self.channels = channels
        self._rest = np.zeros((0, channels), dtype=np.float32)
        self._frames: list[np.ndarray] = []

    def feed(self, block: np.ndarray) -> None:
        """``block``: samples by channel, shape (n, channels), int16 or float."""
        scale = 32768.0 if block.dtype == np.int16 else 1.0
        data = np.concatenate([self._rest, block.astype(np.float32) / np.float32(scale)])
        whole = len(data) // _FRAME * _FRAME
        if whole:
            frames = data[:whole].reshape(-1, _FRAME, self.channels)
            power = np.mean(frames.astype(np.float64) ** 2, axis=1)
            self._frames.append((10 * np.log10(power + 1e-10)).astype(np.float32))
        self._rest = data[whole:]

    def separate_parties(self) -> bool:
        """True when each channel carries its own speaker (see the module's docstring)."""
        if self.channels < 2 or not self._frames:
            return False
        levels = np.concatenate(self._frames)
        loudest = levels.max(axis=1)
        active = loudest > loudest.max() - _ACTIVE_BELOW_PEAK_DB
        if not active.any():
            return False
        ordered = np.sort(levels[active], axis=1)
        leads = ordered[:, -1] - ordered[:, -2] >= _LEAD_DB
        leaders = np.argmax(levels[active], axis=1)[leads]
        shares = np.bincount(leaders, minlength=self.channels) / active.sum()
        return bool(leads.mean() >= _SEPARATE_SHARE and (shares >= _MIN_LEADER_SHARE).sum() >= 2)
