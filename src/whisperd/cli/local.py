"""In-process transcription for ``whisperd transcribe --local``: the server's pipeline without HTTP.

The same catalogue, registry, decoder and writers as the server, so a file gives the same text either
way; the model is loaded once, on the first file, with one replica that may use every core (one file at
a time needs no more). There are no upload limits: the files are the user's own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from whisperd.config import Settings
from whisperd.engine.catalog import ModelCatalog
from whisperd.engine.faster_whisper.adapter import WhisperEngine
from whisperd.engine.manager import ModelRegistry
from whisperd.engine.types import DecodeOptions, Task
from whisperd.errors import InvalidParameter
from whisperd.media.audio import decode_file
from whisperd.media.formats import ResponseFormat, render

__all__ = ["Job", "LocalTranscriber", "encode_body", "model_target"]

_MAX_SECONDS = 24 * 3600.0
_MAX_DECODE_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class Job:
    """What to do with each file."""

    task: Task = "transcribe"
    model: str | None = None
    """None: the server's ``whisper-1``, or locally the configured default model."""
    language: str | None = None
    response_format: ResponseFormat = "text"


def model_target(requested: str | None, settings: Settings) -> str:
    """The model an alias (``whisper-1``) or nothing stands for, as the server would resolve it."""
    name = requested or settings.model
    target = settings.aliases.get(name, name)
    return settings.model if target == "default" else target


def encode_body(body: str | dict[str, object]) -> bytes:
    """Bytes exactly as the server sends them (JSON as Starlette renders it)."""
    if isinstance(body, dict):
        return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    return body.encode()


class LocalTranscriber:
    """Loads one model on first use and transcribes files with it, reporting audio progress."""

    def __init__(self, settings: Settings, model: str | None) -> None:
        self._settings = settings
        self.model = model_target(model, settings)
        self._engine: WhisperEngine | None = None

    def engine(self) -> WhisperEngine:
        """The loaded model. Raises ModelUnavailable, or ValueError for an impossible device."""
        if self._engine is None:
            settings = self._settings
            catalog = ModelCatalog(settings.cache_dir, settings.model_dirs, settings.allow_download)
            registry = ModelRegistry.from_settings(
                catalog, self.model, settings.aliases, settings.device, settings.compute_type,
                settings.cpu_threads or (os.cpu_count() or 1), settings.num_workers or 1, False,
            )  # fmt: skip
            self._engine = registry.load_default()
        return self._engine

    def transcribe(
        self, path: Path, job: Job, on_audio: Callable[[float, float], None] | None = None
    ) -> bytes:
        """The body for ``path``; raises a :class:`~whisperd.errors.WhisperdError` for unusable input."""
        engine = self.engine()
        if job.task == "translate" and not engine.multilingual:
            raise InvalidParameter(
                f"The model '{engine.name}' is English-only and cannot translate; use a multilingual model.",
                param="model",
            )
        audio = decode_file(path, max_seconds=_MAX_SECONDS, max_decode_seconds=_MAX_DECODE_SECONDS)
        total = audio.seconds
        if on_audio is not None:
            on_audio(0.0, total)
        settings = self._settings
        options = DecodeOptions(
            task=job.task,
            language=job.language,
            beam_size=1 if settings.profile == "fast" else 5,
            vad_filter=settings.vad_filter,
            temperature_fallback=settings.temperature_fallback,
        )
        report = on_audio
        transcript = engine.transcribe(
            audio.samples,
            options,
            on_segment=None if report is None else lambda segment: report(min(segment.end, total), total),
        )
        if on_audio is not None:
            on_audio(total, total)
        return encode_body(render(transcript, job.response_format, job.task, with_words=False))
