"""Long audio cut at pauses into sections, and section times mapped back to the recording.

Whisper reads 30 s windows. Decoding a long file window after window is serial: each window starts
where the last one's text ended and waits for it. Cut into a few sections at pauses, the sections of one
file (and of every other request) are decoded side by side and batched
(:mod:`whisperd.engine.faster_whisper.longform`). This module holds the pure part of that: cutting the
speech spans at pauses into sections of about equal speech, the samples of a section, and the map from a
time inside it (where silences between its spans are removed) to a time in the original recording.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from whisperd.engine.types import SAMPLE_RATE

__all__ = ["Chunk", "Span", "split_at_pauses"]


@dataclass(frozen=True, slots=True)
class Span:
    """Speech from ``start`` to ``end`` (sample indexes, end excluded)."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Chunk:
    """Consecutive speech spans decoded as one piece of audio, silences between them removed."""

    spans: tuple[Span, ...]
    rate: int = SAMPLE_RATE

    @property
    def samples(self) -> int:
        return sum(span.length for span in self.spans)

    @property
    def seconds(self) -> float:
        return self.samples / self.rate

    @property
    def start(self) -> float:
        """Where the chunk begins in the recording, in seconds."""
        return self.spans[0].start / self.rate

    def audio(self, fetch: Callable[[int, int], np.ndarray]) -> np.ndarray:
        """The chunk's samples: its spans joined, each read with ``fetch(start, end)`` from the recording."""
        return np.concatenate([fetch(span.start, span.end) for span in self.spans])

    def original_time(self, seconds: float, *, span: int | None = None, is_end: bool = False) -> float:
        """A time inside the chunk as a time in the recording.

        A time that falls exactly where two spans meet belongs to the later span, unless it is the end
        of something (``is_end``), which belongs to the earlier one. ``span`` forces the span (words use
        the span of their middle, so that a word never straddles a removed silence).
        """
        index = self.span_at(seconds, is_end=is_end) if span is None else span
        before = sum(s.length for s in self.spans[:index])
        return round((self.spans[index].start + seconds * self.rate - before) / self.rate, 3)

    def after(self, seconds: float, *, margin: float = 0.3, least: float = 1.0) -> Chunk | None:
        """The spans that begin after ``seconds`` (a time inside the chunk), as a chunk of their own.

        When Whisper ends a window's text early and marks the rest as silent, the rest of the chunk is
        never read, although voice activity detection heard speech there. This is that rest: spans
        starting at least ``margin`` after the last text (timestamps can be a little early; a span also
        starts 0.4 s before its speech, the detector's padding), if they hold ``least`` seconds of
        speech; None otherwise.
        """
        position = 0
        for index, span in enumerate(self.spans):
            if index > 0 and position / self.rate >= seconds + margin:
                rest = Chunk(self.spans[index:], self.rate)
                return rest if rest.seconds >= least else None
            position += span.length
        return None

    def span_at(self, seconds: float, *, is_end: bool = False) -> int:
        """Index of the span that holds a time inside the chunk."""
        ends = np.cumsum([s.length for s in self.spans]).tolist()
        sample = seconds * self.rate
        index = bisect.bisect_left(ends, sample) if is_end else bisect.bisect_right(ends, sample)
        return min(index, len(self.spans) - 1)


def split_at_pauses(speech: Chunk, pauses: list[int], count: int) -> list[Chunk]:
    """``speech`` cut into at most ``count`` contiguous sections of about equal speech, at ``pauses``.

    ``pauses`` are sample positions inside silences (between two phrases); each cut is the pause nearest
    to where an equal share would end, so a section never starts or ends inside a word. The sections'
    audio, joined, is exactly ``speech``'s.
    """
    total = speech.samples
    if count <= 1 or total == 0 or not pauses:
        return [speech]
    # the speech done by each pause (samples of speech before it), to compare with equal shares
    done_at = [sum(max(0, min(span.end, p) - span.start) for span in speech.spans) for p in pauses]
    cuts: list[int] = []
    for share in range(1, count):
        target = total * share / count
        best = min(range(len(pauses)), key=lambda i: abs(done_at[i] - target))
        if 0 < done_at[best] < total and (not cuts or pauses[best] > cuts[-1]):
            cuts.append(pauses[best])
    result: list[Chunk] = []
    remaining = list(speech.spans)
    for cut in [*cuts, None]:
        before: list[Span] = []
        after: list[Span] = []
        for span in remaining:
            if cut is None or span.end <= cut:
                before.append(span)
            elif span.start >= cut:
                after.append(span)
            else:
                before.append(Span(span.start, cut))
                after.append(Span(cut, span.end))
        if before:
            result.append(Chunk(tuple(before), speech.rate))
        remaining = after
    return result
