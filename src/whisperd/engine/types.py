"""Engine-side results and options as plain dataclasses, independent of the wire format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Task = Literal["transcribe", "translate"]


@dataclass(frozen=True, slots=True)
class Word:
    """One word with its time span in seconds."""

    word: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True, slots=True)
class Segment:
    """One decoded window of speech, with the decoder's confidence figures."""

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
    words: list[Word] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Transcript:
    """A whole result: the segments, the language found and the length of the audio."""

    segments: list[Segment]
    language: str
    language_probability: float
    duration: float

    @property
    def text(self) -> str:
        """The transcript as OpenAI returns it: segment texts joined, outer spaces removed."""
        return "".join(segment.text for segment in self.segments).strip()

    @property
    def words(self) -> list[Word]:
        return [word for segment in self.segments for word in segment.words]


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """What a request asks of the decoder, already validated."""

    task: Task = "transcribe"
    language: str | None = None
    prompt: str | None = None
    temperature: float = 0.0
    word_timestamps: bool = False
    beam_size: int = 5
    vad_filter: bool = True
    temperature_fallback: bool = True
    hotwords: str | None = None
    early_text: bool = False
    """Decode the first part of a long file before the rest, so that streamed text starts early. Costs
    throughput (that part is decoded without the others' batch), so only streaming asks for it."""

    def temperatures(self) -> tuple[float, ...]:
        """The temperature schedule: 0 means OpenAI's fallback ladder, any other value is used alone."""
        if self.temperature > 0:
            return (self.temperature,)
        if not self.temperature_fallback:
            return (0.0,)
        return (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
