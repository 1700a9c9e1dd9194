"""One Wyoming connection: ``describe`` -> ``info``, ``ping`` -> ``pong``, and utterances -> ``transcript``.

An utterance is ``transcribe`` (optional: ``name`` picks the model, ``language`` the spoken language),
``audio-start``, ``audio-chunk``..., ``audio-stop``; the answer is one ``transcript`` with the text and
the language. This is Home Assistant's exact flow, one connection per utterance; a client may also send
several utterances on one connection (a ``transcribe`` then holds until the next one). The handler
converts the wire into a :class:`~whisperd.service.transcription.TranscriptionRequest` and 16 kHz
samples and hands them to the runtime's transcription service, so an utterance takes a job slot of the
same scheduler as an HTTP request and the model's lease like any other request; model names,
capabilities and decoding options are the service's business.

While the utterance is transcribed the handler keeps reading the socket: a client that leaves then
cancels its work (its job slot is freed when the work stops, as for HTTP). Every failure a client can
cause (a malformed event, an unknown model, a full queue, an over-long utterance, silence on the line)
is answered with an ``error`` event carrying the same message and code as the HTTP API's error body,
and the connection is closed. Each utterance is one :class:`~whisperd.observability.record.RequestRecord`
(log line and metrics) with HTTP's status codes, on the ``wyoming`` route.

With partials on (``WHISPERD_WYOMING_PARTIALS``; ``info`` then says ``supports_transcript_streaming``)
the utterance so far is decoded again as a best-effort draft while the audio arrives
(:mod:`whisperd.service.drafts`: the realtime socket's drafts and their shared budget), and the words
two drafts agree on are sent at once, as the protocol's streaming has it: ``transcript-start``, then
``transcript-chunk`` events, and after ``audio-stop`` the last chunk, ``transcript`` and
``transcript-stop``. The chunks are parts of the transcript (a client may build the text from them), so
words once sent stand: the final decode only adds what it has after them, and the ``transcript`` is the
chunks joined. That text can therefore differ from the HTTP API's where a draft misheard a word the
final decode would have got right, which is why partials are off by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from typing import Any

from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler

from whisperd import __version__
from whisperd.config import WyomingLimits
from whisperd.engine.types import SAMPLE_RATE, Cancelled, CancelToken, Segment
from whisperd.engine.types import Transcript as Result
from whisperd.errors import InternalError, InvalidEvent, InvalidParameter, UploadTimeout, WhisperdError
from whisperd.media.languages import language_code
from whisperd.media.pcm import PcmFormat
from whisperd.observability.logs import LOGGER_NAME, log_request
from whisperd.observability.record import RequestRecord
from whisperd.realtime.agreement import Agreement
from whisperd.runtime import Runtime
from whisperd.service.drafts import Drafts
from whisperd.service.transcription import Samples, TranscriptionRequest
from whisperd.wyoming.info import PROGRAM, build_info
from whisperd.wyoming.utterance import Utterance
from whisperd.wyoming.wire import BoundedStream, close, read_event, write_event

__all__ = ["ROUTE", "WyomingHandler", "observe"]

logger = logging.getLogger(LOGGER_NAME)

ROUTE = "wyoming"
"""The ``endpoint`` label of Wyoming utterances in the metrics, beside HTTP's route templates."""

_NATIVE = PcmFormat(SAMPLE_RATE, 2, 1)


class _ClientLeft(Exception):
    """The client closed the connection while its utterance was being transcribed."""


def observe(runtime: Runtime, record: RequestRecord, status: int, started: float) -> None:
    """Finish ``record`` with ``status``: its log line and its metrics, as an HTTP request's."""
    record.status = status
    record.elapsed = time.perf_counter() - started
    log_request(record)
    runtime.metrics.observe(record)


