"""In-process transcription for ``whisperd transcribe --local``: the server's runtime and service, no HTTP.

The same catalogue, model manager, service and writers as the server, so a file gives the same text
either way. One model replica that may use every core, no cross-request batching (one file at a time
needs neither), no warm-up, and generous limits: the files are the user's own.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from whisperd.config import Settings
from whisperd.engine.types import CancelToken, Task
from whisperd.media.formats import ResponseFormat, render
from whisperd.runtime import Runtime
from whisperd.service.transcription import AudioFile, Hooks, TranscriptionRequest, TranscriptionService

__all__ = ["FileTask", "LocalTranscriber", "encode_body", "local_settings"]


@dataclass(frozen=True, slots=True)
class FileTask:
    """What to do with each file of one ``whisperd transcribe`` run."""

    task: Task = "transcribe"
    model: str | None = None
    """None: the server's ``whisper-1``, or locally the configured default model."""
    language: str | None = None
    response_format: ResponseFormat = "text"


def local_settings(settings: Settings) -> Settings:
    """The user's settings, shaped for one file at a time in this process."""
    return settings.model_copy(
        update={
            "cpu_threads": settings.cpu_threads or (os.cpu_count() or 1),
            "num_workers": settings.num_workers or 1,
            "batching": False,
            "warmup": False,
            "max_audio_seconds": 24 * 3600.0,
            "max_decode_seconds": 3600.0,
            "max_concurrent_jobs": 1,
            "jobs": False,  # the files are transcribed here and now: no job queue, no data folder
        }
    )


def encode_body(body: str | dict[str, object]) -> bytes:
    """Bytes exactly as the server sends them (JSON as Starlette renders it)."""
    if isinstance(body, dict):
        return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    return body.encode()


class LocalTranscriber:
    """A runtime in this process; its model loads on first use; :meth:`close` releases everything."""

    def __init__(self, settings: Settings, model: str | None) -> None:
        self._runtime = Runtime(local_settings(settings))
        self.model = self._runtime.models.target(model)
        self._loop = asyncio.Runner()
        self._loop.run(self._runtime.start(load_default=False))

    def engine(self) -> None:
        """Load the model now. Raises ModelUnavailable, or ValueError/RuntimeError for an impossible device."""
        self._loop.run(self._runtime.models.load(self.model))

    def transcribe(
        self, path: Path, task: FileTask, on_audio: Callable[[float, float], None] | None = None
    ) -> bytes:
        """The body for ``path``; raises a :class:`~whisperd.errors.WhisperdError` for unusable input."""
        hooks = Hooks(
            on_decoded=None if on_audio is None else lambda seconds: on_audio(0.0, seconds),
            on_progress=on_audio,
        )
        request = TranscriptionRequest(task=task.task, model=self.model, language=task.language)
        service = self._runtime.service
        assert isinstance(service, TranscriptionService)  # this process's own runtime, never a cluster's
        transcript = self._loop.run(
            service.transcribe(AudioFile(path), request, cancel=CancelToken(), hooks=hooks)
        )
        if on_audio is not None:
            on_audio(transcript.duration, transcript.duration)
        return encode_body(render(transcript, task.response_format, task.task, with_words=False))

    def close(self) -> None:
        self._loop.run(self._runtime.close())
        self._loop.close()
