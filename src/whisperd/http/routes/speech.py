"""``POST /v1/audio/transcriptions`` and ``POST /v1/audio/translations``: HTTP in, the service, HTTP out.

The route refuses what it can before reading the body (model not ready: 503; queue full: 429), streams
the upload under its limits, maps the form to a :class:`TranscriptionRequest`, and hands the file to the
transcription service, which owns the rest of the pipeline. A client that disconnects cancels its
work. With ``stream=true`` the answer is Server-Sent Events as OpenAI sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.requests import ClientDisconnect

from whisperd.engine.types import Cancelled, CancelToken, Segment, Task, Transcript
from whisperd.errors import InternalError, MissingFile, WhisperdError
from whisperd.http.middleware.observe import record_of
from whisperd.http.protocol import (
    ErrorResponse,
    TranscriptionDiarized,
    TranscriptionJSON,
    TranscriptionParams,
    TranscriptionVerbose,
    check_diarization,
    form_schema,
    parse_params,
)
from whisperd.http.requests import service_request
from whisperd.http.responses import EventStream, sse
from whisperd.http.routes import runtime_of
from whisperd.http.upload import receive_form
from whisperd.media.formats import CONTENT_TYPES, diarized_segment, logprob_entries, render, segment_id
from whisperd.observability.logs import sanitize
from whisperd.observability.record import RequestRecord
from whisperd.service.transcription import TranscriptionRequest, TranscriptStream, UploadedFile

__all__ = ["create_transcription", "create_translation", "router"]

router = APIRouter(prefix="/v1/audio", tags=["audio"])

T = TypeVar("T")

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": TranscriptionJSON | TranscriptionVerbose | TranscriptionDiarized,
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "application/x-subrip": {"schema": {"type": "string"}},
            "text/vtt": {"schema": {"type": "string"}},
            "text/event-stream": {"schema": {"type": "string"}},
        },
        "description": "The transcript in the requested response_format.",
    },
    **{code: {"model": ErrorResponse, "description": why} for code, why in {
        400: "Missing, empty or undecodable file, or an invalid parameter.",
        401: "Missing or wrong API key.",
        404: "Unknown model.",
        408: "The upload stalled or arrived too slowly.",
        413: "Upload larger than the limit.",
        429: "Too many jobs or uploads at once; see Retry-After.",
        500: "Internal failure.",
        503: "The model is still loading; see Retry-After.",
    }.items()},
}  # fmt: skip


@router.post(
    "/transcriptions",
    summary="Transcribe audio into the input language",
    responses=_RESPONSES,
    openapi_extra={"requestBody": form_schema(translation=False)},
    response_model=None,
)
async def create_transcription(request: Request) -> Response:
    return await _handle(request, "transcribe")


@router.post(
    "/translations",
    summary="Translate audio into English",
    responses=_RESPONSES,
    openapi_extra={"requestBody": form_schema(translation=True)},
    response_model=None,
)
async def create_translation(request: Request) -> Response:
    return await _handle(request, "translate")


async def _handle(request: Request, task: Task) -> Response:
    runtime = runtime_of(request)
    record = record_of(request)
    record.task = task
    refusal = runtime.refusal()
    if refusal is not None:
        raise refusal
    try:
        with runtime.uploads.receiving():
            form = await receive_form(request, runtime.uploads, runtime.settings.upload_limits())
    except ClientDisconnect:
        return Response(status_code=499)
    try:
        params = parse_params(form.fields, translation=task == "translate")
        diarize = task == "transcribe" and params.model in runtime.settings.diarize_models
        check_diarization(params, diarize)
        if form.upload is None:
            raise MissingFile
        record.file, record.bytes = sanitize(form.upload.filename), form.upload.size
        record.response_format = params.response_format
        wanted = service_request(params, task, diarize=diarize)
        audio = UploadedFile(form.upload.path)
        cancel = CancelToken()
        if params.stream:
            stream = await _until_disconnect(
                request, cancel, runtime.service.stream(audio, wanted, cancel=cancel)
            )
            segments = params.response_format == "diarized_json"
            return EventStream(_events(stream, record, wanted, segments), on_close=cancel.cancel)
        record.segments = 0

        def count(segment: Segment) -> None:
            # logged, so that an operator (and a test) can see how far a cancelled request got
            record.segments = segment.id + 1

        def decoded(seconds: float) -> None:
            record.audio_seconds = seconds

        transcript = await _until_disconnect(
            request,
            cancel,
            runtime.service.transcribe(audio, wanted, cancel=cancel, on_segment=count, on_decoded=decoded),
        )
        _note(record, transcript, runtime.settings.log_transcripts)
        return _render(transcript, params, task)
    except Cancelled:
        record.cancelled = True
        return Response(status_code=499)
    finally:
        form.cleanup()


async def _until_disconnect(request: Request, cancel: CancelToken, work: Awaitable[T]) -> T:
    """Await ``work`` while watching the connection: a client that leaves cancels the token.

    Once the body is read, the ASGI ``receive`` channel has nothing left to say but the disconnect, so
    waiting on it costs nothing.
    """

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        cancel.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        return await work
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


def _note(record: RequestRecord, transcript: Transcript, with_text: bool) -> None:
    record.audio_seconds, record.language = transcript.duration, transcript.language
    record.segments = len(transcript.segments)
    if with_text:
        record.text = transcript.text


def _render(transcript: Transcript, params: TranscriptionParams, task: Task) -> Response:
    body = render(
        transcript,
        params.response_format,
        task,
        with_words="word" in params.timestamp_granularities,
        logprobs="logprobs" in params.include,
        languages=bool(params.languages),
    )
    if isinstance(body, dict):
        return JSONResponse(body)
    return PlainTextResponse(body, media_type=CONTENT_TYPES[params.response_format])


async def _events(
    stream: TranscriptStream, record: RequestRecord, wanted: TranscriptionRequest, segments: bool
) -> AsyncIterator[bytes]:
    """``transcript.text.delta`` per segment as it is decoded, then ``transcript.text.done``.

    With ``include[]=logprobs`` each delta and the done event carry their tokens' log probabilities. With
    ``diarized_json`` each delta names its segment and is followed by that ``transcript.text.segment``
    (speaker included). A failure during inference arrives as an ``error`` event (the answer has already
    started).
    """
    try:
        first = True
        async for segment in stream:
            delta = segment.text.lstrip() if first else segment.text
            first = False
            if delta:
                event: dict[str, Any] = {"type": "transcript.text.delta", "delta": delta}
                if wanted.logprobs:
                    event["logprobs"] = logprob_entries(segment.logprobs or [])
                if segments:
                    event["segment_id"] = segment_id(segment.id)
                yield sse(event)
                if segments:
                    yield sse(diarized_segment(segment))
        transcript = await stream.result()
        record.audio_seconds, record.language = transcript.duration, transcript.language
        done: dict[str, Any] = {"type": "transcript.text.done", "text": transcript.text}
        if wanted.logprobs:
            done["logprobs"] = logprob_entries(transcript.logprobs)
        if wanted.languages:
            done["languages"] = [{"code": transcript.language}] if transcript.segments else []
        yield sse(done)
    except Cancelled:
        record.cancelled = True
    except Exception as exc:
        error = exc if isinstance(exc, WhisperdError) else InternalError()
        yield sse({"type": "error", "error": error.detail()})
