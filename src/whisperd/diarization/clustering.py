"""Voice embeddings to speakers: average-linkage clustering on cosine similarity, with no speaker count given.

Clusters merge while the mean similarity between all their members stays above a threshold, so the
number of speakers follows from the voices, not from a guess. Windows that straddle a change of speaker
give embeddings between two voices; they end up as small clusters, which are then folded into the
nearest real one. Clustering is quadratic in the number of windows, so at most ``max_points`` windows
(spread evenly over the recording) are clustered and the rest take the nearest cluster's label: the
memory is bounded whatever the recording's length.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cluster"]


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: np.ndarray = vectors / np.maximum(norms, 1e-12)
    return unit


def _average_linkage(unit: np.ndarray, threshold: float) -> np.ndarray:
    """Cluster index per row; merging stops when no two clusters are more similar than ``threshold``."""
    n = len(unit)
    similarity = (unit @ unit.T).astype(np.float64)
    np.fill_diagonal(similarity, -np.inf)
    sizes = np.ones(n)
    alive = np.ones(n, dtype=bool)
    owner = np.arange(n)
    while alive.sum() > 1:
        flat = int(np.argmax(similarity))
        a, b = divmod(flat, n)
        if similarity[a, b] < threshold:
            break
        # Lance-Williams update for average linkage: the merged cluster's mean similarity to each other.
        merged = (sizes[a] * similarity[a] + sizes[b] * similarity[b]) / (sizes[a] + sizes[b])
        similarity[a, :] = merged
        similarity[:, a] = merged
        similarity[a, a] = -np.inf
        similarity[b, :] = -np.inf
        similarity[:, b] = -np.inf
        sizes[a] += sizes[b]
        alive[b] = False
        owner[owner == b] = a
    return owner


def cluster(
    embeddings: np.ndarray,
    *,
    threshold: float,
    min_share: float = 0.05,
    max_points: int = 1500,
) -> np.ndarray:
    """A speaker index (0, 1, ...) per embedding row, numbered in order of first appearance.

    ``min_share``: a cluster holding less than this share of the windows (or a single window) is not a
    voice of its own; its windows join the most similar remaining cluster.
    """
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    unit = _normalised(np.asarray(embeddings, dtype=np.float64))
    chosen = np.unique(np.linspace(0, n - 1, min(n, max_points)).round().astype(np.int64))
    owner = _average_linkage(unit[chosen], threshold)
    groups = [chosen[owner == root] for root in np.unique(owner)]
    smallest = max(2.0, min_share * len(chosen))
    big = [g for g in groups if len(g) >= smallest] or [max(groups, key=len)]
    centroids = _normalised(np.stack([unit[g].mean(axis=0) for g in big]))
    labels = np.argmax(unit @ centroids.T, axis=1)
    order: dict[int, int] = {}
    for label in labels:
        order.setdefault(int(label), len(order))
    return np.array([order[int(label)] for label in labels], dtype=np.int64)
