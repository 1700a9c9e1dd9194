"""``POST /v1/audio/transcriptions`` and ``POST /v1/audio/translations``.

One pipeline serves both: stream the upload to disk under the size limit, validate the fields, find the
model, then decode and transcribe in a worker slot, and render the asked-for format. The upload is
deleted in every path. With ``stream=true`` the answer is Server-Sent Events as OpenAI sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.requests import ClientDisconnect

from whisperd.engine.catalog import ModelUnavailable
from whisperd.engine.faster_whisper.adapter import WhisperEngine
from whisperd.engine.types import DecodeOptions, Segment, Task, Transcript
from whisperd.errors import (
    InternalError,
    InvalidParameter,
    MissingFile,
    ModelNotFound,
    NotReady,
    WhisperdError,
    error_body,
)
from whisperd.http.protocol import (
    ErrorResponse,
    TranscriptionJSON,
    TranscriptionParams,
    TranscriptionVerbose,
    form_schema,
    parse_params,
)
from whisperd.http.state import AppState, app_state
from whisperd.http.upload import ParsedForm, receive_form
from whisperd.media.audio import DecodedAudio, decode_file
from whisperd.media.formats import CONTENT_TYPES, render
from whisperd.observability.logs import log_fields, sanitize
from whisperd.service.scheduler import ClientGone

__all__ = ["router"]

router = APIRouter(prefix="/v1/audio", tags=["audio"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": TranscriptionJSON | TranscriptionVerbose,
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
        413: "Upload larger than the limit.",
        429: "Too many jobs waiting; see Retry-After.",
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


class _Disconnect:
    """Awaitable that finishes when the client disconnects, and remembers that it did.

    Once the body is read, the ASGI ``receive`` channel has nothing left to say but the disconnect, so
    waiting on it costs nothing; remembering spares the next step from starting work for nobody.
    """

    def __init__(self, request: Request) -> None:
        self._request = request
        self.gone = False

    async def __call__(self) -> None:
        while not self.gone:
            message = await self._request.receive()
            if message["type"] == "http.disconnect":
                self.gone = True


async def _handle(request: Request, task: Task) -> Response:
    state = app_state(request)
    settings = state.settings
    fields = log_fields(request.scope)
    fields["endpoint"] = task
    try:
        form = await receive_form(
            request,
            state.uploads,
            max_file_bytes=settings.max_upload_bytes,
            max_field_bytes=settings.max_field_bytes,
        )
    except ClientDisconnect:
        return Response(status_code=499)
    handed_off = False
    try:
        params = parse_params(form.fields, translation=task == "translate")
        if form.upload is None:
            raise MissingFile
        fields.update(
            file=sanitize(form.upload.filename), bytes=form.upload.size, format=params.response_format
        )
        engine = await _engine(state, params.model)
        options = _options(state, params, task, engine)
        if params.stream:
            response = await _stream(request, state, form, engine, options)
            handed_off = True
            return response
        transcript = await _run(request, state, form, engine, options)
        fields.update(audio_s=transcript.duration, language=transcript.language)
        if settings.log_transcripts:
            fields["text"] = json.dumps(transcript.text)
        return _render(transcript, params, task)
    except ClientGone:
        fields["cancelled"] = True
        return Response(status_code=499)
    finally:
        if not handed_off:
            form.cleanup()


async def _engine(state: AppState, requested: str) -> WhisperEngine:
    if not state.ready:
        if state.load_error:
            raise NotReady(f"The default model failed to load: {state.load_error}", retry_after=30)
        raise NotReady("The model is still loading. Retry shortly.", retry_after=2)
    try:
        return await asyncio.to_thread(state.registry.get, requested)
    except ModelUnavailable as exc:
        raise ModelNotFound(requested, exc.reason) from None


def _options(
    state: AppState, params: TranscriptionParams, task: Task, engine: WhisperEngine
) -> DecodeOptions:
    settings = state.settings
    if task == "translate" and not engine.multilingual:
        raise InvalidParameter(
            f"The model '{engine.name}' is English-only and cannot translate; use a multilingual model.",
            param="model",
        )
    return DecodeOptions(
        task=task,
        language=params.language,
        prompt=params.prompt,
        temperature=params.temperature,
        word_timestamps="word" in params.timestamp_granularities,
        beam_size=1 if settings.profile == "fast" else 5,
        vad_filter=settings.vad_filter,
        temperature_fallback=settings.temperature_fallback,
        hotwords=params.hotwords,
        early_text=params.stream,
    )


def _decoder(state: AppState, form: ParsedForm) -> Callable[[threading.Event], DecodedAudio]:
    settings = state.settings
    assert form.upload is not None
    path = form.upload.path

    def decode(cancel: threading.Event) -> DecodedAudio:
        return decode_file(
            path, max_seconds=settings.max_audio_seconds, max_decode_seconds=settings.max_decode_seconds
        )

    return decode


def _transcriber(
    engine: WhisperEngine,
    audio: DecodedAudio,
    options: DecodeOptions,
    on_segment: Callable[[Segment], None] | None = None,
) -> Callable[[threading.Event], Transcript]:
    def transcribe(cancel: threading.Event) -> Transcript:
        return engine.transcribe(audio.samples, options, cancel=cancel, on_segment=on_segment)

    return transcribe


async def _run(
    request: Request, state: AppState, form: ParsedForm, engine: WhisperEngine, options: DecodeOptions
) -> Transcript:
    disconnected = _Disconnect(request)
    fields = log_fields(request.scope)
    fields["segments"] = 0

    def count(segment: Segment) -> None:
        # logged, so that an operator (and a test) can see how far a cancelled job got
        fields["segments"] = segment.id + 1

    async with state.runner.slot(disconnected):
        audio = await state.runner.execute(_decoder(state, form), disconnected)
        form.cleanup()  # the samples are in memory now; the file has done its job
        fields["audio_s"] = audio.seconds
        if disconnected.gone:
            raise ClientGone
        return await state.runner.execute(_transcriber(engine, audio, options, count), disconnected)


def _render(transcript: Transcript, params: TranscriptionParams, task: Task) -> Response:
    body = render(
        transcript, params.response_format, task, with_words="word" in params.timestamp_granularities
    )
    if isinstance(body, dict):
        return JSONResponse(body)
    return PlainTextResponse(body, media_type=CONTENT_TYPES[params.response_format])


def _sse(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


async def _stream(
    request: Request, state: AppState, form: ParsedForm, engine: WhisperEngine, options: DecodeOptions
) -> Response:
    """Answer with SSE: a ``transcript.text.delta`` per segment as it is decoded, then ``done``.

    The slot is taken and the audio decoded before the response starts, so a full queue is still a
    plain 429 and bad audio a plain 400; a failure during inference arrives as an ``error`` event.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Segment | None] = asyncio.Queue()
    disconnected = _Disconnect(request)
    slot = state.runner.slot(disconnected)
    await slot.__aenter__()
    try:
        audio = await state.runner.execute(_decoder(state, form), disconnected)
    except BaseException:
        await slot.__aexit__(None, None, None)
        raise
    finally:
        form.cleanup()
    fields = log_fields(request.scope)

    def on_segment(segment: Segment) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, segment)

    async def events() -> AsyncIterator[bytes]:
        job = asyncio.ensure_future(state.runner.execute(_transcriber(engine, audio, options, on_segment)))
        job.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            first = True
            while (segment := await queue.get()) is not None:
                delta = segment.text.lstrip() if first else segment.text
                first = False
                if delta:
                    yield _sse({"type": "transcript.text.delta", "delta": delta})
            transcript = await job
            fields.update(audio_s=transcript.duration, language=transcript.language)
            yield _sse({"type": "transcript.text.done", "text": transcript.text})
        except Exception as exc:
            error = exc if isinstance(exc, WhisperdError) else InternalError()
            yield _sse(
                {
                    "type": "error",
                    "error": error_body(error.message, error.type, error.param, error.code)["error"],
                }
            )
        finally:
            if not job.done():
                job.cancel()  # the client left mid-stream: the decoder stops at the next segment
            with contextlib.suppress(BaseException):
                await job
            await slot.__aexit__(None, None, None)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
