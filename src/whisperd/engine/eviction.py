"""Which loaded models to unload: pure decisions over plain values, tested without any model.

A model in use (one or more leases) is never chosen. Pinned models (the default model, unless the
operator says otherwise) are never chosen. Among the rest, idle models past their time-to-live go first;
then, while the loaded models exceed the count cap or the memory budget, the least recently used idle
model goes, and so on. Room for a model about to load is made the same way, or found impossible (every
candidate is in use), in which case the caller refuses the load rather than break a bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Limits", "ModelUsage", "evictions", "room_for"]


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """What the decision needs to know of one loaded model."""

    name: str
    leases: int
    last_used: float
    """Monotonic seconds when its last lease ended (or when it loaded)."""
    size_bytes: int
    pinned: bool = False


@dataclass(frozen=True, slots=True)
class Limits:
    """The operator's bounds; 0 (or None for the TTL) means no bound of that kind."""

    ttl_seconds: float | None = None
    max_loaded: int = 0
    memory_bytes: int = 0


def _idle_by_age(models: Sequence[ModelUsage]) -> list[ModelUsage]:
    """Models that may go, least recently used first."""
    return sorted((m for m in models if m.leases == 0 and not m.pinned), key=lambda m: (m.last_used, m.name))


def _over(count: int, size: int, limits: Limits) -> bool:
    return (limits.max_loaded > 0 and count > limits.max_loaded) or (
        limits.memory_bytes > 0 and size > limits.memory_bytes
    )


def evictions(models: Sequence[ModelUsage], now: float, limits: Limits) -> list[str]:
    """The models to unload now: expired idle ones, then least recently used idle ones while over a cap."""
    chosen: list[str] = []
    candidates = _idle_by_age(models)
    if limits.ttl_seconds is not None:
        chosen = [m.name for m in candidates if now - m.last_used >= limits.ttl_seconds]
    remaining = [m for m in models if m.name not in chosen]
    count, size = len(remaining), sum(m.size_bytes for m in remaining)
    for model in candidates:
        if not _over(count, size, limits):
            break
        if model.name in chosen:
            continue
        chosen.append(model.name)
        count, size = count - 1, size - model.size_bytes
    return chosen


def room_for(models: Sequence[ModelUsage], incoming_bytes: int, limits: Limits) -> list[str] | None:
    """The models to unload so that one more of ``incoming_bytes`` fits; None when that is impossible.

    Impossible means every model that could make room is in use or pinned, or the model alone is larger
    than the memory budget.
    """
    if limits.memory_bytes > 0 and incoming_bytes > limits.memory_bytes:
        return None
    chosen: list[str] = []
    count, size = len(models) + 1, sum(m.size_bytes for m in models) + incoming_bytes
    for model in _idle_by_age(models):
        if not _over(count, size, limits):
            break
        chosen.append(model.name)
        count, size = count - 1, size - model.size_bytes
    return None if _over(count, size, limits) else chosen
