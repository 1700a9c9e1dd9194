"""A worker replica: one whole :class:`~whisperd.runtime.Runtime` (models, scheduler, batching) on its share of
the cluster, serving the ingress's calls. A thin adapter: the work is the runtime's service, unchanged.

The class is plain Python (the Serve deployment is made from it in :mod:`whisperd.scale.app`). Its
constructor starts the runtime and waits for the default model, so that Serve counts a replica as running
only once it can transcribe, and a model that cannot load fails the deployment with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import numpy as np

from whisperd.config import Settings
from whisperd.engine.manager import ModelState
from whisperd.engine.tuning import Placement
from whisperd.engine.types import CancelToken, Transcript
from whisperd.errors import WhisperdError
from whisperd.observability.logs import configure_logging
from whisperd.runtime import Runtime
from whisperd.scale.events import Decoded, ReplicaStatus, Served, replica_name
from whisperd.service.transcription import AudioInput, Samples, TranscriptionRequest, UploadedFile

__all__ = ["Worker"]

_END = object()


class Worker:
    """One replica's runtime, and the calls the ingress makes on it."""

    async def __init__(self, settings: Settings, placement: Placement) -> None:  # type: ignore[misc]
        # Serve awaits an async constructor; the replica takes calls only once it has returned
        configure_logging(None, settings.log_level)  # stderr, which Ray keeps in its session's logs
        self.replica = replica_name()
        self._runtime = Runtime(settings, placement=placement)
        await self._runtime.start()
        await self._runtime.loaded()
        if self._runtime.load_error:
            await self._runtime.close()
            raise RuntimeError(f"the default model failed to load: {self._runtime.load_error}")

    async def run(self, audio: bytes | np.ndarray, request: TranscriptionRequest) -> AsyncIterator[object]:
        """Transcribe ``audio`` (an upload's bytes, or samples): :class:`Served`, :class:`Decoded`, the
        segments, then the transcript or the error. A cancelled call stops the work at its next segment."""
        yield Served(self.replica)
        try:
            source = await self._source(audio)
        except WhisperdError as exc:
            yield exc
            return
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[object] = asyncio.Queue()

        def emit(event: object) -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(events.put_nowait, event)

        cancel = CancelToken()
        job = asyncio.ensure_future(
            self._runtime.service.transcribe(
                source, request, cancel=cancel, on_segment=emit, on_decoded=lambda s: emit(Decoded(s))
            )
        )
        job.add_done_callback(lambda _: events.put_nowait(_END))
        try:
            while (event := await events.get()) is not _END:
                yield event
            yield _outcome(job)
        finally:
            if not job.done():
                cancel.cancel()  # the caller left: the work stops; its slot follows when its thread returns
                job.add_done_callback(_consume)

    async def status(self) -> ReplicaStatus:
        runtime, placement = self._runtime, self._runtime.placement
        return ReplicaStatus(
            replica=self.replica,
            ready=runtime.ready,
            load_error=runtime.load_error,
            running=runtime.scheduler.running,
            waiting=runtime.scheduler.waiting,
            slots=runtime.scheduler.slots,
            device=placement.device,
            compute_type=placement.compute_type,
            models=runtime.resident(),
        )

    async def exposition(self) -> tuple[str, bytes]:
        """This replica's name and its Prometheus text."""
        return self.replica, await self._runtime.exposition()

    async def load(self, name: str) -> ModelState | WhisperdError:
        """Load ``name`` here (the operator's load, sent to every replica); the error as a value."""
        try:
            return await self._runtime.load_model(name)
        except WhisperdError as exc:
            return exc

    async def unload(self, name: str) -> str | WhisperdError:
        """Unload ``name`` here (sent to every replica); the error as a value."""
        try:
            return await self._runtime.unload_model(name)
        except WhisperdError as exc:
            return exc

    async def __del__(self) -> None:
        """Serve stops the replica: finish the work in flight, close the models, drop the upload folder."""
        await self._runtime.close()

    async def _source(self, audio: bytes | np.ndarray) -> AudioInput:
        if isinstance(audio, np.ndarray):
            return Samples(audio)
        return UploadedFile(await asyncio.to_thread(self._runtime.uploads.write, audio))


def _outcome(job: asyncio.Future[Transcript]) -> Transcript | WhisperdError:
    """The transcript, or the client's error as a value (it crosses back to the ingress as it is)."""
    error = job.exception()
    if error is None:
        return job.result()
    if isinstance(error, WhisperdError):
        return error
    raise error


def _consume(future: asyncio.Future[Transcript]) -> None:
    """Retrieve an abandoned job's outcome, so that its exception is not reported as never retrieved."""
    if not future.cancelled():
        future.exception()
