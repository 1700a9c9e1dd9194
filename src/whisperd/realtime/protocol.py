"""OpenAI's Realtime transcription protocol: session configuration in both shapes, and the server's events.

Two shapes are in the field (``../shared/design/protocols.md`` §1.5; the official SDK's
``openai/types/realtime`` is the oracle): the GA one (``session.update`` with ``session.type =
"transcription"`` and ``audio.input.{format, transcription, noise_reduction, turn_detection}``) and the
older beta one (``transcription_session.update`` with ``input_audio_format: pcm16|g711_ulaw|g711_alaw``,
``input_audio_transcription`` and ``turn_detection``), which many clients still send. Both update one
:class:`SessionConfig`; each is answered in its own event names and session shape.

``semantic_vad`` has no model here: it is served by server VAD with a silence that follows its
``eagerness`` (high 400 ms, medium/auto 800 ms, low 1500 ms), and reported back as asked.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from whisperd.errors import InvalidParameter
from whisperd.media.languages import language_code
from whisperd.media.pcm import Encoding
from whisperd.realtime.turns import TurnSettings

__all__ = [
    "Dialect",
    "InputFormat",
    "SessionConfig",
    "apply_beta",
    "apply_ga",
    "event",
    "new_id",
    "session_payload",
]

Dialect = Literal["ga", "beta"]

_SEMANTIC_SILENCE_MS = {"low": 1500, "medium": 800, "auto": 800, "high": 400}
_GA_FORMATS: dict[str, Encoding] = {"audio/pcm": "pcm16", "audio/pcmu": "mulaw", "audio/pcma": "alaw"}
_BETA_FORMATS: dict[str, Encoding] = {"pcm16": "pcm16", "g711_ulaw": "mulaw", "g711_alaw": "alaw"}
_RATES = (8000, 16000, 24000, 44100, 48000)


def new_id(prefix: str) -> str:
    """OpenAI-style ids: ``event_...``, ``item_...``, ``sess_...``."""
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def event(kind: str, **fields: Any) -> dict[str, Any]:
    """A server event with a fresh ``event_id``."""
    return {"type": kind, "event_id": new_id("event"), **fields}


@dataclass(frozen=True, slots=True)
class InputFormat:
    encoding: Encoding = "pcm16"
    rate: int = 24_000


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """A live session's effective configuration, whichever shape set it."""

    id: str = field(default_factory=lambda: new_id("sess"))
    format: InputFormat = field(default_factory=InputFormat)
    model: str = "whisper-1"
    language: str | None = None
    prompt: str | None = None
    turns: TurnSettings | None = field(default_factory=TurnSettings)
    """None: no turn detection, the client commits."""
    semantic_eagerness: str | None = None
    noise_reduction: dict[str, Any] | None = None
    include: tuple[str, ...] = ()
    expires_at: int = field(default_factory=lambda: int(time.time()) + 3600)


