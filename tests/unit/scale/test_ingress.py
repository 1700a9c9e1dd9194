"""The models resident anywhere in the cluster, once each (for /health and /v1/models)."""

from __future__ import annotations

from whisperd.engine.manager import ModelState
from whisperd.scale.events import ReplicaStatus
from whisperd.scale.ingress import merge_models


def _status(replica: str, *models: ModelState) -> ReplicaStatus:
    return ReplicaStatus(replica, True, None, 0, 0, 1, "cpu", "int8", list(models))


def test_models_merge_across_replicas() -> None:
    tiny = ModelState("tiny.en", "pack", 75, 0.5, leases=1, idle_seconds=9.0, pinned=True)
    tiny_busy = ModelState("tiny.en", "pack", 75, 0.7, leases=2, idle_seconds=0.0, pinned=False)
    base = ModelState("base", "pack", 145, 1.0, leases=0, idle_seconds=30.0, pinned=False)
    merged = {
        state.name: state for state in merge_models([_status("a:1", tiny, base), _status("b:2", tiny_busy)])
    }
    assert set(merged) == {"tiny.en", "base"}
    assert (merged["tiny.en"].leases, merged["tiny.en"].idle_seconds, merged["tiny.en"].pinned) == (
        3,
        0.0,
        True,
    )
    assert merged["base"] == base
    assert merge_models([]) == []
