"""The cluster's HTTP ingress: the single-process app (``create_app``) over a runtime whose work is remote.

:class:`ClusterRuntime` keeps at the ingress what belongs to the HTTP front door (settings, keys' client
secrets, the upload area and its bound, the request metrics, live sessions) and answers for the workers
everything the routes ask of a runtime: the transcription service (:class:`~whisperd.scale.remote.RemoteService`),
readiness, the refusal before a body is read, the resident models, the operator's load and unload (sent
to every worker), and ``/metrics`` (every worker's, merged). The workers' state is polled in the
background, so ``/health`` and the refusal read memory only, as on one process.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from starlette.types import ASGIApp

from whisperd.config import Settings
from whisperd.engine.manager import ModelState
from whisperd.engine.tuning import Placement
from whisperd.errors import InternalError, NotReady, WhisperdError
from whisperd.observability.logs import LOGGER_NAME, configure_logging
from whisperd.observability.metrics import Gauges
from whisperd.runtime import Runtime
from whisperd.scale.backlog import Backlog
from whisperd.scale.events import ReplicaStatus
from whisperd.scale.exposition import merge_expositions
from whisperd.scale.remote import RemoteService

__all__ = ["ClusterRuntime", "Ingress", "merge_models"]

logger = logging.getLogger(LOGGER_NAME)

_POLL_SECONDS = (0.5, 2.0)
"""How often the workers' state is read: while none is ready, then once one is."""
_CONTROL_TIMEOUT = 30.0
"""Longest wait for every worker to answer a control call (a model load can take this long)."""


def merge_models(statuses: list[ReplicaStatus]) -> list[ModelState]:
    """The models resident on any worker, once each: leases added up, the shortest idle time."""
    merged: dict[str, ModelState] = {}
    for status in statuses:
        for model in status.models:
            seen = merged.get(model.name)
            merged[model.name] = (
                model
                if seen is None
                else replace(
                    seen,
                    leases=seen.leases + model.leases,
                    idle_seconds=min(seen.idle_seconds, model.idle_seconds),
                    pinned=seen.pinned or model.pinned,
                )
            )
    return list(merged.values())


class ClusterRuntime(Runtime):
    """The ingress's runtime: local front-door resources; the workers' answers for the rest."""

    serves_jobs = False
    """Jobs need one process's store and worker over its own models: served by ``whisperd serve``."""

    def __init__(
        self, settings: Settings, workers: Any, placement: Placement, queue_limit: int, planned_slots: int
    ) -> None:
        super().__init__(settings, placement=placement)
        self.workers = workers
        self.planned_slots = planned_slots
        self.backlog = Backlog(queue_limit)
        self.statuses: list[ReplicaStatus] = []
        self.service = RemoteService(workers, self.backlog, self.slots)

    def slots(self) -> int:
        """Job slots of every worker that answered the last poll (the plan's until one has)."""
        return sum(status.slots for status in self.statuses) or self.planned_slots

    async def start(self, *, load_default: bool = True) -> None:
        """Prepare the upload area and watch the workers (the models load there, not here)."""
        await super().start(load_default=False)
        self._tasks.append(asyncio.create_task(self._watch()))

    def refusal(self) -> WhisperdError | None:
        return self.readiness() or self.backlog.would_refuse(self.slots())

    def resident(self) -> list[ModelState]:
        return merge_models(self.statuses)

    async def load_model(self, name: str) -> ModelState:
        states = await self._everywhere("load", name)
        await self._poll()
        state: ModelState = states[0]
        return state

    async def unload_model(self, name: str) -> str:
        names = await self._everywhere("unload", name)
        await self._poll()
        unloaded: str = names[0]
        return unloaded

    async def exposition(self) -> bytes:
        answers = await self.workers.broadcast("exposition").results_async(
            timeout_s=_CONTROL_TIMEOUT, return_exceptions=True
        )
        texts = {"ingress": self.metrics.render()}
        texts.update(answer for answer in answers if isinstance(answer, tuple))
        return merge_expositions(texts)

    def gauges(self) -> Gauges | None:
        """None: the job and model gauges are the workers' own, labelled with each worker."""
        return None

    async def _everywhere(self, method: str, name: str) -> list[Any]:
        """``method(name)`` on every worker; the first error any of them answered is raised."""
        answers = await self.workers.broadcast(method, name).results_async(
            timeout_s=_CONTROL_TIMEOUT, return_exceptions=True
        )
        for answer in answers:
            if isinstance(answer, WhisperdError):
                raise answer
            if isinstance(answer, BaseException):
                logger.error("a replica failed %s(%r): %s", method, name, answer)
                raise InternalError(f"A replica could not {method} the model.")
        if not answers:
            raise NotReady("No replica is running yet. Retry shortly.", retry_after=2)
        return list(answers)

    async def _watch(self) -> None:
        while True:
            await self._poll()
            await asyncio.sleep(_POLL_SECONDS[1] if self.ready else _POLL_SECONDS[0])

    async def _poll(self) -> None:
        """Read every worker's state; a worker that does not answer is left out until it does."""
        try:
            answers = await self.workers.broadcast("status").results_async(
                timeout_s=_CONTROL_TIMEOUT, return_exceptions=True
            )
        except Exception as exc:  # no worker yet (deploying), or the deployment is gone
            logger.debug("no replica answered: %s", exc)
            answers = []
        self.statuses = sorted(
            (answer for answer in answers if isinstance(answer, ReplicaStatus)), key=lambda s: s.replica
        )
        self.ready = any(status.ready for status in self.statuses)
        errors = [status.load_error for status in self.statuses if status.load_error]
        self.load_error = errors[0] if errors and not self.ready else None


class Ingress:
    """The ingress deployment's class (made a Serve ingress in :mod:`whisperd.scale.app`)."""

    def __init__(
        self, workers: Any, settings: Settings, placement: Placement, queue_limit: int, planned_slots: int
    ) -> None:
        configure_logging(settings.log_dir, settings.log_level)  # the one writer of the request log
        self.runtime = ClusterRuntime(settings, workers, placement, queue_limit, planned_slots)

    def __serve_build_asgi_app__(self) -> ASGIApp:
        """The app Serve runs here, after the constructor: the single process's, over the cluster."""
        from whisperd.http.app import create_app

        return create_app(self.runtime)
