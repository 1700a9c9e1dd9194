"""The transcription service: what every front end calls, and the one place that turns requests into work.

A front end (an HTTP route, a Wyoming connection, the CLI's ``--local``, the benchmark, later a job
worker) says what it wants as a :class:`TranscriptionRequest` and hands over the audio; the service

* maps the request to decoding options (:meth:`TranscriptionService.options`: the profile's beam size,
  VAD, the temperature ladder) and checks what the model can do (an English-only model cannot translate),
* holds a lease on the model (loading it on first use) and a scheduler slot for the work, both released
  only when the worker thread has returned, whatever happens to the caller,
* runs decode -> free the upload -> transcribe in that slot, stopping when the caller's cancel token fires,
* reports progress in seconds of audio, and for long audio the checkpoints a job keeps to resume after a
  crash (:class:`~whisperd.engine.types.Checkpoint`),

and offers the result whole (:meth:`~TranscriptionService.transcribe`) or as a stream of segments
(:meth:`~TranscriptionService.stream`). It knows no protocol: errors are the framework-free tree of
:mod:`whisperd.errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from whisperd.config import DecodingPolicy
from whisperd.engine.catalog import ModelUnavailable
from whisperd.engine.manager import ModelManager
from whisperd.engine.types import (
    CancelToken,
    Checkpoint,
    DecodeOptions,
    Recording,
    Resume,
    Segment,
    Task,
    Transcriber,
    Transcript,
    VadSettings,
)
from whisperd.errors import InvalidParameter, ModelNotFound
from whisperd.media.audio import channel_count, decode_blocks
from whisperd.service.admission import Priority
from whisperd.service.diarizing import Diarizer, KnownSpeaker
from whisperd.service.scheduler import Scheduler

__all__ = [
    "AudioFile",
    "AudioInput",
    "Hooks",
    "Samples",
    "TranscriptStream",
    "Transcription",
    "TranscriptionRequest",
    "TranscriptionService",
    "UploadedFile",
]


@dataclass(frozen=True, slots=True)
class TranscriptionRequest:
    """What a client asks for, already validated by its front end (names as the client sent them)."""

    task: Task = "transcribe"
    model: str | None = None
    """The model or alias the client named; None means the default model."""
    language: str | None = None
    prompt: str | None = None
    temperature: float = 0.0
    word_timestamps: bool = False
    hotwords: str | None = None
    keywords: tuple[str, ...] = ()
    """Words and phrases whose spelling the decoder should follow (OpenAI's ``keywords``)."""
    languages: tuple[str, ...] = ()
    """The languages the audio may be in; detection chooses among them."""
    logprobs: bool = False
    """Each output token's log probability, from the decoder (decoded greedily to have them)."""
    vad: VadSettings | None = None
    """Where the audio is cut at pauses (OpenAI's ``chunking_strategy``); None: the defaults."""
    stream: bool = False
    """The client reads the text as it comes: the first part of a long file is decoded first."""
    draft: bool = False
    """A provisional decode of audio still arriving (live partial text): greedy and without the random
    temperature fallback, since it will be decoded again in full."""
    diarize: bool = False
    """Say who speaks: each segment of the result carries its speaker (OpenAI's diarization model)."""
    known_speakers: tuple[KnownSpeaker, ...] = ()
    """Voices to name instead of lettering them (with ``diarize``)."""


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """Audio in a file of the upload area; the service deletes it as soon as it is decoded."""

    path: Path

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class AudioFile:
    """A file the caller keeps (the CLI's ``--local`` reads the user's own files): decoded, never deleted."""

    path: Path

    def discard(self) -> None:
        """Nothing to delete: the file is not the service's."""


@dataclass(frozen=True, slots=True)
class Samples:
    """Audio already decoded: 16 kHz mono float32 samples (a live stream's utterance, the CLI's file)."""

    audio: np.ndarray

    def discard(self) -> None:
        """Nothing to delete; the samples go with the request."""


AudioInput = UploadedFile | AudioFile | Samples


@dataclass(frozen=True, slots=True)
class Hooks:
    """What a caller hears while its work runs (in the worker thread), and where a job picks up."""

    on_segment: Callable[[Segment], None] | None = None
    on_decoded: Callable[[float], None] | None = None
    """The audio is decoded: its length in seconds."""
    on_progress: Callable[[float, float], None] | None = None
    """Seconds of audio done, of the total: after each segment and each checkpoint."""
    on_checkpoint: Callable[[Checkpoint], None] | None = None
    """Long audio: where the work starts, then how far it got after each chunk (what a job keeps)."""
    resume: Resume | None = None
    """Start from this checkpoint of the same work (a job after a crash), where the engine can."""


class TranscriptStream:
    """Segments as they are decoded, then the whole transcript; iterate it once."""

    def __init__(self, queue: asyncio.Queue[Segment | None], job: asyncio.Future[Transcript]) -> None:
        self._queue = queue
        self._job = job

    async def __aiter__(self) -> AsyncIterator[Segment]:
        while (segment := await self._queue.get()) is not None:
            yield segment

    async def result(self) -> Transcript:
        """The transcript once every segment is out (raises what the work raised)."""
        return await asyncio.shield(self._job)


class Transcription(Protocol):
    """What a front end calls to have audio transcribed: :class:`TranscriptionService` in this process,
    or a cluster's replicas behind the same two methods (``whisperd.scale``)."""

    async def transcribe(
        self,
        audio: AudioInput,
        request: TranscriptionRequest,
        *,
        cancel: CancelToken,
        on_segment: Callable[[Segment], None] | None = None,
        on_decoded: Callable[[float], None] | None = None,
        wait: bool = True,
    ) -> Transcript:
        """The whole transcript; ``cancel`` stops the work; ``wait=False`` refuses rather than queue."""
        ...

    async def stream(
        self, audio: AudioInput, request: TranscriptionRequest, *, cancel: CancelToken
    ) -> TranscriptStream:
        """Returns once the audio is decoded (refusals and bad audio raise first), then the segments."""
        ...


class TranscriptionService:
    """Requests to transcripts, through the model manager's leases and the scheduler's slots."""

    def __init__(
        self, policy: DecodingPolicy, models: ModelManager, scheduler: Scheduler, diarizer: Diarizer
    ) -> None:
        self.policy = policy
        self.models = models
        self.scheduler = scheduler
        self.diarizer = diarizer

    def options(self, request: TranscriptionRequest, model: Transcriber) -> DecodeOptions:
        """The decoding options for ``request`` on ``model``: the only place this mapping is made."""
        _check_task(request.task, model.name, model.multilingual)
        greedy = self.policy.profile == "fast" or request.draft or request.logprobs
        return DecodeOptions(
            task=request.task,
            language=request.language,
            prompt=request.prompt,
            temperature=request.temperature,
            word_timestamps=request.word_timestamps,
            beam_size=1 if greedy else 5,
            vad_filter=self.policy.vad_filter,
            temperature_fallback=self.policy.temperature_fallback and not request.draft,
            hotwords=", ".join([*request.keywords, *([request.hotwords] if request.hotwords else [])])
            or None,
            languages=request.languages,
            logprobs=request.logprobs,
            vad=request.vad,
            early_text=request.stream,
        )

    async def model_for(self, requested: str | None, task: Task = "transcribe") -> str:
        """The model ``requested`` names, checked present now and able to do ``task`` (nothing loaded):
        work queued for later (a job) is refused at once, not when its turn comes."""
        try:
            name, multilingual = await asyncio.to_thread(self._present, requested)
        except ModelUnavailable as exc:
            raise ModelNotFound(requested or "default", exc.reason) from None
        if multilingual is not None:
            _check_task(task, name, multilingual)
        return name

    def _present(self, requested: str | None) -> tuple[str, bool | None]:
        name = self.models.present(requested)
        return name, self.models.multilingual(name)

    async def transcribe(
        self,
        audio: AudioInput,
        request: TranscriptionRequest,
        *,
        cancel: CancelToken,
        on_segment: Callable[[Segment], None] | None = None,
        on_decoded: Callable[[float], None] | None = None,
        wait: bool = True,
        priority: Priority = "interactive",
        hooks: Hooks | None = None,
    ) -> Transcript:
        """The whole transcript of ``audio``. Callbacks run in the worker thread.

        If the caller is cancelled, the token fires and the work winds down on its own; the model lease
        and the slot are released only when the worker thread has returned. ``wait=False`` refuses at
        once (QueueFull) instead of queueing when no slot is free: for best-effort work.
        ``priority="background"`` is for jobs: they wait behind interactive work for a slot of their share.
        ``hooks`` adds progress, checkpoints and resumption (``on_segment``/``on_decoded`` are shortcuts).
        """
        hooks = hooks or Hooks()
        if on_segment is not None:
            hooks = replace(hooks, on_segment=on_segment)
        if on_decoded is not None:
            hooks = replace(hooks, on_decoded=on_decoded)
        job = asyncio.ensure_future(self._job(audio, request, cancel, hooks, wait, priority))
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            cancel.cancel()
            job.add_done_callback(_consume)
            raise

    async def stream(
        self, audio: AudioInput, request: TranscriptionRequest, *, cancel: CancelToken
    ) -> TranscriptStream:
        """Start the work and return once the audio is decoded, so that a queue refusal or bad audio is
        raised before a front end commits to a streamed answer; then iterate the segments."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Segment | None] = asyncio.Queue()
        decoded: asyncio.Future[None] = loop.create_future()

        def segment_out(segment: Segment) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, segment)

        def settle() -> None:
            if not decoded.done():
                decoded.set_result(None)

        def decoded_now(_: float) -> None:
            loop.call_soon_threadsafe(settle)

        hooks = Hooks(on_segment=segment_out, on_decoded=decoded_now)
        job = asyncio.ensure_future(self._job(audio, request, cancel, hooks, True, "interactive"))
        job.add_done_callback(lambda _: queue.put_nowait(None))
        pending: set[asyncio.Future[Any]] = {job, decoded}
        try:
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            cancel.cancel()
            job.add_done_callback(_consume)
            raise
        finally:
            decoded.cancel()
        if job.done():
            job.result()  # raises the refusal or the decoding error now
        return TranscriptStream(queue, job)

    async def _job(
        self,
        audio: AudioInput,
        request: TranscriptionRequest,
        cancel: CancelToken,
        hooks: Hooks,
        wait: bool,
        priority: Priority,
    ) -> Transcript:
        """Lease the model, take a slot, decode and transcribe; the upload is deleted in every path."""
        try:
            async with self._lease(request.model) as model:
                options = self.options(request, model)

                def work(token: CancelToken) -> Transcript:
                    if request.diarize:
                        return self._diarized(
                            audio, request, model, options, token, hooks.on_segment, hooks.on_decoded
                        )
                    recording = self._record(audio, model, options)
                    progress = _Progress(recording.duration, hooks)
                    if hooks.on_decoded is not None:
                        hooks.on_decoded(recording.duration)
                    token.check()
                    return model.transcribe(
                        recording,
                        options,
                        cancel=token,
                        on_segment=progress.segment,
                        resume=hooks.resume,
                        on_checkpoint=progress.checkpoint,
                    )

                return await self.scheduler.run(work, cancel, wait=wait, priority=priority)
        finally:
            audio.discard()

    @contextlib.asynccontextmanager
    async def _lease(self, requested: str | None) -> AsyncIterator[Transcriber]:
        try:
            lease = self.models.lease(requested)
            model = await lease.__aenter__()
        except ModelUnavailable as exc:
            raise ModelNotFound(requested or "default", exc.reason) from None
        try:
            yield model
        finally:
            await lease.__aexit__(None, None, None)

    def _diarized(
        self,
        audio: AudioInput,
        request: TranscriptionRequest,
        model: Transcriber,
        options: DecodeOptions,
        token: CancelToken,
        on_segment: Callable[[Segment], None] | None,
        on_decoded: Callable[[float], None] | None,
    ) -> Transcript:
        """Speakers need the whole recording (and a channel check may read it twice): the upload is kept
        until the work ends, and the segments go out once every speaker is known."""
        channels = 1 if isinstance(audio, Samples) else channel_count(audio.path)
        transcript = self.diarizer.transcribe(
            lambda keep: self._blocks(audio, keep),
            channels,
            model,
            options,
            request.known_speakers,
            cancel=token,
            on_decoded=on_decoded,
        )
        if on_segment is not None:
            for segment in transcript.segments:
                on_segment(segment)
        return transcript

    def _blocks(self, audio: AudioInput, channels: int) -> Iterator[np.ndarray]:
        """The audio decoded block by block within the operator's limits (mono, or its channels kept)."""
        if isinstance(audio, Samples):
            yield audio.audio
            return
        yield from decode_blocks(
            audio.path,
            max_seconds=self.policy.max_audio_seconds,
            max_decode_seconds=self.policy.max_decode_seconds,
            channels=channels,
        )

    def _record(self, audio: AudioInput, model: Transcriber, options: DecodeOptions) -> Recording:
        """The audio decoded into the model's recorder, block by block; an upload is deleted at the end."""
        recorder = model.recorder(options)
        try:
            for block in self._blocks(audio, 1):
                recorder.feed(block)
            return recorder.finish()
        finally:
            audio.discard()


class _Progress:
    """Seconds done from the segments and the checkpoints as they come, handed on with the hooks."""

    def __init__(self, total: float, hooks: Hooks) -> None:
        self.total = total
        self.done = 0.0
        self.hooks = hooks

    def _advance(self, seconds: float) -> None:
        self.done = min(self.total, max(self.done, seconds))
        if self.hooks.on_progress is not None:
            self.hooks.on_progress(self.done, self.total)

    def segment(self, segment: Segment) -> None:
        if self.hooks.on_segment is not None:
            self.hooks.on_segment(segment)
        self._advance(segment.end)

    def checkpoint(self, checkpoint: Checkpoint) -> None:
        if self.hooks.on_checkpoint is not None:
            self.hooks.on_checkpoint(checkpoint)
        self._advance(checkpoint.seconds)


def _consume(future: asyncio.Future[Transcript]) -> None:
    """Retrieve an abandoned job's outcome, so that its exception is not reported as never retrieved."""
    if not future.cancelled():
        future.exception()


def _check_task(task: Task, model: str, multilingual: bool) -> None:
    """What a model can do: the one place that says an English-only model cannot translate."""
    if task == "translate" and not multilingual:
        raise InvalidParameter(
            f"The model '{model}' is English-only and cannot translate; use a multilingual model.",
            param="model",
        )
