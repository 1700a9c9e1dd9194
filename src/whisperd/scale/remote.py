"""The transcription service of a cluster's ingress: the same two methods as the one in a single process,
the work done by a worker replica.

Each upload crosses to a worker once, as the bytes the client sent (read from the ingress's upload area,
which is emptied at once): no re-encoding, no base64. The worker streams back events
(:mod:`whisperd.scale.events`), which become the callbacks, the segment stream and the transcript a
front end expects from :class:`~whisperd.service.transcription.Transcription`. A client that leaves
cancels the worker's call, which stops its work at the next segment. Serve's refusals become OpenAI's:
a full queue is a 429 with Retry-After (:class:`~whisperd.scale.backlog.Backlog`), a worker that died
mid-call a 500 the SDKs retry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable
from functools import partial
from typing import Any

import numpy as np

from whisperd.engine.types import Cancelled, CancelToken, Segment, Transcript
from whisperd.errors import InternalError, QueueFull, WhisperdError
from whisperd.observability.record import current_record
from whisperd.scale.backlog import Backlog
from whisperd.scale.events import Decoded, Served
from whisperd.service.transcription import (
    AudioInput,
    Samples,
    TranscriptionRequest,
    TranscriptStream,
)

__all__ = ["RemoteService", "payload_of"]


async def payload_of(audio: AudioInput) -> bytes | np.ndarray:
    """What crosses to the worker: a file's bytes as they are (an upload is deleted once read), or
    decoded samples."""
    if isinstance(audio, Samples):
        return audio.audio
    try:
        return await asyncio.to_thread(audio.path.read_bytes)
    finally:
        audio.discard()


class RemoteService:
    """Transcription by the workers behind ``workers`` (the ingress's handle to their deployment)."""

    def __init__(self, workers: Any, backlog: Backlog, slots: Callable[[], int]) -> None:
        self._workers = workers
        self._backlog = backlog
        self._slots = slots

    async def transcribe(
        self,
        audio: AudioInput,
        request: TranscriptionRequest,
        *,
        cancel: CancelToken,
        on_segment: Callable[[Segment], None] | None = None,
        on_decoded: Callable[[float], None] | None = None,
        wait: bool = True,
    ) -> Transcript:
        """The whole transcript, with the callbacks called on the event loop as the worker reports."""
        async with contextlib.aclosing(self._events(audio, request, cancel, wait)) as events:
            async for event in events:
                if isinstance(event, Decoded) and on_decoded is not None:
                    on_decoded(event.seconds)
                elif isinstance(event, Segment) and on_segment is not None:
                    on_segment(event)
                elif isinstance(event, Transcript):
                    return event
        raise InternalError("The replica ended its answer without a transcript.")

    async def stream(
        self, audio: AudioInput, request: TranscriptionRequest, *, cancel: CancelToken
    ) -> TranscriptStream:
        """Returns once the worker has decoded the audio (refusals and bad audio raise here)."""
        events = self._events(audio, request, cancel, True)
        try:
            while not isinstance(event := await anext(events), Decoded | Transcript):
                pass
        except BaseException:
            await events.aclose()
            raise
        queue: asyncio.Queue[Segment | None] = asyncio.Queue()
        job = asyncio.ensure_future(_forward(events, event, queue))
        job.add_done_callback(lambda _: queue.put_nowait(None))
        return TranscriptStream(queue, job)

    async def _events(
        self, audio: AudioInput, request: TranscriptionRequest, cancel: CancelToken, wait: bool
    ) -> AsyncGenerator[object, None]:
        """The worker's events for one call; raises its error, a refusal, or Cancelled."""
        slots = self._slots()
        refusal = self._backlog.would_refuse(slots)
        if refusal is None and not wait and self._backlog.would_wait(slots):
            refusal = QueueFull("No replica has a free slot right now.", retry_after=1)
        if refusal is not None:
            audio.discard()
            raise refusal
        payload = await payload_of(audio)
        from ray.exceptions import RayActorError
        from ray.serve.exceptions import BackPressureError, RequestCancelledError

        loop = asyncio.get_running_loop()
        with self._backlog.call(slots):
            response = None
            forget: Callable[[], None] = _nothing
            try:
                response = self._workers.options(stream=True).run.remote(payload, request)
                del payload  # the handle holds what it sends; the ingress keeps no copy
                forget = cancel.on_cancel(partial(_call_soon, loop, response.cancel))
                async for event in response:
                    if isinstance(event, WhisperdError):
                        raise event
                    if isinstance(event, Served):
                        record = current_record()
                        if record is not None:
                            record.replica = event.replica
                    yield event
            except BackPressureError:  # Serve's own bound, if an operator sets one: still OpenAI's 429
                raise QueueFull("The cluster is busy. Retry later.", retry_after=1) from None
            except RequestCancelledError:
                raise Cancelled from None
            except RayActorError:
                raise InternalError("The replica serving this request stopped; retry it.") from None
            finally:
                forget()
                if response is not None:
                    response.cancel()  # a no-op once the answer is complete
            if cancel.cancelled:
                raise Cancelled


async def _forward(
    events: AsyncGenerator[object, None], first: object, queue: asyncio.Queue[Segment | None]
) -> Transcript:
    """Feed the segments of a streamed answer to ``queue``; the transcript (or the error) ends it."""
    async with contextlib.aclosing(events):
        event = first
        while True:
            if isinstance(event, Transcript):
                return event
            if isinstance(event, Segment):
                queue.put_nowait(event)
            try:
                event = await anext(events)
            except StopAsyncIteration:
                raise InternalError("The replica ended its answer without a transcript.") from None


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    """Run ``callback`` on ``loop`` from any thread (a cancel token fires from wherever it is set)."""
    with contextlib.suppress(RuntimeError):  # the loop is closed: the process is ending
        loop.call_soon_threadsafe(callback)


def _nothing() -> None:
    """Nothing to forget yet."""