def _object(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidParameter(f"Invalid type for '{param}': expected an object.", param=param)
    return value


def _transcription(config: SessionConfig, value: Any, param: str) -> SessionConfig:
    if value is None:
        return config
    settings = _object(value, param)
    model = settings.get("model", config.model)
    if model is not None and not isinstance(model, str):
        raise InvalidParameter(
            f"Invalid type for '{param}.model': expected a string.", param=f"{param}.model"
        )
    language = settings.get("language", config.language)
    if language:
        code = language_code(str(language))
        if code is None:
            raise InvalidParameter(
                f"Invalid value for '{param}.language': '{language}' is not a supported ISO-639-1 code.",
                param=f"{param}.language",
            )
        language = code
    prompt = settings.get("prompt", config.prompt)
    return replace(config, model=model or "whisper-1", language=language or None, prompt=prompt or None)


def _turn_detection(config: SessionConfig, value: Any, param: str) -> SessionConfig:
    if value is None:
        return replace(config, turns=None, semantic_eagerness=None)
    settings = _object(value, param)
    kind = settings.get("type", "server_vad")
    current = config.turns or TurnSettings()
    if kind == "semantic_vad":
        eagerness = settings.get("eagerness", "auto")
        if eagerness not in _SEMANTIC_SILENCE_MS:
            raise InvalidParameter(
                f"Invalid value for '{param}.eagerness': use low, medium, high or auto.",
                param=f"{param}.eagerness",
            )
        return replace(
            config,
            turns=replace(current, silence_duration_ms=_SEMANTIC_SILENCE_MS[eagerness]),
            semantic_eagerness=eagerness,
        )
    if kind != "server_vad":
        raise InvalidParameter(
            f"Invalid value for '{param}.type': '{kind}'. Supported values are: 'server_vad', 'semantic_vad'.",
            param=f"{param}.type",
        )
    threshold = settings.get("threshold", current.threshold)
    padding = settings.get("prefix_padding_ms", current.prefix_padding_ms)
    silence = settings.get("silence_duration_ms", current.silence_duration_ms)
    if not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
        raise InvalidParameter(
            f"Invalid value for '{param}.threshold': between 0 and 1.", param=f"{param}.threshold"
        )
    for name, number in (("prefix_padding_ms", padding), ("silence_duration_ms", silence)):
        if not isinstance(number, int) or not 0 <= number <= 10_000:
            raise InvalidParameter(
                f"Invalid value for '{param}.{name}': an integer from 0 to 10000.", param=f"{param}.{name}"
            )
    turns = replace(
        current, threshold=float(threshold), prefix_padding_ms=padding, silence_duration_ms=silence
    )
    return replace(config, turns=turns, semantic_eagerness=None)


def _include(config: SessionConfig, value: Any) -> SessionConfig:
    if value is None:
        return replace(config, include=())
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameter(
            "Invalid type for 'session.include': expected a list of strings.", param="session.include"
        )
    return replace(config, include=tuple(value))


def apply_ga(config: SessionConfig, session: Any) -> SessionConfig:
    """``session.update``'s ``session`` (GA shape) applied over ``config``; only present fields change."""
    body = _object(session, "session")
    kind = body.get("type", "transcription")
    if kind != "transcription":
        raise InvalidParameter(
            f"Invalid value for 'session.type': '{kind}'. This server only offers transcription sessions.",
            param="session.type",
        )
    audio = _object(body.get("audio") or {}, "session.audio")
    inputs = _object(audio.get("input") or {}, "session.audio.input")
    if "format" in inputs and inputs["format"] is not None:
        config = replace(config, format=_ga_format(inputs["format"]))
    if "transcription" in inputs:
        config = _transcription(config, inputs["transcription"], "session.audio.input.transcription")
    if "turn_detection" in inputs:
        config = _turn_detection(config, inputs["turn_detection"], "session.audio.input.turn_detection")
    if "noise_reduction" in inputs:
        config = replace(config, noise_reduction=inputs["noise_reduction"])
    if "include" in body:
        config = _include(config, body["include"])
    return config


def _ga_format(value: Any) -> InputFormat:
    param = "session.audio.input.format"
    settings = _object(value, param)
    kind = settings.get("type")
    if kind not in _GA_FORMATS:
        raise InvalidParameter(
            f"Invalid value for '{param}.type': '{kind}'. Supported values are: 'audio/pcm', 'audio/pcmu', "
            "'audio/pcma'.",
            param=f"{param}.type",
        )
    encoding = _GA_FORMATS[kind]
    if encoding != "pcm16":
        return InputFormat(encoding, 8000)
    rate = settings.get("rate", 24_000)
    if rate not in _RATES:
        raise InvalidParameter(
            f"Invalid value for '{param}.rate': {rate}. Supported rates: {', '.join(map(str, _RATES))}.",
            param=f"{param}.rate",
        )
    return InputFormat("pcm16", int(rate))


def apply_beta(config: SessionConfig, session: Any) -> SessionConfig:
    """``transcription_session.update``'s ``session`` (beta shape) applied over ``config``."""
    body = _object(session, "session")
    if "input_audio_format" in body:
        name = body["input_audio_format"]
        if name not in _BETA_FORMATS:
            raise InvalidParameter(
                f"Invalid value for 'session.input_audio_format': '{name}'. Supported values are: 'pcm16', "
                "'g711_ulaw', 'g711_alaw'.",
                param="session.input_audio_format",
            )
        encoding = _BETA_FORMATS[name]
        config = replace(config, format=InputFormat(encoding, 24_000 if encoding == "pcm16" else 8000))
    if "input_audio_transcription" in body:
        config = _transcription(
            config, body["input_audio_transcription"], "session.input_audio_transcription"
        )
    if "turn_detection" in body:
        config = _turn_detection(config, body["turn_detection"], "session.turn_detection")
    if "input_audio_noise_reduction" in body:
        config = replace(config, noise_reduction=body["input_audio_noise_reduction"])
    if "include" in body:
        config = _include(config, body["include"])
    return config


def _turn_detection_payload(config: SessionConfig) -> dict[str, Any] | None:
    if config.turns is None:
        return None
    if config.semantic_eagerness is not None:
        return {"type": "semantic_vad", "eagerness": config.semantic_eagerness}
    return {
        "type": "server_vad",
        "threshold": config.turns.threshold,
        "prefix_padding_ms": config.turns.prefix_padding_ms,
        "silence_duration_ms": config.turns.silence_duration_ms,
    }


def session_payload(config: SessionConfig, dialect: Dialect) -> dict[str, Any]:
    """The effective session, in the shape the client speaks."""
    transcription = {"model": config.model, "language": config.language, "prompt": config.prompt or ""}
    if dialect == "beta":
        formats = {"pcm16": "pcm16", "mulaw": "g711_ulaw", "alaw": "g711_alaw"}
        return {
            "id": config.id,
            "object": "realtime.transcription_session",
            "expires_at": config.expires_at,
            "input_audio_format": formats[config.format.encoding],
            "input_audio_transcription": transcription,
            "turn_detection": _turn_detection_payload(config),
            "input_audio_noise_reduction": config.noise_reduction,
            "include": list(config.include),
        }
    kinds = {"pcm16": "audio/pcm", "mulaw": "audio/pcmu", "alaw": "audio/pcma"}
    audio_format: dict[str, Any] = {"type": kinds[config.format.encoding]}
    if config.format.encoding == "pcm16":
        audio_format["rate"] = config.format.rate
    return {
        "type": "transcription",
        "object": "realtime.transcription_session",
        "id": config.id,
        "expires_at": config.expires_at,
        "audio": {
            "input": {
                "format": audio_format,
                "transcription": transcription,
                "noise_reduction": config.noise_reduction,
                "turn_detection": _turn_detection_payload(config),
            }
        },
        "include": list(config.include),
    }
