"""What a job is: what the client asked for, where it stands, and the job object clients see.

Plain dataclasses, free of any storage or web framework: the store persists them, the worker moves them
through their states, the HTTP front end and the webhooks send :func:`job_object`.

    queued ──> running ──> succeeded | failed
       │          │
       └──────────┴──> cancelled            (DELETE while it waits or runs)
    running ──> queued                      (the server stopped: the job resumes after the restart)
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

from whisperd.engine.types import Task
from whisperd.media.formats import ResponseFormat
from whisperd.service.transcription import TranscriptionRequest

__all__ = [
    "FINISHED",
    "Attempt",
    "Delivery",
    "DeliveryStatus",
    "Job",
    "JobSpec",
    "JobStatus",
    "WebhookState",
    "job_object",
    "new_id",
]

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
DeliveryStatus = Literal["pending", "delivered", "failed"]


def new_id(prefix: str) -> str:
    """``job_`` (a job) or ``evt_`` (a webhook event) and 24 random hex digits: unguessable, so an id reveals no other job."""
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What the client asked for, fixed at submission."""

    task: Task = "transcribe"
    model: str = "whisper-1"
    """The model as the client named it (an alias stays an alias: it is resolved when the job runs)."""
    language: str | None = None
    prompt: str | None = None
    temperature: float = 0.0
    word_timestamps: bool = False
    hotwords: str | None = None
    keywords: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    response_format: ResponseFormat = "json"
    """The result's format when the client does not name one, and the webhook's."""
    filename: str = "audio"
    webhook_url: str | None = None
    metadata: dict[str, str] | None = None

    @classmethod
    def of(
        cls,
        request: TranscriptionRequest,
        *,
        response_format: ResponseFormat,
        filename: str,
        webhook_url: str | None,
        metadata: dict[str, str] | None,
    ) -> JobSpec:
        """The spec that stores ``request`` (the fields a job keeps: :meth:`request` rebuilds it)."""
        return cls(
            task=request.task,
            model=request.model or "whisper-1",
            language=request.language,
            prompt=request.prompt,
            temperature=request.temperature,
            word_timestamps=request.word_timestamps,
            hotwords=request.hotwords,
            keywords=request.keywords,
            languages=request.languages,
            response_format=response_format,
            filename=filename,
            webhook_url=webhook_url,
            metadata=metadata,
        )

    def request(self) -> TranscriptionRequest:
        """The transcription service's request for this job."""
        return TranscriptionRequest(
            task=self.task,
            model=self.model,
            language=self.language,
            prompt=self.prompt,
            temperature=self.temperature,
            word_timestamps=self.word_timestamps,
            hotwords=self.hotwords,
            keywords=self.keywords,
            languages=self.languages,
        )

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        """The spec from :meth:`to_dict`'s output; fields a later version added or dropped are ignored."""
        known = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        if known.get("response_format") not in get_args(ResponseFormat):
            known.pop("response_format", None)
        for name in ("keywords", "languages"):  # JSON has lists, the spec tuples
            if name in known:
                known[name] = tuple(str(item) for item in known[name] or ())
        return cls(**known)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at delivering a webhook: when, what came back (a status or an error), how long it took."""

    at: float
    status_code: int | None
    error: str | None
    seconds: float


@dataclass(slots=True)
class Delivery:
    """One webhook event for one job: the same id and body on every attempt, as the spec wants."""

    id: str
    job_id: str
    url: str
    event: str
    payload: str
    status: DeliveryStatus = "pending"
    attempts: int = 0
    next_at: float = 0.0


@dataclass(frozen=True, slots=True)
class WebhookState:
    """What a job shows of its webhook: where it goes, whether it arrived, every attempt."""

    url: str
    status: DeliveryStatus | None = None
    """None until the job ends (no event yet)."""
    attempts: tuple[Attempt, ...] = ()


@dataclass(slots=True)
class Job:
    """One job as stored."""

    id: str
    owner: str
    """Who created it: an API key's identity (never the key), or "" when keys are off."""
    spec: JobSpec
    status: JobStatus
    created_at: float
    audio_bytes: int
    started_at: float | None = None
    finished_at: float | None = None
    duration: float | None = None
    """Seconds of audio: from the file's header at submission, exact once decoded."""
    progress: float = 0.0
    """Seconds of audio transcribed so far."""
    resumed_from: float | None = None
    """Where the latest run picked up after an interruption (seconds of audio), if it did."""
    runs: int = 0
    """Times the job was started (more than one: the server stopped while it ran)."""
    error: dict[str, Any] | None = None
    """OpenAI's error object when it failed."""
    idempotency_key: str | None = None
    webhook: WebhookState | None = field(default=None)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def job_object(job: Job, retention_seconds: float) -> dict[str, Any]:
    """The job as clients see it (``GET /v1/audio/jobs/{id}``, events, webhooks): OpenAI's style of object."""
    spec = job.spec
    fraction = None
    if job.duration:
        fraction = round(min(1.0, job.progress / job.duration), 4)
    if job.status == "succeeded":
        fraction = 1.0
    webhook = None
    if job.webhook is not None:
        webhook = {
            "url": job.webhook.url,
            "status": job.webhook.status,
            "attempts": [
                {
                    "at": int(a.at),
                    "status_code": a.status_code,
                    "error": a.error,
                    "seconds": round(a.seconds, 3),
                }
                for a in job.webhook.attempts
            ],
        }
    return {
        "id": job.id,
        "object": "audio.job",
        "status": job.status,
        "created_at": int(job.created_at),
        "started_at": _seconds(job.started_at),
        "finished_at": _seconds(job.finished_at),
        "expires_at": _seconds(job.finished_at + retention_seconds if job.finished_at else None),
        "model": spec.model,
        "task": spec.task,
        "language": spec.language,
        "response_format": spec.response_format,
        "filename": spec.filename,
        "bytes": job.audio_bytes,
        "duration": None if job.duration is None else round(job.duration, 3),
        "progress": {"seconds": round(job.progress, 3), "fraction": fraction},
        "resumed_from": None if job.resumed_from is None else round(job.resumed_from, 3),
        "runs": job.runs,
        "error": job.error,
        "metadata": spec.metadata,
        "webhook": webhook,
    }


def _seconds(value: float | None) -> int | None:
    return None if value is None else int(value)
