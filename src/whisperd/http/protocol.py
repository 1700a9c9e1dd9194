"""The OpenAI Audio API on the wire: request parameters, response bodies, errors, the model list.

Request parameters arrive as multipart form fields and are validated here into
:class:`TranscriptionParams`; a bad value becomes a 400 whose ``param`` names the field. The response
models mirror the official SDK's types field by field and feed the OpenAPI document.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from whisperd.errors import InvalidParameter
from whisperd.media.formats import ResponseFormat
from whisperd.media.languages import language_code

__all__ = [
    "ErrorDetail",
    "ErrorResponse",
    "Granularity",
    "HealthResponse",
    "JobParams",
    "ModelList",
    "ModelObject",
    "ResidentModel",
    "SegmentObject",
    "TranscriptionJSON",
    "TranscriptionParams",
    "TranscriptionVerbose",
    "Usage",
    "WordObject",
    "form_schema",
    "job_form_schema",
    "parse_job_params",
    "parse_params",
]

Granularity = Literal["word", "segment"]

_LIST_FIELDS = {"timestamp_granularities": "timestamp_granularities[]", "include": "include[]"}


class TranscriptionParams(BaseModel):
    """The form fields of ``/v1/audio/transcriptions`` and ``/v1/audio/translations`` (besides ``file``)."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model: str = Field(default="whisper-1", max_length=256)
    """Model name or alias. Optional here (OpenAI requires it); missing means the default model."""
    language: str | None = Field(default=None, max_length=32)
    """ISO-639-1 code of the spoken language (transcriptions only); omitted means detect it."""
    prompt: str | None = None
    """Text to guide style or continue a previous segment; names and spellings help most."""
    response_format: ResponseFormat = "json"
    temperature: float = Field(default=0.0, ge=0.0, le=1.0)
    """0 uses the fallback schedule (0, 0.2, ... 1.0) when a window fails; other values are used alone."""
    timestamp_granularities: list[Granularity] = Field(default_factory=list)
    """Sent as ``timestamp_granularities[]``; needs ``response_format=verbose_json``."""
    stream: bool = False
    """Answer with Server-Sent Events (``transcript.text.delta`` ... ``transcript.text.done``)."""
    hotwords: str | None = None
    """whisperd extension: words to bias the decoder towards (product names, jargon)."""

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        code = language_code(value)
        if code is None:
            raise ValueError(f"'{value}' is not a supported ISO-639-1 language code")
        return code

    @field_validator("model")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        return value.strip() or "whisper-1"


def parse_params(
    fields: dict[str, list[str]],
    *,
    translation: bool,
    model: type[TranscriptionParams] = TranscriptionParams,
    words_need_verbose: bool = True,
) -> TranscriptionParams:
    """Validate raw form fields; unknown fields are ignored, as OpenAI ignores them.

    ``words_need_verbose``: word timestamps only with ``verbose_json`` (OpenAI's rule for an answer given
    once; a job's result is rendered in any format later, so a job may ask for words with any format).
    """
    data: dict[str, Any] = {}
    for name, values in fields.items():
        base = name[:-2] if name.endswith("[]") else name
        if base in _LIST_FIELDS:
            data.setdefault(base, []).extend(v for v in values if v != "")
        elif base in model.model_fields:
            data[base] = values[-1]
    if translation:
        data.pop("language", None)
        data.pop("timestamp_granularities", None)
    try:
        params = model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = str(first["loc"][0]) if first["loc"] else None
        raise InvalidParameter(_describe(first, param), param=param or "request") from None
    if words_need_verbose and params.timestamp_granularities and params.response_format != "verbose_json":
        raise InvalidParameter(
            "timestamp_granularities requires response_format=verbose_json.", param="timestamp_granularities"
        )
    return params


_METADATA_PAIRS, _METADATA_KEY, _METADATA_VALUE = 16, 64, 512


