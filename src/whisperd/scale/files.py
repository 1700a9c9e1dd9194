"""``whisperd transcribe DIR --ray``: files spread over a running cluster's workers, from any machine of it.

The command joins the cluster, finds the workers of the ``whisperd`` application (``whisperd serve --ray``
deployed it) and sends them files through the same :class:`~whisperd.scale.remote.RemoteService` as the
ingress: each file crosses once, as its bytes; Serve gives each call to a worker with a free slot; as
many files are in flight as the workers have slots. The text is rendered here, as the server renders it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from whisperd.cli.local import FileTask, encode_body
from whisperd.engine.types import CancelToken
from whisperd.media.formats import render
from whisperd.scale.backlog import Backlog
from whisperd.scale.events import ReplicaStatus
from whisperd.scale.remote import RemoteService
from whisperd.service.transcription import AudioFile, TranscriptionRequest

__all__ = ["ClusterFiles"]

T = TypeVar("T")


class ClusterFiles:
    """A connection to a cluster's workers; :meth:`transcribe` may be called from many threads at once."""

    def __init__(self, address: str | None) -> None:
        from ray import serve

        from whisperd.scale.app import APP_NAME, WORKER_NAME
        from whisperd.scale.cluster import connect

        self._cluster = connect(address or "auto")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="whisperd-ray-files", daemon=True)
        self._thread.start()
        self._workers = serve.get_deployment_handle(WORKER_NAME, app_name=APP_NAME)
        self.slots = max(1, sum(status.slots for status in self._run(self._statuses())))
        # the command sends at most `slots` files at once, so its own admission never refuses one;
        # Serve holds a file until a replica's slot frees (other clients may be using them)
        self._service = RemoteService(self._workers, Backlog(queue_limit=self.slots), lambda: self.slots)

    def transcribe(self, path: Path, task: FileTask) -> bytes:
        """The output's bytes for ``path``, as the server would send them."""
        request = TranscriptionRequest(task=task.task, model=task.model, language=task.language)
        coroutine = self._service.transcribe(AudioFile(path), request, cancel=CancelToken())
        transcript = self._run(coroutine)
        return encode_body(render(transcript, task.response_format, task.task, with_words=False))

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
        self._cluster.close()

    async def _statuses(self) -> list[ReplicaStatus]:
        answers = await self._workers.broadcast("status").results_async(timeout_s=60, return_exceptions=True)
        return [answer for answer in answers if isinstance(answer, ReplicaStatus)]

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()
