"""Which loaded models to unload: the pure decision, every rule on plain values."""

from __future__ import annotations

from whisperd.engine.eviction import Limits, ModelUsage, evictions, room_for

MB = 1_000_000


def usage(
    name: str, last_used: float, *, leases: int = 0, size: int = 100 * MB, pinned: bool = False
) -> ModelUsage:
    return ModelUsage(name, leases, last_used, size, pinned)


def test_nothing_goes_without_limits() -> None:
    models = [usage("a", 0), usage("b", 1)]
    assert evictions(models, now=10_000, limits=Limits()) == []


def test_idle_models_past_their_ttl_go() -> None:
    models = [
        usage("old", 0),
        usage("recent", 950),
        usage("busy", 0, leases=1),
        usage("default", 0, pinned=True),
    ]
    assert evictions(models, now=1000, limits=Limits(ttl_seconds=100)) == ["old"]


def test_over_the_count_cap_the_least_recently_used_idle_model_goes() -> None:
    models = [usage("a", 30), usage("b", 10), usage("c", 20, leases=2), usage("d", 5, pinned=True)]
    assert evictions(models, now=100, limits=Limits(max_loaded=3)) == ["b"]
    assert evictions(models, now=100, limits=Limits(max_loaded=2)) == ["b", "a"]
    # in use or pinned: never, even when the cap cannot be met
    assert evictions(models, now=100, limits=Limits(max_loaded=1)) == ["b", "a"]


def test_over_the_memory_budget_models_go_until_it_fits() -> None:
    models = [
        usage("small", 1, size=50 * MB),
        usage("large", 2, size=500 * MB),
        usage("mid", 3, size=200 * MB),
    ]
    assert evictions(models, now=10, limits=Limits(memory_bytes=700 * MB)) == ["small"]
    assert evictions(models, now=10, limits=Limits(memory_bytes=300 * MB)) == ["small", "large"]


def test_expired_and_capped_together_count_once() -> None:
    models = [usage("a", 0), usage("b", 50), usage("c", 90)]
    assert evictions(models, now=100, limits=Limits(ttl_seconds=60, max_loaded=1)) == ["a", "b"]


def test_room_for_a_new_model() -> None:
    models = [usage("a", 10), usage("b", 20, leases=1)]
    assert room_for(models, 100 * MB, Limits(max_loaded=3)) == []
    assert room_for(models, 100 * MB, Limits(max_loaded=2)) == ["a"]
    assert room_for(models, 100 * MB, Limits(max_loaded=1)) is None  # b is in use
    assert room_for(models, 100 * MB, Limits(memory_bytes=250 * MB)) == ["a"]
    assert room_for(models, 300 * MB, Limits(memory_bytes=250 * MB)) is None  # larger than the budget
    assert room_for([], 100 * MB, Limits(max_loaded=1)) == []
