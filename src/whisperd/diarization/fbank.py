"""Kaldi-compatible log-mel filterbank features in numpy: what CAM++ was trained on.

80 bins, 25 ms frames every 10 ms, a povey window, pre-emphasis and DC removal, as
``torchaudio.compliance.kaldi.fbank`` computes them (within 0.004 on log energies), so that the network
sees the features it learnt from without torch or Kaldi installed.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["FRAME_LENGTH", "FRAME_SHIFT", "NUM_MEL_BINS", "SAMPLE_RATE", "campplus_features", "kaldi_fbank"]

_F32 = npt.NDArray[np.float32]

SAMPLE_RATE: Final = 16000
NUM_MEL_BINS: Final = 80
FRAME_LENGTH: Final = 400  # 25 ms at 16 kHz
FRAME_SHIFT: Final = 160  # 10 ms


def _mel(freq: npt.NDArray[np.float64] | float) -> npt.NDArray[np.float64]:
    return np.asarray(1127.0 * np.log(1.0 + np.asarray(freq, dtype=np.float64) / 700.0))


def _kaldi_mel_banks(
    num_bins: int, padded_length: int, sample_rate: int, low_freq: float
) -> npt.NDArray[np.float64]:
    """Kaldi's triangular mel filters (no VTLN), shape (num_bins, padded_length // 2 + 1).

    Same construction as kaldi/feat/mel-computations.cc and torchaudio.compliance.kaldi.get_mel_banks: triangles
    evenly spaced on the mel scale between low_freq and Nyquist, evaluated on the mel value of each FFT bin; the
    Nyquist bin gets weight 0.
    """
    nyquist = 0.5 * sample_rate
    mel_low, mel_high = float(_mel(low_freq)), float(_mel(nyquist))
    delta = (mel_high - mel_low) / (num_bins + 1)
    b = np.arange(num_bins, dtype=np.float64)[:, None]
    left, center, right = mel_low + b * delta, mel_low + (b + 1) * delta, mel_low + (b + 2) * delta
    mel = _mel(sample_rate / padded_length * np.arange(padded_length // 2, dtype=np.float64))[None, :]
    banks = np.maximum(0.0, np.minimum((mel - left) / (center - left), (right - mel) / (right - center)))
    return np.pad(banks, ((0, 0), (0, 1)))


_PADDED_LENGTH: Final = 512  # FRAME_LENGTH rounded up to a power of two, as Kaldi does by default
_POVEY_WINDOW: Final = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME_LENGTH) / (FRAME_LENGTH - 1))) ** 0.85
_MEL_BANKS_T: Final = np.ascontiguousarray(
    _kaldi_mel_banks(NUM_MEL_BINS, _PADDED_LENGTH, SAMPLE_RATE, 20.0).T
)
_LOG_FLOOR: Final = float(np.finfo(np.float32).eps)  # Kaldi/torchaudio clamp mel energies to float epsilon


def kaldi_fbank(samples: npt.ArrayLike) -> _F32:
    """Log mel filterbank energies exactly as Kaldi's compute-fbank-feats with CAM++'s training settings.

    80 bins, 25 ms frames every 10 ms (snip_edges: only whole frames), no dither (deterministic; 3D-Speaker
    infers with dither 0), DC offset removed per frame, pre-emphasis 0.97, Povey window, 512-point power
    spectrum, mel filters from 20 Hz to Nyquist, natural log floored at float epsilon. Input: 16 kHz mono
    samples scaled to [-1, 1] as 3D-Speaker feeds them (the scale only shifts every log energy by a constant,
    which the mean normalisation in `campplus_features` removes). Returns (frames, 80) float32.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {x.shape}")
    if x.size < FRAME_LENGTH:
        return np.zeros((0, NUM_MEL_BINS), dtype=np.float32)
    num_frames = 1 + (x.size - FRAME_LENGTH) // FRAME_SHIFT
    frames = np.lib.stride_tricks.sliding_window_view(x, FRAME_LENGTH)[::FRAME_SHIFT][:num_frames]
    frames = frames - frames.mean(axis=1, keepdims=True)
    emphasized = np.empty_like(frames)
    emphasized[:, 1:] = frames[:, 1:] - 0.97 * frames[:, :-1]
    emphasized[:, 0] = frames[:, 0] * (1.0 - 0.97)
    spectrum = np.fft.rfft(emphasized * _POVEY_WINDOW, n=_PADDED_LENGTH)
    power = spectrum.real**2 + spectrum.imag**2
    return np.log(np.maximum(power @ _MEL_BANKS_T, _LOG_FLOOR)).astype(np.float32)


def campplus_features(samples: npt.ArrayLike) -> _F32:
    """The model's input: Kaldi fbank minus its mean over time (3D-Speaker's FBank(mean_nor=True))."""
    feats = kaldi_fbank(samples)
    return feats - feats.mean(axis=0, keepdims=True) if feats.shape[0] else feats
