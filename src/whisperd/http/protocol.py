"""The OpenAI Audio API on the wire: request parameters, response bodies, errors, the model list.

Request parameters arrive as multipart form fields and are validated here into
:class:`TranscriptionParams`; a bad value becomes a 400 whose ``param`` names the field. The response
models mirror the official SDK's types field by field and feed the OpenAPI document.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from whisperd.config import MAX_KNOWN_SPEAKERS
from whisperd.errors import InvalidParameter
from whisperd.media.formats import ResponseFormat
from whisperd.media.languages import language_code

__all__ = [
    "DiarizedSegmentObject",
    "ErrorDetail",
    "ErrorResponse",
    "Granularity",
    "HealthResponse",
    "JobParams",
    "LanguageObject",
    "ModelList",
    "ModelObject",
    "ResidentModel",
    "SegmentObject",
    "ServerVadChunking",
    "TokenLogprobObject",
    "TranscriptionDiarized",
    "TranscriptionJSON",
    "TranscriptionParams",
    "TranscriptionVerbose",
    "Usage",
    "WordObject",
    "check_diarization",
    "form_schema",
    "job_form_schema",
    "parse_job_params",
    "parse_params",
]

Granularity = Literal["word", "segment"]

_LIST_FIELDS = {
    "timestamp_granularities": "timestamp_granularities[]",
    "include": "include[]",
    "keywords": "keywords[]",
    "languages": "languages[]",
    "known_speaker_names": "known_speaker_names[]",
    "known_speaker_references": "known_speaker_references[]",
}
_OBJECT_FIELDS = {"chunking_strategy"}


class ServerVadChunking(BaseModel):
    """``chunking_strategy={"type": "server_vad", ...}``: how the audio is cut at pauses.

    The ranges are those the streaming decoder keeps audio for (a lower threshold or a longer silence
    or padding could need audio it dropped while decoding).
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["server_vad"]
    threshold: float = Field(default=0.5, ge=0.35, le=0.95)
    prefix_padding_ms: int = Field(default=300, ge=0, le=400)
    silence_duration_ms: int = Field(default=500, ge=0, le=2000)


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
    keywords: list[str] = Field(default_factory=list, max_length=100)
    """Sent as ``keywords[]``: words and phrases to guide spelling (the decoder's hotwords)."""
    languages: list[str] = Field(default_factory=list, max_length=100)
    """Sent as ``languages[]``: the languages the audio may be in; detection chooses among them."""
    include: list[Literal["logprobs"]] = Field(default_factory=list)
    """Sent as ``include[]``: ``logprobs`` adds each output token's log probability (json only)."""
    chunking_strategy: Literal["auto"] | ServerVadChunking | None = None
    """``auto``, or server VAD settings for where the audio is cut at pauses."""
    known_speaker_names: list[str] = Field(default_factory=list)
    """Sent as ``known_speaker_names[]``: names for the voices of ``known_speaker_references[]``."""
    known_speaker_references: list[str] = Field(default_factory=list)
    """Sent as ``known_speaker_references[]``: data URLs of 2-10 s clips of each known voice."""

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

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, values: list[str]) -> list[str]:
        codes = []
        for value in values:
            code = language_code(value)
            if code is None:
                raise ValueError(f"'{value}' is not a supported ISO-639-1 language code")
            codes.append(code)
        return codes

    @field_validator("chunking_strategy", mode="before")
    @classmethod
    def _chunking(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().startswith("{"):
            try:
                value = json.loads(value)  # a JSON object in one field, as some clients send it
            except ValueError:
                raise ValueError("expected 'auto' or a server_vad object") from None
        if isinstance(value, dict):
            try:
                return ServerVadChunking.model_validate(value)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"]) or "type"
                raise ValueError(f"{where}: {first['msg']}") from None
        if value not in (None, "", "auto"):
            raise ValueError("expected 'auto' or a server_vad object")
        return value or None


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
        outer, _, key = base.partition("[")
        if key.endswith("]") and outer in _OBJECT_FIELDS:  # name[key] parts, as the SDK sends objects
            nested = data.setdefault(outer, {})
            if isinstance(nested, dict):
                nested[key[:-1]] = values[-1]
        elif base in _LIST_FIELDS:
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
    if params.include and params.response_format != "json":
        raise InvalidParameter(
            "include[]=logprobs is only supported with response_format=json.", param="include"
        )
    _check_speakers(params)
    return params


def check_diarization(params: TranscriptionParams, diarize: bool) -> None:
    """What OpenAI refuses with its diarization model, and diarized_json without it, refused the same way."""
    if not diarize:
        if params.response_format == "diarized_json":
            raise InvalidParameter(
                f"response_format 'diarized_json' is not compatible with model '{params.model}'; use "
                "gpt-4o-transcribe-diarize.",
                param="response_format",
            )
        if params.known_speaker_names or params.known_speaker_references:
            raise InvalidParameter(
                "known_speaker_names and known_speaker_references need the diarization model "
                "(gpt-4o-transcribe-diarize).",
                param="known_speaker_names",
            )
        return
    for field, param in (
        ("prompt", "prompt"),
        ("timestamp_granularities", "timestamp_granularities"),
        ("include", "include"),
    ):
        if getattr(params, field):
            raise InvalidParameter(f"{param} is not supported with the diarization model.", param=param)
    if params.response_format not in ("json", "text", "diarized_json"):
        raise InvalidParameter(
            f"response_format '{params.response_format}' is not compatible with the diarization model; use "
            "json, text or diarized_json.",
            param="response_format",
        )


def _check_speakers(params: TranscriptionParams) -> None:
    names, references = params.known_speaker_names, params.known_speaker_references
    if len(names) > MAX_KNOWN_SPEAKERS:
        raise InvalidParameter(
            f"At most {MAX_KNOWN_SPEAKERS} known speakers may be given.", param="known_speaker_names"
        )
    if len(names) != len(references):
        raise InvalidParameter(
            "known_speaker_names and known_speaker_references must have the same length.",
            param="known_speaker_references",
        )
    if len(set(names)) != len(names) or any(not name.strip() for name in names):
        raise InvalidParameter(
            "Known speaker names must be distinct and not empty.", param="known_speaker_names"
        )


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
        properties[_LIST_FIELDS.get(name, name)] = _inlined(prop, schema.get("$defs", {}))
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"], "properties": properties}
            }
        },
    }


def _inlined(node: Any, definitions: dict[str, Any]) -> Any:
    """``node`` with each ``$ref`` to the model's own definitions replaced by the definition itself."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inlined(definitions[ref.removeprefix("#/$defs/")], definitions)
        return {key: _inlined(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inlined(item, definitions) for item in node]
    return node


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


class TokenLogprobObject(BaseModel):
    token: str
    bytes: list[int]
    logprob: float


class LanguageObject(BaseModel):
    code: str


class TranscriptionJSON(BaseModel):
    text: str
    usage: Usage
    logprobs: list[TokenLogprobObject] | None = None
    """With ``include[]=logprobs``."""
    languages: list[LanguageObject] | None = None
    """With ``languages[]``: the language found among them."""


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


class DiarizedSegmentObject(BaseModel):
    type: Literal["transcript.text.segment"] = "transcript.text.segment"
    id: str
    start: float
    end: float
    text: str
    speaker: str
    """A known speaker's name, else ``A``, ``B``, ... in order of first appearance."""


class TranscriptionDiarized(BaseModel):
    task: Literal["transcribe"] = "transcribe"
    duration: float
    text: str
    """One ``speaker: words`` line per turn."""
    segments: list[DiarizedSegmentObject]
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