class WyomingHandler(AsyncEventHandler):
    """Serves one connection for the Wyoming server, over the process's runtime."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        runtime: Runtime,
        limits: WyomingLimits,
    ) -> None:
        super().__init__(reader, writer)
        self._runtime = runtime
        self._limits = limits
        self._stream = BoundedStream(reader)
        self._reading: asyncio.Future[Event | None] | None = None
        self._request = TranscriptionRequest()
        self._utterance: Utterance | None = None
        self._record: RequestRecord | None = None
        self._started = 0.0
        self._drafts: Drafts | None = None
        self._agreement: Agreement | None = None
        """The shown words of the current utterance; None when partials are off or the audio has ended."""
        self._streaming = False  # transcript-start was sent for the current utterance
        self._partials: asyncio.Future[None] | None = None  # the last partial write, in order
        self.transcribing = False
        """An utterance's work is running: the server lets it finish when it stops."""
        self.closing = False
        """The server is stopping: close after the current utterance."""

    async def run(self) -> None:
        """Serve events until the client leaves, a failure closes the connection or the server stops.

        Replaces the package's loop, which waits for ever for the next event and closes on garbage
        without a word: here each event must arrive within the idle limit, and every failure is
        answered before the connection closes.
        """
        try:
            while not self.closing:
                event = await self._next_event()
                if event is None:
                    self._abandon(cancelled=None)
                    break
                if not await self.handle_event(event):
                    break
        except WhisperdError as exc:
            await self._fail(exc)
        except _ClientLeft:
            self._abandon(cancelled=True)
        except (ConnectionError, TimeoutError):
            self._abandon(cancelled=None)
        except asyncio.CancelledError:  # the server stops: an unfinished utterance was not the client's doing
            self._abandon(cancelled=True, status=503)
            raise
        except Exception:
            logger.exception("wyoming: internal error")
            await self._fail(InternalError())
        finally:
            await self._close()

    async def handle_event(self, event: Event) -> bool:
        """One event; False closes the connection. Events this server does not serve are dropped."""
        if Describe.is_type(event.type):
            await self._write(await self._info())
        elif Ping.is_type(event.type):
            text = event.data.get("text")
            await self._write(Pong(text=text if isinstance(text, str) else None).event())
        elif Transcribe.is_type(event.type):
            self._request = _request_of(event)
        elif AudioStart.is_type(event.type):
            self._begin(_format_of(event))
        elif AudioChunk.is_type(event.type):
            fmt = _format_of(event)
            utterance = self._utterance or self._begin(fmt)  # audio without audio-start: lenient
            utterance.add(fmt, event.payload or b"")
            self._maybe_draft(utterance)
        elif AudioStop.is_type(event.type):
            await self._finish()
        return not self.closing

    # --- utterances -------------------------------------------------------------------------------

    def _begin(self, fmt: PcmFormat) -> Utterance:
        """A new utterance, refused at once (before audio is sent) when the server is not ready or full."""
        self._abandon(cancelled=None)  # an audio-start inside an utterance starts again
        self._record = RequestRecord(
            request_id=uuid.uuid4().hex, method="WYOMING", path="transcribe", route=ROUTE, task="transcribe"
        )
        self._started = time.perf_counter()
        refusal = self._runtime.refusal()
        if refusal is not None:
            raise refusal
        self._utterance = Utterance(fmt, max_seconds=self._limits.max_utterance_seconds)
        if self._limits.partials:
            if self._drafts is None:
                runtime = self._runtime
                self._drafts = Drafts(
                    runtime.service, runtime.drafts, partial_seconds=self._limits.partial_seconds
                )
            self._drafts.restart(0)
            self._agreement = Agreement()
            self._streaming = False
        return self._utterance

    async def _finish(self) -> None:
        """``audio-stop``: transcribe what came (nothing at all included) and answer ``transcript``."""
        utterance = self._utterance or self._begin(_NATIVE)
        record = self._record
        assert record is not None
        agreement = self._agreement
        self._stop_drafts()
        samples = utterance.samples()
        record.bytes = utterance.received_bytes
        record.audio_seconds = len(samples) / SAMPLE_RATE
        record.language = self._request.language
        result = await self._transcribe(Samples(samples), record)
        record.audio_seconds, record.language = result.duration, result.language
        record.segments = len(result.segments)
        text = result.text
        if agreement is not None:
            rest = agreement.complete(result.text)
            self._partial([TranscriptChunk(text=rest).event()] if rest else [])
            await self._flush_partials()
            text = agreement.text
        if self._runtime.settings.log_transcripts:
            record.text = text
        await self._write(Transcript(text=text, language=result.language).event())
        self._utterance = self._record = None
        observe(self._runtime, record, 200, self._started)
        if agreement is not None:  # after the record: a client may close once it has the transcript
            await self._write(TranscriptStop().event())

    async def _transcribe(self, audio: Samples, record: RequestRecord) -> Result:
        """The service's transcript, while watching the socket: a client that leaves cancels the work."""
        token = CancelToken()

        def count(segment: Segment) -> None:
            record.segments = segment.id + 1  # how far a cancelled utterance got, in its log line

        job = asyncio.ensure_future(
            self._runtime.service.transcribe(audio, self._request, cancel=token, on_segment=count)
        )
        self.transcribing = True
        try:
            reading = self._next_read()
            either: set[asyncio.Future[Any]] = {job, reading}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            failure = reading.exception() if reading.done() else None
            if not job.done() and reading.done() and (failure is not None or reading.result() is None):
                token.cancel()  # the client left (or sent garbage): its work stops
                with contextlib.suppress(Cancelled, WhisperdError):
                    await job
                self._reading = None
                if isinstance(failure, InvalidEvent):
                    raise failure
                raise _ClientLeft
            # otherwise the client sent its next event early: it waits in self._reading for the loop
            try:
                return await job
            except Cancelled:
                raise _ClientLeft from None
        except asyncio.CancelledError:  # the server stops and cannot wait any longer
            token.cancel()
            job.cancel()
            raise
        finally:
            self.transcribing = False

    # --- partials ----------------------------------------------------------------------------------

    def _maybe_draft(self, utterance: Utterance) -> None:
        drafts = self._drafts
        if drafts is None or self._agreement is None or not drafts.due(utterance.sample_count, 0):
            return
        drafts.start(
            utterance.so_far(),
            self._request,
            utterance.sample_count,
            lambda text: self._drafted(utterance, text),
        )

    def _drafted(self, utterance: Utterance, text: str) -> None:
        if self._utterance is not utterance or self._agreement is None:
            return  # the audio ended (or the utterance was dropped) while the draft ran
        delta = self._agreement.update(text)
        if delta:
            self._partial([TranscriptChunk(text=delta).event()])

    def _partial(self, events: list[Event]) -> None:
        """Send ``events`` after every partial before them, ``transcript-start`` first of all."""
        if not self._streaming:
            self._streaming = True
            events = [TranscriptStart(language=self._request.language).event(), *events]
        if events:
            self._partials = asyncio.ensure_future(self._write_after(self._partials, events))

    async def _write_after(self, previous: asyncio.Future[None] | None, events: list[Event]) -> None:
        if previous is not None:
            await previous
        for event in events:
            await self._write(event)

    async def _flush_partials(self) -> None:
        """Wait until every partial is written (a failed write raises here, as any write would)."""
        partials, self._partials = self._partials, None
        if partials is not None:
            await partials

    def _stop_drafts(self) -> None:
        """The utterance's audio has ended: a draft still running shows nothing more."""
        self._agreement = None
        if self._drafts is not None:
            self._drafts.cancel()

    def _abandon(self, *, cancelled: bool | None, status: int = 499) -> None:
        """Log an utterance that ends without a transcript: the client left (499) or the server stopped."""
        self._stop_drafts()
        record, self._record, self._utterance = self._record, None, None
        if record is not None:
            record.cancelled = cancelled
            observe(self._runtime, record, status, self._started)

    # --- events in and out ------------------------------------------------------------------------

    def _next_read(self) -> asyncio.Future[Event | None]:
        if self._reading is None:
            self._reading = asyncio.ensure_future(read_event(self._stream))
        return self._reading

    async def _next_event(self) -> Event | None:
        """The next event within the idle limit (counted from the previous one)."""
        reading = self._next_read()
        try:
            return await asyncio.wait_for(asyncio.shield(reading), self._limits.idle_seconds)
        except TimeoutError:
            idle = self._limits.idle_seconds
            raise UploadTimeout(f"No Wyoming event for {idle:g} seconds; closing the connection.") from None
        finally:
            if reading.done():
                self._reading = None

    async def _write(self, event: Event) -> None:
        """Send ``event``; a client that does not read within the idle limit is given up."""
        await asyncio.wait_for(write_event(event, self.writer), self._limits.idle_seconds)

    async def _info(self) -> Event:
        runtime = self._runtime
        models = await asyncio.to_thread(self._models_present)
        default = runtime.models.target(None)
        return build_info(
            models,
            runtime.models.aliases(),
            default,
            version=__version__,
            streaming=self._limits.partials,
        ).event()

    def _models_present(self) -> dict[str, bool | None]:
        """Every model present, loaded or not, with whether it is multilingual (file reads: a thread)."""
        models = self._runtime.models
        names = {entry.name for entry in self._runtime.catalog.entries()}
        names.update(state.name for state in models.states())
        return {name: models.multilingual(name) for name in sorted(names)}

    async def _fail(self, error: WhisperdError) -> None:
        """Answer ``error`` with an ``error`` event (the HTTP body's message and code), log it, close."""
        self._stop_drafts()
        record, self._record, self._utterance = self._record, None, None
        if record is None and not isinstance(error, UploadTimeout):  # an idle connection is no request
            path = "event" if isinstance(error, InvalidEvent) else "transcribe"
            record = RequestRecord(request_id=uuid.uuid4().hex, method="WYOMING", path=path, route=ROUTE)
            self._started = time.perf_counter()
        if record is not None:
            observe(self._runtime, record, error.status, self._started)
        else:
            logger.debug("wyoming: closing a connection: %s", error.message)
        with contextlib.suppress(ConnectionError, TimeoutError, RuntimeError):
            await self._write(Error(text=error.message, code=error.code).event())

    async def _close(self) -> None:
        if self._drafts is not None:
            await self._drafts.close()
        if self._partials is not None:
            self._partials.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._partials
        if self._reading is not None and not self._reading.done():
            self._reading.cancel()
            await asyncio.wait({self._reading})  # its end, without its CancelledError for ours
        await close(self.reader, self.writer)


