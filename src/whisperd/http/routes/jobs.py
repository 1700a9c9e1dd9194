"""``/v1/audio/jobs``: submit now, fetch later. HTTP in, :class:`~whisperd.jobs.manager.Jobs`, HTTP out.

* ``POST /v1/audio/jobs``: a transcription's multipart fields plus ``task``, ``webhook_url`` and
  ``metadata``; 202 with the job object. An ``Idempotency-Key`` header makes a retried submit return the
  first job (its body is read and dropped). Refused before the body when the quotas are reached (429).
* ``GET /v1/audio/jobs`` (OpenAI's list: ``data``, ``first_id``, ``last_id``, ``has_more``; ``after``,
  ``limit``), ``GET /v1/audio/jobs/{id}``, ``GET /v1/audio/jobs/{id}/result?response_format=``,
  ``GET /v1/audio/jobs/{id}/events`` (Server-Sent Events), ``DELETE /v1/audio/jobs/{id}``.

With API keys on, a key sees only the jobs it created; another key's job is a 404, like a job that does
not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.requests import ClientDisconnect

from whisperd.config import UploadLimits
from whisperd.errors import AudioTooLong, InvalidParameter, JobNotFound, MissingFile, NotFound
from whisperd.http.middleware.auth import owner_of
from whisperd.http.middleware.observe import record_of
from whisperd.http.protocol import (
    ErrorResponse,
    JobParams,
    check_diarization,
    job_form_schema,
    parse_job_params,
)
from whisperd.http.requests import service_request
from whisperd.http.responses import EventStream, sse
from whisperd.http.routes import runtime_of
from whisperd.http.upload import receive_form
from whisperd.jobs.events import Follower
from whisperd.jobs.manager import Jobs
from whisperd.jobs.model import Job, JobSpec
from whisperd.media.audio import probe
from whisperd.media.formats import CONTENT_TYPES, JOB_FORMATS, ResponseFormat, render
from whisperd.observability.logs import sanitize
from whisperd.runtime import Runtime

__all__ = ["cancel_job", "create_job", "get_job", "job_events", "job_result", "list_jobs", "router"]

router = APIRouter(prefix="/v1/audio/jobs", tags=["jobs"])

_JOB_ID = re.compile(r"job_[0-9a-f]{24}")
_MAX_IDEMPOTENCY_KEY = 255
_HEARTBEAT_SECONDS = 15.0

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": why}
    for code, why in {
        400: "A bad parameter, file, webhook_url or metadata.",
        401: "Missing or wrong API key.",
        404: "No such job (or another key's).",
        409: "The job has no result (yet).",
        413: "Upload larger than WHISPERD_JOB_MAX_UPLOAD_BYTES.",
        429: "Too many jobs queued, too much audio stored, or too many event streams; see Retry-After.",
    }.items()
}


def _jobs(request: Request) -> tuple[Runtime, Jobs]:
    runtime = runtime_of(request)
    if runtime.jobs is None:
        if runtime.settings.jobs:  # on, but not here: a Ray cluster's ingress
            raise NotFound("Jobs are served by one process (whisperd serve), not by a Ray cluster.")
        raise NotFound("Jobs are turned off on this server (WHISPERD_JOBS=false).")
    return runtime, runtime.jobs


async def _job(request: Request, jobs: Jobs, job_id: str) -> Job:
    if not _JOB_ID.fullmatch(job_id):
        raise JobNotFound(job_id)
    return await jobs.get(owner_of(request), job_id)


@router.post(
    "",
    status_code=202,
    summary="Submit audio for transcription later (a job)",
    openapi_extra={"requestBody": job_form_schema()},
    responses={202: {"description": "The job object."}, **_ERRORS},
    response_model=None,
)
async def create_job(request: Request) -> Response:
    runtime, jobs = _jobs(request)
    owner = owner_of(request)
    record = record_of(request)
    record.task = "job"
    key = request.headers.get("idempotency-key")
    if key is not None and not 0 < len(key) <= _MAX_IDEMPOTENCY_KEY:
        raise InvalidParameter(
            f"Idempotency-Key must be 1 to {_MAX_IDEMPOTENCY_KEY} characters.", param="Idempotency-Key"
        )
    if key is not None and (first := await jobs.existing(owner, key)) is not None:
        await _drop_body(request, runtime.settings.job_max_upload_bytes)
        return _submitted(jobs, first, replayed=True)
    declared = request.headers.get("content-length")
    refusal = jobs.refusal(int(declared) if declared and declared.isdigit() else None)
    if refusal is not None:
        raise refusal
    limits = runtime.settings.upload_limits()
    limits = UploadLimits(
        max_file_bytes=runtime.settings.job_max_upload_bytes,
        max_field_bytes=limits.max_field_bytes,
        stall_seconds=limits.stall_seconds,
        min_bytes_per_second=limits.min_bytes_per_second,
        grace_seconds=limits.grace_seconds,
    )
    with runtime.uploads.receiving(), jobs.budget() as budget:
        try:
            form = await receive_form(request, jobs.files, limits, on_file_bytes=budget.take)
        except ClientDisconnect:
            return Response(status_code=499)
        try:
            params = parse_job_params(form.fields)
            if form.upload is None:
                raise MissingFile
            record.file, record.bytes = sanitize(form.upload.filename), form.upload.size
            spec = await _spec(runtime, jobs, params, form.upload.filename)
            duration = await asyncio.to_thread(probe, form.upload.path)
            if duration is not None and duration > runtime.settings.max_audio_seconds:
                raise AudioTooLong(runtime.settings.max_audio_seconds)
            record.audio_seconds = duration
            job, created = await jobs.submit(
                owner, spec, form.upload.path, form.upload.size, duration=duration, idempotency_key=key
            )
        finally:
            form.cleanup()
    return _submitted(jobs, job, replayed=not created)


async def _spec(runtime: Runtime, jobs: Jobs, params: JobParams, filename: str) -> JobSpec:
    """The job's request, checked now rather than when its turn comes: the model exists, the webhook
    may go where it says. What a stored result cannot carry is refused, not dropped: speakers, log
    probabilities, a chunking strategy."""
    if params.model in runtime.settings.diarize_models:
        raise InvalidParameter(
            "Jobs do not diarize: send the diarization model to /v1/audio/transcriptions.", param="model"
        )
    for field, param in (("include", "include"), ("chunking_strategy", "chunking_strategy")):
        if getattr(params, field):
            raise InvalidParameter(f"{param} is not supported for jobs.", param=param)
    check_diarization(params, diarize=False)
    await jobs.service.model_for(params.model, params.task)
    webhook = None if params.webhook_url is None else await jobs.webhook_target(params.webhook_url)
    return JobSpec.of(
        service_request(params, params.task),
        response_format=params.response_format,
        filename=sanitize(filename)[:255] or "audio",
        webhook_url=webhook,
        metadata=params.metadata,
    )


def _submitted(jobs: Jobs, job: Job, *, replayed: bool) -> JSONResponse:
    headers = {"Location": f"/v1/audio/jobs/{job.id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(jobs.object(job), status_code=202, headers=headers)


async def _drop_body(request: Request, limit: int) -> None:
    """Read a replayed submit's body to its end (so that the client gets its answer on a clean
    connection), keeping none of it; a body over the limit is left unread."""
    received = 0
    with contextlib.suppress(ClientDisconnect):
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                return


@router.get("", summary="List jobs, newest first", responses=_ERRORS, response_model=None)
async def list_jobs(
    request: Request,
    after: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> JSONResponse:
    _, jobs = _jobs(request)
    found, more = await jobs.page(owner_of(request), after=after, limit=limit)
    data = [jobs.object(job) for job in found]
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": more,
        }
    )


@router.get(
    "/{job_id}", summary="A job: status, progress, timings, error", responses=_ERRORS, response_model=None
)
async def get_job(request: Request, job_id: str) -> JSONResponse:
    _, jobs = _jobs(request)
    return JSONResponse(jobs.object(await _job(request, jobs, job_id)))


@router.get(
    "/{job_id}/result",
    summary="A succeeded job's transcript in any response format",
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/plain": {"schema": {"type": "string"}},
                "application/x-subrip": {"schema": {"type": "string"}},
                "text/vtt": {"schema": {"type": "string"}},
            },
            "description": "The transcript, rendered from the stored result (no second transcription).",
        },
        **_ERRORS,
    },
    response_model=None,
)
async def job_result(
    request: Request, job_id: str, response_format: Annotated[str | None, Query()] = None
) -> Response:
    _, jobs = _jobs(request)
    if not _JOB_ID.fullmatch(job_id):
        raise JobNotFound(job_id)
    if response_format is not None and response_format not in JOB_FORMATS:
        raise InvalidParameter(
            f"Invalid value for 'response_format': use one of {', '.join(JOB_FORMATS)}.",
            param="response_format",
        )
    job, transcript = await jobs.result(owner_of(request), job_id)
    chosen: ResponseFormat = response_format or job.spec.response_format
    record_of(request).response_format = chosen
    body = render(transcript, chosen, job.spec.task, with_words=job.spec.word_timestamps)
    if isinstance(body, dict):
        return JSONResponse(body)
    return PlainTextResponse(body, media_type=CONTENT_TYPES[chosen])


@router.get(
    "/{job_id}/events",
    summary="Server-Sent Events: the job's state, its progress, its end",
    responses={200: {"content": {"text/event-stream": {}}, "description": "Job events."}, **_ERRORS},
    response_model=None,
)
async def job_events(request: Request, job_id: str) -> Response:
    _, jobs = _jobs(request)
    if not _JOB_ID.fullmatch(job_id):
        raise JobNotFound(job_id)
    stack = contextlib.ExitStack()
    follower = stack.enter_context(jobs.follow(job_id))  # before reading: no update falls in between
    try:
        job = await _job(request, jobs, job_id)
    except BaseException:
        stack.close()
        raise
    return EventStream(_events(jobs, job, follower), on_close=stack.close)


async def _events(jobs: Jobs, job: Job, follower: Follower) -> AsyncIterator[bytes]:
    """``audio.job.<status>`` first and at each change of status, ``audio.job.progress`` between; the
    stream ends after the job does. A comment every 15 s keeps proxies from closing a quiet stream."""
    yield sse({"type": f"audio.job.{job.status}", "job": jobs.object(job)})
    status = job.status
    while not job.finished:
        try:
            async with asyncio.timeout(_HEARTBEAT_SECONDS):
                changed = await follower.next()
        except TimeoutError:
            yield b": keep-alive\n\n"
            continue
        if changed is None:
            continue
        job = changed
        kind = "progress" if job.status == status else job.status
        status = job.status
        yield sse({"type": f"audio.job.{kind}", "job": jobs.object(job)})


@router.delete(
    "/{job_id}",
    summary="Cancel a job (its audio and result deleted); a finished job is deleted",
    responses=_ERRORS,
    response_model=None,
)
async def cancel_job(request: Request, job_id: str) -> JSONResponse:
    _, jobs = _jobs(request)
    if not _JOB_ID.fullmatch(job_id):
        raise JobNotFound(job_id)
    job = await jobs.cancel(owner_of(request), job_id)
    return JSONResponse({**jobs.object(job), "deleted": True})
