"""Drafts of a growing utterance: text while a person is still speaking, on whatever time is spare.

Every live front end (the realtime socket's turns, a Wyoming utterance) decodes the audio received so
far again every so often and shows the words two drafts agree on. A draft is best effort: it never
queues for a job slot (a busy server simply shows fewer partials), a newer one is not started while one
runs, and the drafts of every live stream in the process share one budget, so that together they take
at most about half of the server's time and the utterances' final texts never wait behind them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from whisperd.engine.types import SAMPLE_RATE, Cancelled, CancelToken
from whisperd.errors import QueueFull, WhisperdError
from whisperd.observability.logs import LOGGER_NAME
from whisperd.service.transcription import Samples, Transcription, TranscriptionRequest

__all__ = ["DraftBudget", "Drafts", "draft_spacing"]

logger = logging.getLogger(LOGGER_NAME)

_LONGEST_DRAFT_SECONDS = 30.0
"""No drafts of an utterance longer than one Whisper window: each draft decodes the whole utterance so
far, so beyond it every draft would cost several windows; the final decode alone does the rest."""


def draft_spacing(partial_seconds: float, draft_cost: float, streams: int) -> float:
    """Seconds of audio between two drafts of one stream.

    Drafts are best effort; the final texts are not. Spaced by twice their own cost times the live
    streams open, the drafts of every stream together take at most half of the server's time, however
    many there are (one stream's own rule alone let four sessions' drafts take all of it, and their
    final texts waited behind them: bench/results/2026-12-01-vm-2cpu.md).
    """
    return max(partial_seconds, 2 * draft_cost * max(1, streams))


class DraftBudget:
    """The live streams of one process that draft: their count spaces every stream's drafts."""

    def __init__(self) -> None:
        self.streams = 0


class Drafts:
    """The drafts of one live stream; :meth:`close` ends them (and counts the stream out of the budget)."""

    def __init__(self, service: Transcription, budget: DraftBudget, *, partial_seconds: float) -> None:
        self._service = service
        self._budget = budget
        self._partial_seconds = partial_seconds
        self._cost = 0.0  # seconds the last draft took
        self._last_at = 0  # the stream's sample count when the last draft started
        self._task: asyncio.Task[None] | None = None
        self._token: CancelToken | None = None
        self._closed = False
        budget.streams += 1

    def restart(self, at: int) -> None:
        """A new utterance begins at sample ``at``: its first draft comes a spacing after it."""
        self._last_at = at

    def due(self, received: int, start: int) -> bool:
        """Whether a draft should start now that the stream has received ``received`` samples, for an
        utterance that began at sample ``start`` (none past one window: see _LONGEST_DRAFT_SECONDS)."""
        if self._closed or (self._task is not None and not self._task.done()):
            return False
        if received - start > _LONGEST_DRAFT_SECONDS * SAMPLE_RATE:
            return False
        spacing = draft_spacing(self._partial_seconds, self._cost, self._budget.streams)
        return received - self._last_at >= spacing * SAMPLE_RATE

    def start(
        self, audio: np.ndarray, request: TranscriptionRequest, at: int, on_text: Callable[[str], None]
    ) -> None:
        """Decode ``audio`` (the utterance so far, up to sample ``at``) as a draft; ``on_text`` gets its
        text unless the draft is cancelled first."""
        self._last_at = at
        token = CancelToken()
        self._token = token
        self._task = asyncio.create_task(self._run(audio, replace(request, draft=True), token, on_text))

    def cancel(self) -> None:
        """Drop the running draft (its slot ends when its thread next looks at the token)."""
        if self._token is not None:
            self._token.cancel()

    async def close(self) -> None:
        """Cancel the running draft, wait for its task, and leave the shared budget."""
        self.cancel()
        if not self._closed:
            self._closed = True
            self._budget.streams -= 1
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(
        self,
        audio: np.ndarray,
        request: TranscriptionRequest,
        token: CancelToken,
        on_text: Callable[[str], None],
    ) -> None:
        began = time.monotonic()
        try:
            transcript = await self._service.transcribe(Samples(audio), request, cancel=token, wait=False)
            self._cost = time.monotonic() - began
        except (QueueFull, Cancelled):
            return  # best effort: a busy server shows fewer partials
        except WhisperdError as error:
            logger.debug("draft failed: %s", error.message)
            return
        if not token.cancelled:
            on_text(transcript.text)