def _request_of(event: Event) -> TranscriptionRequest:
    """``transcribe``'s fields as the service's request: ``name`` (the program's own name means the
    default model) and ``language`` (a code, an English name, or a locale such as ``en-US``)."""
    name = event.data.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidEvent("Malformed Wyoming event: transcribe's 'name' must be a string.")
    return TranscriptionRequest(
        model=None if name in (None, "", PROGRAM) else name, language=_language(event)
    )


def _language(event: Event) -> str | None:
    value = event.data.get("language")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 32:
        raise InvalidEvent("Malformed Wyoming event: transcribe's 'language' must be a short string.")
    code = language_code(value) or language_code(re.split(r"[-_]", value, maxsplit=1)[0])
    if code is None:
        raise InvalidParameter(
            f"'{value}' is not a language Whisper knows (use a code such as en).", param="language"
        )
    return code


def _format_of(event: Event) -> PcmFormat:
    """The PCM format an ``audio-start`` or ``audio-chunk`` announces."""
    try:
        fmt = PcmFormat(event.data["rate"], event.data["width"], event.data["channels"])
    except KeyError as exc:
        raise InvalidEvent(
            f"Malformed Wyoming event: {event.type} needs 'rate', 'width' and 'channels' ({exc} is missing)."
        ) from None
    fmt.check()
    return fmt