class JobParams(TranscriptionParams):
    """The form fields of ``POST /v1/audio/jobs``: a transcription's, plus the job's own."""

    task: Literal["transcribe", "translate"] = "transcribe"
    """Transcribe in the spoken language, or translate into English."""
    webhook_url: str | None = Field(default=None, max_length=2048)
    """Where to POST the signed ``audio.job.succeeded``/``audio.job.failed`` event (the operator's
    allow-list decides where that may be)."""
    metadata: dict[str, str] | None = None
    """Up to 16 key-value pairs (keys up to 64 characters, values up to 512), sent as a JSON object and
    given back with the job, as OpenAI's ``metadata``."""

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata(cls, value: object) -> object:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError("it must be a JSON object") from None
        if not isinstance(value, dict):
            raise ValueError("it must be a JSON object")
        if len(value) > _METADATA_PAIRS:
            raise ValueError(f"at most {_METADATA_PAIRS} key-value pairs")
        for key, item in value.items():
            if not isinstance(item, str) or len(key) > _METADATA_KEY or len(item) > _METADATA_VALUE:
                raise ValueError(
                    f"keys are strings of at most {_METADATA_KEY} characters, values strings of at most "
                    f"{_METADATA_VALUE}"
                )
        return value

    @field_validator("webhook_url")
    @classmethod
    def _blank_url(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


def parse_job_params(fields: dict[str, list[str]]) -> JobParams:
    """Validate a job's form fields (as :func:`parse_params`, plus ``task``, ``webhook_url``, ``metadata``)."""
    task = (fields.get("task") or ["transcribe"])[-1]
    params = parse_params(fields, translation=task == "translate", model=JobParams, words_need_verbose=False)
    assert isinstance(params, JobParams)
    if params.stream:
        raise InvalidParameter(
            "A job does not stream: follow GET /v1/audio/jobs/{id}/events instead.", param="stream"
        )
    return params


def _describe(error: Any, param: str | None) -> str:
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"Invalid value for '{param}': {message}." if param else message


def form_schema(translation: bool, model: type[TranscriptionParams] = TranscriptionParams) -> dict[str, Any]:
    """The multipart request body for the OpenAPI document (the body is parsed by hand, not by FastAPI)."""
    schema = model.model_json_schema()
    properties: dict[str, Any] = {
        "file": {"type": "string", "format": "binary", "description": "The audio file."}
    }
    for name, prop in schema["properties"].items():
        if translation and name in {"language", "timestamp_granularities"}:
            continue
        properties[_LIST_FIELDS.get(name, name)] = prop
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"], "properties": properties}
            }
        },
    }


def job_form_schema() -> dict[str, Any]:
    """The multipart body of ``POST /v1/audio/jobs`` for the OpenAPI document."""
    schema = form_schema(translation=False, model=JobParams)
    properties = schema["content"]["multipart/form-data"]["schema"]["properties"]
    properties.pop("stream", None)
    properties["metadata"] = {"type": "string", "description": "A JSON object of up to 16 string pairs."}
    return schema


class Usage(BaseModel):
    type: Literal["duration"] = "duration"
    seconds: float


class TranscriptionJSON(BaseModel):
    text: str
    usage: Usage


class SegmentObject(BaseModel):
    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


class WordObject(BaseModel):
    word: str
    start: float
    end: float


class TranscriptionVerbose(BaseModel):
    task: Literal["transcribe", "translate"]
    language: str
    duration: float
    text: str
    segments: list[SegmentObject] | None = None
    words: list[WordObject] | None = None
    usage: Usage


class ModelObject(BaseModel):
    """OpenAI's model object, with what an operator of a self-hosted server wants to see besides."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "whisperd"
    loaded: bool = False
    """whisperd: whether the model is in memory now (else it loads on first use)."""
    source: str | None = None
    """whisperd: where the weights come from (a pack, a model folder, the hub cache)."""
    size_bytes: int | None = None
    """whisperd: size of the weights on disk."""
    alias_of: str | None = None
    """whisperd: for an alias (``whisper-1``), the model it stands for."""


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class ResidentModel(BaseModel):
    """A model in memory, as ``/health`` reports it."""

    id: str
    source: str
    size_bytes: int
    in_use: int
    """Requests holding it now."""
    pinned: bool
    """Never unloaded for idleness (the default model)."""


class HealthResponse(BaseModel):
    status: Literal["ok", "loading", "error"]
    model: str
    device: str | None = None
    compute_type: str | None = None
    uptime_seconds: float
    models: list[ResidentModel] = Field(default_factory=list)
