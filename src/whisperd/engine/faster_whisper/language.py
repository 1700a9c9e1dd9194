"""Language detection on the first window, sharing its encoder pass with the decoding that follows.

faster-whisper (1.2.1) detects the language with one encoder pass over the first window and then encodes
that same window again to decode it. Given the language, it skips the first pass; so this module
encodes the window exactly as ``WhisperModel.transcribe`` will (same VAD-joined speech, same features,
same padding), detects the language from that output, and the batcher's per-request cache
(:class:`~whisperd.engine.faster_whisper.batching.Scope`) serves the second request for the window from
memory. If faster-whisper changes how it builds the first window, the reuse silently stops (the text
stays right); ``tests/unit/engine/faster_whisper/test_batching.py`` checks that one pass is saved.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from whisperd.engine.types import SAMPLE_RATE, DecodeOptions

__all__ = ["WINDOW_SECONDS", "choose", "detect", "first_window_speech", "language_of_window"]

WINDOW_SECONDS = 30.0


def first_window_speech(audio: np.ndarray, options: DecodeOptions) -> np.ndarray | None:
    """What faster-whisper's ``transcribe`` will decode first, for audio of one window; None otherwise.

    With VAD on, that is the speech it keeps with its default settings, joined (as its own
    ``transcribe`` does, step for step).
    """
    if options.language or len(audio) > WINDOW_SECONDS * SAMPLE_RATE:
        return None
    if not options.vad_filter:
        return audio
    from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

    speech = get_speech_timestamps(audio, VadOptions())
    joined: np.ndarray = np.concatenate(collect_chunks(audio, speech)[0])
    return joined


def choose(probabilities: list[tuple[str, float]], candidates: tuple[str, ...]) -> tuple[str, float]:
    """The most probable language, among ``candidates`` when there are any (OpenAI's ``languages[]``)."""
    for code, probability in sorted(probabilities, key=lambda pair: -pair[1]):
        if not candidates or code in candidates:
            return code, probability
    return candidates[0], 0.0


def language_of_window(
    model: Any, speech: np.ndarray | None, multilingual: bool, candidates: tuple[str, ...] = ()
) -> tuple[str, float] | None:
    """The language of ``speech`` (at most one window) from one encoder pass; None when not applicable.

    ``model`` is faster-whisper's ``WhisperModel``. Call it inside the request's batching session, so
    that the encoder output is remembered for the decoding that follows.
    """
    if speech is None or not multilingual or len(speech) > WINDOW_SECONDS * SAMPLE_RATE:
        return None
    from faster_whisper.audio import pad_or_trim

    features = model.feature_extractor(speech)
    content = features.shape[-1] - 1
    if content <= 0:
        return None
    encoded = model.encode(pad_or_trim(features[:, : min(content, 3000)]))
    scores = model.model.detect_language(encoded)[0]
    return choose([(str(token)[2:-2], float(p)) for token, p in scores], candidates)


def detect(
    model: Any, speech: np.ndarray, multilingual: bool, candidates: tuple[str, ...] = ()
) -> tuple[str, float]:
    """The language by faster-whisper's own detection (English for an English-only model), among
    ``candidates`` when there are any."""
    if not multilingual:
        return "en", 1.0
    if len(candidates) == 1:
        return candidates[0], 1.0
    language, probability, every = model.detect_language(audio=speech)
    if not candidates:
        return str(language), float(probability)
    return choose([(str(code), float(p)) for code, p in every], candidates)
