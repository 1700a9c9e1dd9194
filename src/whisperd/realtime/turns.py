"""Server VAD for live audio: when a turn starts and when it ends, from Silero's speech probabilities.

OpenAI's ``server_vad`` turn detection, on the same Silero model the server uses for files: speech starts
at the first 32 ms window at or above ``threshold`` (the turn's audio begins ``prefix_padding_ms``
earlier), and stops once the probability has stayed under it for ``silence_duration_ms`` (the turn's
audio ends there, trailing silence included, as OpenAI's ``audio_end_ms`` does). A turn that goes on
longer than ``max_turn_seconds`` is cut there, so that no utterance outgrows a Whisper window.

Between the two, ``paused`` says that a silence has lasted ``pause_ms`` (the turn may be ending: a
caller can start transcribing it early) and ``resumed`` that the speaker went on after such a pause.
The detector is pure bookkeeping over probabilities; scoring the audio is the caller's (it is CPU work).
"""

from __future__ import annotations

from dataclasses import dataclass

from whisperd.engine.types import SAMPLE_RATE

__all__ = ["TurnDetector", "TurnEvent", "TurnSettings"]

WINDOW = 512
"""Samples per Silero probability at 16 kHz (32 ms)."""


@dataclass(frozen=True, slots=True)
class TurnSettings:
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    max_turn_seconds: float = 30.0
    pause_ms: int = 200
    """Silence after which the turn may be ending (a ``paused`` event), at most the silence duration."""


@dataclass(frozen=True, slots=True)
class TurnEvent:
    """``started`` (at ``sample``, padding included), ``stopped`` (the turn's audio ends at ``sample``),
    ``paused`` (silence since ``sample``) or ``resumed`` (speech again at ``sample`` after a pause)."""

    kind: str
    sample: int


class TurnDetector:
    """Feed probabilities in order (one per 512-sample window since the stream began); get turn events."""

    def __init__(self, settings: TurnSettings) -> None:
        self.settings = settings
        self._window = 0
        self._start: int | None = None
        self._silent_since: int | None = None
        self._paused = False
        self._floor = 0  # a new turn never starts before the end of the previous one

    @property
    def in_speech(self) -> bool:
        return self._start is not None

    def reset(self, sample: int) -> None:
        """Forget any turn in progress (the client cleared or committed the buffer at ``sample``)."""
        self._start = None
        self._silent_since = None
        self._paused = False
        self._floor = sample

    def feed(self, probabilities: list[float]) -> list[TurnEvent]:
        events: list[TurnEvent] = []
        silence = self.settings.silence_duration_ms * SAMPLE_RATE // 1000
        pause = min(self.settings.pause_ms, self.settings.silence_duration_ms) * SAMPLE_RATE // 1000
        padding = self.settings.prefix_padding_ms * SAMPLE_RATE // 1000
        longest = int(self.settings.max_turn_seconds * SAMPLE_RATE)
        for probability in probabilities:
            position = self._window * WINDOW
            self._window += 1
            speech = probability >= self.settings.threshold
            if self._start is None:
                if speech:
                    self._start = max(self._floor, position - padding)
                    self._silent_since = None
                    events.append(TurnEvent("started", self._start))
                continue
            if speech:
                if self._paused:
                    events.append(TurnEvent("resumed", position))
                self._silent_since = None
                self._paused = False
            elif self._silent_since is None:
                self._silent_since = position
            end = position + WINDOW
            if self._silent_since is not None and not self._paused and end - self._silent_since >= pause:
                events.append(TurnEvent("paused", self._silent_since))
                self._paused = True
            if self._silent_since is not None and end - self._silent_since >= silence:
                events.append(TurnEvent("stopped", end))
                self.reset(end)
            elif end - self._start >= longest:
                events.append(TurnEvent("stopped", end))
                self.reset(end)
                if speech:  # still speaking: the next turn goes on at once
                    self._start = end
                    events.append(TurnEvent("started", end))
        return events
