"""The wire's parameters as the transcription service's request: the one mapping every HTTP route uses
(the synchronous routes, and the jobs, which store the request's fields and rebuild it when they run)."""

from __future__ import annotations

from typing import Literal

from whisperd.engine.types import Task, VadSettings
from whisperd.http.protocol import ServerVadChunking, TranscriptionParams
from whisperd.service.diarizing import KnownSpeaker
from whisperd.service.transcription import TranscriptionRequest

__all__ = ["service_request"]


def service_request(
    params: TranscriptionParams, task: Task, *, diarize: bool = False
) -> TranscriptionRequest:
    """The wire parameters as the service's request."""
    return TranscriptionRequest(
        task=task,
        model=params.model,
        language=params.language,
        prompt=params.prompt,
        temperature=params.temperature,
        word_timestamps="word" in params.timestamp_granularities,
        hotwords=params.hotwords,
        keywords=tuple(k for k in params.keywords if k.strip()),
        languages=tuple(params.languages),
        logprobs="logprobs" in params.include,
        vad=_vad(params.chunking_strategy),
        stream=params.stream,
        diarize=diarize,
        known_speakers=tuple(
            KnownSpeaker(name, reference)
            for name, reference in zip(
                params.known_speaker_names, params.known_speaker_references, strict=True
            )
        ),
    )


def _vad(strategy: Literal["auto"] | ServerVadChunking | None) -> VadSettings | None:
    """``chunking_strategy`` as the engine's cut settings (``auto``: the server's own)."""
    if not isinstance(strategy, ServerVadChunking):
        return None
    return VadSettings(strategy.threshold, strategy.silence_duration_ms, strategy.prefix_padding_ms)
