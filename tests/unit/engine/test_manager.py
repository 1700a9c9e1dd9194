"""The model manager's leases, loads and unloads, with a stand-in loader (pure bookkeeping, no model).

Real models, real memory and real requests are in ``tests/e2e/api/test_model_leases.py``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path

import numpy as np
import pytest

from whisperd.engine.catalog import CatalogEntry, ModelCatalog, ModelUnavailable
from whisperd.engine.eviction import Limits
from whisperd.engine.manager import Engine, ModelManager
from whisperd.engine.tuning import Placement
from whisperd.engine.types import (
    CancelToken,
    Checkpoint,
    DecodeOptions,
    Recorder,
    Recording,
    Resume,
    Segment,
    Transcript,
)
from whisperd.errors import ModelCapacity, ModelInUse

PLACEMENT = Placement("cpu", "int8", 1, 1)


class StandIn:
    """Records its life: built, closed."""

    def __init__(self, entry: CatalogEntry, log: list[str], gate: threading.Event) -> None:
        gate.wait(5)
        self.entry = entry
        self.load_seconds = 0.01
        self.closed = False
        self._log = log
        log.append(f"load {entry.name}")

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def multilingual(self) -> bool:
        return True

    @property
    def size_bytes(self) -> int:
        return self.entry.size_bytes

    def warm_up(self) -> None:
        pass

    def recorder(self, options: DecodeOptions) -> Recorder:
        raise NotImplementedError

    def transcribe(
        self,
        audio: np.ndarray | Recording,
        options: DecodeOptions,
        *,
        cancel: CancelToken | None = None,
        on_segment: Callable[[Segment], None] | None = None,
        resume: Resume | None = None,
        on_checkpoint: Callable[[Checkpoint], None] | None = None,
    ) -> Transcript:
        raise NotImplementedError

    def close(self) -> None:
        self.closed = True
        self._log.append(f"close {self.entry.name}")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def manager(
    tmp_path: Path, limits: Limits, log: list[str], clock: Clock, gate: threading.Event | None = None
) -> ModelManager:
    models = tmp_path / "models"
    for name in ("m1", "m2", "m3"):
        (models / name).mkdir(parents=True)
        (models / name / "model.bin").write_bytes(b"x" * 100)
        (models / name / "config.json").write_text("{}")
    opened = gate if gate is not None else threading.Event()
    if gate is None:
        opened.set()

    def loader(entry: CatalogEntry, placement: Placement, pool: Executor) -> Engine:
        return StandIn(entry, log, opened)

    return ModelManager(
        ModelCatalog(tmp_path / "cache", [models]), PLACEMENT, default_model="m1",
        aliases={"whisper-1": "default"}, limits=limits, loader=loader, clock=clock,
    )  # fmt: skip


def test_a_model_loads_once_for_many_leases_and_unloads_only_when_idle(tmp_path: Path) -> None:
    async def scenario() -> None:
        log: list[str] = []
        clock = Clock()
        models = manager(tmp_path, Limits(ttl_seconds=60), log, clock)
        await models.load_default()
        async with models.lease("m2") as first, models.lease("m2") as second:
            assert first is second
            assert [s.leases for s in models.states() if s.name == "m2"] == [2]
            clock.now = 1000
            assert await models.evict_expired() == []  # in use: never
        clock.now = 1030
        assert await models.evict_expired() == []  # idle for 30 s only
        clock.now = 1061
        assert await models.evict_expired() == ["m2"]  # the default model is pinned
        assert log == ["load m1", "load m2", "close m2"]
        assert {s.name for s in models.states()} == {"m1"}
        models.close()
        assert log[-1] == "close m1"

    asyncio.run(scenario())


def test_concurrent_first_leases_load_the_model_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        log: list[str] = []
        gate = threading.Event()
        models = manager(tmp_path, Limits(), log, Clock(), gate)

        async def use() -> str:
            async with models.lease("m3") as engine:
                return engine.name

        tasks = [asyncio.ensure_future(use()) for _ in range(5)]
        await asyncio.sleep(0.05)
        gate.set()
        assert await asyncio.gather(*tasks) == ["m3"] * 5
        assert log == ["load m3"]
        models.close()

    asyncio.run(scenario())


def test_unknown_names_fail_at_once_and_leave_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        models = manager(tmp_path, Limits(), [], Clock())
        for index in range(1000):
            with pytest.raises(ModelUnavailable):
                async with models.lease(f"no-such-model-{index}"):
                    pass
        with pytest.raises(ModelUnavailable):
            async with models.lease("../../etc/passwd"):
                pass
        assert models._loading == {}
        assert models._resident == {}
        models.close()

    asyncio.run(scenario())


def test_the_cap_makes_room_from_idle_models_and_refuses_when_all_are_in_use(tmp_path: Path) -> None:
    async def scenario() -> None:
        log: list[str] = []
        clock = Clock()
        models = manager(tmp_path, Limits(max_loaded=2), log, clock)
        await models.load_default()
        clock.now = 10
        async with models.lease("m2"):
            clock.now = 20
            with pytest.raises(ModelCapacity):  # m1 pinned, m2 in use: no room for m3
                async with models.lease("m3"):
                    pass
        async with models.lease("m3"):  # m2 is idle now: it makes room
            assert {s.name for s in models.states()} == {"m1", "m3"}
        assert log == ["load m1", "load m2", "close m2", "load m3"]
        models.close()

    asyncio.run(scenario())


def test_an_operator_unload_waits_for_no_request(tmp_path: Path) -> None:
    async def scenario() -> None:
        log: list[str] = []
        models = manager(tmp_path, Limits(), log, Clock())
        async with models.lease("m2"):
            with pytest.raises(ModelInUse):
                await models.unload("m2")
        assert await models.unload("m2") == "m2"
        assert await models.unload("m2") is None
        assert log == ["load m2", "close m2"]
        models.close()

    asyncio.run(scenario())


def test_aliases_and_the_default_name(tmp_path: Path) -> None:
    async def scenario() -> None:
        models = manager(tmp_path, Limits(), [], Clock())
        assert models.target("whisper-1") == "m1"
        assert models.target(None) == "m1"
        assert models.target("m2") == "m2"
        async with models.lease("whisper-1") as engine:
            assert engine.name == "m1"
        models.close()

    asyncio.run(scenario())
