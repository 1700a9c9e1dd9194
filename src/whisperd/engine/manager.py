"""Loaded models as leased resources: load on first use, share, never unload while in use, unload idle.

A request holds a *lease* on its model for as long as it needs it (queued, decoding, transcribing), so
an unload can never pull a model from under a request; idle models unload after a time-to-live, and
the count cap and memory budget are kept by unloading the least recently used idle model (the decision
is the pure :mod:`whisperd.engine.eviction`). Loads run on the manager's own small pool, bounded apart
from the requests' worker slots, and a model that several requests ask for at once loads once.

A client's model name is checked against the catalogue before anything is created for it: an unknown
name leaves no trace here, however many distinct names arrive. Engines are closed when they unload and
at shutdown, which stops their threads and gives their memory back (measured in
``tests/e2e/api/test_model_leases.py``).

Thread-safe: leases are taken on the event loop, loads and unloads run in the load pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from whisperd.engine.capabilities import is_multilingual
from whisperd.engine.catalog import CatalogEntry, ModelCatalog, ModelUnavailable, canonical_name
from whisperd.engine.eviction import Limits, ModelUsage, evictions, room_for
from whisperd.engine.tuning import Placement
from whisperd.engine.types import Transcriber
from whisperd.errors import ModelCapacity, ModelInUse
from whisperd.observability.memory import release_free_memory

__all__ = ["DEFAULT", "Engine", "Loader", "ModelManager", "ModelState"]

DEFAULT = "default"
"""The alias target that means "the default model"."""

logger = logging.getLogger("whisperd")


class Engine(Transcriber, Protocol):
    """A loaded model as the manager sees it: a transcriber that knows its size and can be closed."""

    @property
    def size_bytes(self) -> int: ...

    @property
    def load_seconds(self) -> float: ...

    def warm_up(self) -> None: ...

    def close(self) -> None: ...


Loader = Callable[[CatalogEntry, Placement, Executor], Engine]
"""Builds an engine for a catalogue entry (faster-whisper's adapter; a stand-in in pure tests)."""


def _whisper_loader(entry: CatalogEntry, placement: Placement, chunk_pool: Executor) -> Engine:
    from whisperd.engine.faster_whisper.adapter import WhisperEngine

    return WhisperEngine(entry, placement, chunk_pool=chunk_pool)


@dataclass(frozen=True, slots=True)
class ModelState:
    """One resident model, for ``/v1/models``, ``/health`` and ``/metrics``."""

    name: str
    origin: str
    size_bytes: int
    load_seconds: float
    leases: int
    idle_seconds: float
    pinned: bool


@dataclass(eq=False, slots=True)
class _Resident:
    engine: Engine
    entry: CatalogEntry
    pinned: bool
    last_used: float
    leases: int = 0


@dataclass(slots=True)
class _Counters:
    loads: int = 0
    unloads: dict[str, int] = field(default_factory=dict)


class ModelManager:
    """Names to leased engines, within the operator's limits."""

    def __init__(
        self,
        catalog: ModelCatalog,
        placement: Placement,
        *,
        default_model: str,
        aliases: dict[str, str],
        limits: Limits,
        pin_default: bool = True,
        warmup: bool = True,
        load_concurrency: int = 1,
        loader: Loader = _whisper_loader,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.catalog = catalog
        self.placement = placement
        self.limits = limits
        self._default_request = default_model
        self._aliases = dict(aliases)
        self._pin_default = pin_default
        self._warmup = warmup
        self._loader = loader
        self._clock = clock
        self._lock = threading.Lock()
        self._resident: dict[str, _Resident] = {}
        self._loading: dict[str, Future[_Resident]] = {}
        self._loading_sizes: dict[str, int] = {}
        self._load_pool = ThreadPoolExecutor(max(1, load_concurrency), thread_name_prefix="whisperd-load")
        self._chunk_pool = ThreadPoolExecutor(
            max(1, placement.batch_size), thread_name_prefix="whisperd-chunk"
        )
        self.counters = _Counters()
        self.default_name: str | None = None

    # --- names ------------------------------------------------------------------------------------

    def target(self, requested: str | None) -> str:
        """What a requested name means after aliases: a model name (the default model's for ``default``)."""
        target = self._aliases.get(requested or DEFAULT, requested or DEFAULT)
        if target in (DEFAULT, self._default_request):
            return self.default_name or self._default_request
        return target

    def aliases(self) -> dict[str, str]:
        """Every alias with the model name it means now."""
        return {alias: self.target(alias) for alias in self._aliases}

    def _name_of(self, requested: str | None) -> str:
        """The resident-or-catalogue name ``requested`` stands for; raises ModelUnavailable, creates nothing."""
        target = self.target(requested)
        if target == self.default_name:
            return target
        name = canonical_name(target)
        if name is None:
            raise ModelUnavailable(
                target,
                "Model names may only contain letters, digits, '.', '_' and '-' (or be a known hub id).",
            )
        return name

    def present(self, requested: str | None) -> str:
        """The model name ``requested`` stands for, checked present without loading or assembling it (a
        few stats: call it from a thread). Raises ModelUnavailable."""
        name = self._name_of(requested)
        if name != self.default_name and not self.is_resident(name):
            self.catalog.find(name)
        return name

    # --- leases -----------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lease(self, requested: str | None) -> AsyncIterator[Engine]:
        """Hold the model ``requested`` names for the body of the ``async with`` (loading it if needed).

        Raises ModelUnavailable (unknown or absent), ModelCapacity (no room: every loaded model in use).
        """
        resident = await self._acquire(requested)
        try:
            yield resident.engine
        finally:
            with self._lock:
                resident.leases -= 1
                resident.last_used = self._clock()

    async def load(self, requested: str | None) -> ModelState:
        """Make the model resident (the operator's explicit load); returns its state."""
        async with self.lease(requested) as engine:
            return next(s for s in self.states() if s.name == engine.name)

    async def _acquire(self, requested: str | None) -> _Resident:
        name = self._name_of(requested)
        with self._lock:
            resident = self._resident.get(name)
            if resident is not None:
                resident.leases += 1
                return resident
            future = self._loading.get(name)
        if future is None:
            self.catalog.find(name)  # an unknown name fails here, before any state exists for it
            with self._lock:
                future = self._loading.get(name)
                if future is None:
                    future = self._load_pool.submit(self._load, name, False)
                    self._loading[name] = future
        resident = await asyncio.wrap_future(future)
        with self._lock:
            if self._resident.get(resident.entry.name) is not resident:  # unloaded in between: load again
                return await self._acquire(requested)
            resident.leases += 1
            return resident

    def _load(self, name: str, allow_path: bool) -> _Resident:
        """Resolve, make room, build and warm up one engine (in the load pool)."""
        try:
            entry = self.catalog.resolve(name, allow_path=allow_path)
            with self._lock:
                already = self._resident.get(entry.name)
                if already is not None:
                    return already
                usages = self._usages()
                chosen = room_for(usages, entry.size_bytes, self.limits)
                if chosen is None:
                    raise ModelCapacity(
                        f"Cannot load '{entry.name}': every loaded model is in use and the limits "
                        f"({self._limits_text()}) leave no room. Retry shortly.",
                        retry_after=5,
                    )
                evicted = [self._resident.pop(n) for n in chosen]
                self._loading_sizes[name] = entry.size_bytes
            for resident in evicted:
                self._close(resident, "capacity")
            engine = self._loader(entry, self.placement, self._chunk_pool)
            if self._warmup:
                engine.warm_up()
            pinned = self._pin_default and (name == self._default_request or entry.name == self.default_name)
            resident = _Resident(engine, entry, pinned, self._clock())
            with self._lock:
                self._resident[entry.name] = resident
                self.counters.loads += 1
            logger.info("model loaded: %s (%s) in %.2fs", entry.name, entry.origin, engine.load_seconds)
            return resident
        finally:
            with self._lock:
                self._loading.pop(name, None)
                self._loading_sizes.pop(name, None)

    def load_default_sync(self) -> Engine:
        """Load the operator's default model (which may be a folder path); blocks until it is resident."""
        future = self._load_pool.submit(self._load, self._default_request, True)
        resident = future.result()
        with self._lock:
            self.default_name = resident.entry.name
            resident.pinned = self._pin_default
        return resident.engine

    async def load_default(self) -> Engine:
        """:meth:`load_default_sync` without blocking the event loop."""
        future = self._load_pool.submit(self._load, self._default_request, True)
        resident = await asyncio.wrap_future(future)
        with self._lock:
            self.default_name = resident.entry.name
            resident.pinned = self._pin_default
        return resident.engine

    # --- unloading --------------------------------------------------------------------------------

    async def unload(self, requested: str | None) -> str | None:
        """Unload a resident model now (the operator's command); its name, or None when it was not loaded.

        Raises ModelInUse while requests hold it: an unload never takes a model from under a request.
        """
        name = self._name_of(requested)
        with self._lock:
            resident = self._resident.get(name)
            if resident is None:
                return None
            if resident.leases > 0:
                raise ModelInUse(
                    f"The model '{name}' is in use by {resident.leases} request(s); retry when they end.",
                    param="model",
                    retry_after=5,
                )
            del self._resident[name]
        await asyncio.wrap_future(self._load_pool.submit(self._close, resident, "operator"))
        return name

    async def evict_expired(self) -> list[str]:
        """Unload idle models past their TTL (and any over a cap); called periodically by the runtime."""
        with self._lock:
            chosen = evictions(self._usages(), self._clock(), self.limits)
            gone = [self._resident.pop(name) for name in chosen if self._resident[name].leases == 0]
        for resident in gone:
            await asyncio.wrap_future(self._load_pool.submit(self._close, resident, "idle"))
        return [r.entry.name for r in gone]

    def _close(self, resident: _Resident, reason: str) -> None:
        resident.engine.close()
        release_free_memory()
        with self._lock:
            self.counters.unloads[reason] = self.counters.unloads.get(reason, 0) + 1
        logger.info("model unloaded: %s (%s)", resident.entry.name, reason)

    def close(self) -> None:
        """Unload everything and stop the manager's pools (at shutdown)."""
        with self._lock:
            residents = list(self._resident.values())
            self._resident.clear()
        for resident in residents:
            resident.engine.close()
        self._load_pool.shutdown(wait=True, cancel_futures=True)
        self._chunk_pool.shutdown(wait=True, cancel_futures=True)

    # --- views ------------------------------------------------------------------------------------

    def _usages(self) -> list[ModelUsage]:
        """Resident models, and models being loaded counted as in use (their room is reserved)."""
        usages = [
            ModelUsage(r.entry.name, r.leases, r.last_used, r.engine.size_bytes, r.pinned)
            for r in self._resident.values()
        ]
        usages += [ModelUsage(f"loading:{n}", 1, 0.0, size) for n, size in self._loading_sizes.items()]
        return usages

    def _limits_text(self) -> str:
        parts = []
        if self.limits.max_loaded:
            parts.append(f"at most {self.limits.max_loaded} loaded")
        if self.limits.memory_bytes:
            parts.append(f"{self.limits.memory_bytes // (1024 * 1024)} MiB of models")
        return ", ".join(parts) or "none"

    def states(self) -> list[ModelState]:
        now = self._clock()
        with self._lock:
            return [
                ModelState(
                    name=r.entry.name,
                    origin=r.entry.origin,
                    size_bytes=r.engine.size_bytes,
                    load_seconds=r.engine.load_seconds,
                    leases=r.leases,
                    idle_seconds=0.0 if r.leases else max(0.0, now - r.last_used),
                    pinned=r.pinned,
                )
                for r in self._resident.values()
            ]

    def is_resident(self, name: str) -> bool:
        with self._lock:
            return name in self._resident

    def multilingual(self, name: str) -> bool | None:
        """Whether the model ``name`` knows more than English: the loaded model's answer, or the same
        answer read from its vocabulary file when it is not loaded (never guessed from its name); None
        when neither is known. May read a file: call it from a thread."""
        with self._lock:
            resident = self._resident.get(name)
        if resident is not None:
            return resident.engine.multilingual
        try:
            entry = self.catalog.find(name)
        except ModelUnavailable:
            return None
        return is_multilingual(self.catalog.vocabulary(entry))
