"""Loaded models: resolve a requested name (aliases included), load it once, share it.

The default model is loaded at start-up (from the app's lifespan, in a thread); any other model a
client names is loaded on first use, once, however many requests ask for it at the same moment.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from whisperd.engine.catalog import CatalogEntry, ModelCatalog, ModelUnavailable
from whisperd.engine.faster_whisper.adapter import WhisperEngine, cuda_device_count
from whisperd.engine.tuning import Placement, place

__all__ = ["ListedModel", "ModelRegistry", "ModelUnavailable"]

DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class ListedModel:
    """A name clients may send, for ``/v1/models``."""

    id: str
    target: str
    created: int


class ModelRegistry:
    """Names to loaded engines. Thread-safe; every method may block (call from a worker thread)."""

    def __init__(
        self,
        catalog: ModelCatalog,
        default_model: str,
        aliases: dict[str, str],
        placement: Placement,
        warmup: bool = True,
    ) -> None:
        self.catalog = catalog
        self.placement = placement
        self._default_request = default_model
        self._aliases = dict(aliases)
        self._warmup = warmup
        self._engines: dict[str, WhisperEngine] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._created = int(time.time())
        self.default: WhisperEngine | None = None

    @classmethod
    def from_settings(
        cls,
        catalog: ModelCatalog,
        default_model: str,
        aliases: dict[str, str],
        device: str,
        compute_type: str,
        cpu_threads: int,
        num_workers: int,
        warmup: bool,
        *,
        batching: bool = False,
        batch_size: int = 0,
        chunk_seconds: float = 0.0,
    ) -> ModelRegistry:
        placement = place(
            device, compute_type, cuda_device_count(), os.cpu_count() or 1, cpu_threads, num_workers,
            batch_size=batch_size, batching=batching, chunk_seconds=chunk_seconds,
        )  # fmt: skip
        return cls(catalog, default_model, aliases, placement, warmup)

    def load_default(self) -> WhisperEngine:
        """Resolve and load the configured default model (the operator may give a folder path)."""
        entry = self.catalog.resolve(self._default_request, allow_path=True)
        engine = self._load(entry)
        self.default = engine
        return engine

    def target_of(self, requested: str) -> str:
        """What a requested name means after aliases: a model name, or the default model's name."""
        target = self._aliases.get(requested, requested)
        if target == DEFAULT:
            if self.default is None:
                return self._default_request
            return self.default.name
        return target

    def get(self, requested: str) -> WhisperEngine:
        """The engine for ``requested``, loading it on first use. Raises :class:`ModelUnavailable`."""
        target = self.target_of(requested)
        if self.default is not None and target in (self.default.name, self._default_request):
            return self.default
        with self._guard:
            engine = self._engines.get(target)
            lock = self._locks.setdefault(target, threading.Lock())
        if engine is not None:
            return engine
        with lock:
            with self._guard:
                engine = self._engines.get(target)
            if engine is not None:
                return engine
            return self._load(self.catalog.resolve(target))

    def _load(self, entry: CatalogEntry) -> WhisperEngine:
        engine = WhisperEngine(entry, self.placement)
        if self._warmup:
            engine.warm_up()
        with self._guard:
            self._engines[entry.name] = engine
        return engine

    def loaded(self) -> list[WhisperEngine]:
        with self._guard:
            return list(self._engines.values())

    def listing(self) -> list[ListedModel]:
        """Aliases first, then every model available without a download."""
        models = [ListedModel(alias, self.target_of(alias), self._created) for alias in self._aliases]
        seen = {m.id for m in models}
        for entry in self.catalog.entries():
            if entry.name not in seen:
                models.append(ListedModel(entry.name, entry.name, self._created))
                seen.add(entry.name)
        for engine in self.loaded():
            if engine.name not in seen:
                models.append(ListedModel(engine.name, engine.name, self._created))
                seen.add(engine.name)
        return models

    def knows(self, requested: str) -> bool:
        """Whether ``requested`` names something listable (alias, loaded or locally available)."""
        return any(m.id == requested for m in self.listing())
