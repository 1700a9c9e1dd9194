"""Clustering voice prints: the count of voices follows from the prints, labels by first appearance."""

from __future__ import annotations

import numpy as np

from whisperd.diarization.clustering import cluster


def _voices(rng: np.random.Generator, centres: np.ndarray, sequence: list[int], noise: float) -> np.ndarray:
    return np.stack([centres[v] + rng.normal(0, noise, centres.shape[1]) for v in sequence])


def test_voices_are_found_without_being_counted() -> None:
    rng = np.random.default_rng(7)
    centres = rng.normal(0, 1, (3, 192))
    sequence = [2, 2, 2, 0, 0, 0, 0, 1, 1, 1, 2, 2, 0, 0, 1, 1]
    labels = cluster(_voices(rng, centres, sequence, 0.6), threshold=0.4)
    mapping = {2: 0, 0: 1, 1: 2}  # numbered in order of first appearance
    assert labels.tolist() == [mapping[v] for v in sequence]


def test_one_voice_stays_one() -> None:
    rng = np.random.default_rng(3)
    centre = rng.normal(0, 1, (1, 192))
    assert set(cluster(_voices(rng, centre, [0] * 30, 0.8), threshold=0.4).tolist()) == {0}


def test_a_stray_window_joins_the_nearest_voice() -> None:
    rng = np.random.default_rng(5)
    centres = rng.normal(0, 1, (2, 192))
    prints = _voices(rng, centres, [0] * 10 + [1] * 10, 0.5)
    stray = (centres[0] + centres[1]) / 2 + rng.normal(0, 2.0, 192)  # a window astride two voices
    labels = cluster(np.vstack([prints, stray]), threshold=0.4)
    assert len(set(labels.tolist())) == 2


def test_many_windows_are_clustered_on_a_sample_and_all_labelled() -> None:
    rng = np.random.default_rng(11)
    centres = rng.normal(0, 1, (2, 64))
    sequence = [0] * 1500 + [1] * 1500
    labels = cluster(_voices(rng, centres, sequence, 0.5), threshold=0.4, max_points=300)
    assert labels.tolist() == sequence


def test_nothing_to_cluster() -> None:
    assert cluster(np.zeros((0, 192)), threshold=0.4).tolist() == []
