"""Who said each word: speaker labels of voice windows laid over the transcript's word timings.

Each word takes the label that covers most of its time among the labelled windows (the nearest window
when none overlaps it). A run of words shorter than ``min_turn`` seconds between two runs of one other
speaker is taken to be that speaker's (a window astride a change of voice, not a real turn). Segments
are then the transcript's own segments, cut wherever the speaker changes, so that a segment never mixes
two voices and the decoder's sentence boundaries are kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from whisperd.engine.types import Segment, Transcript, Word

__all__ = ["LabelledSpan", "attribute", "merge_channels", "speaker_letters", "split_at_pauses"]


@dataclass(frozen=True, slots=True)
class LabelledSpan:
    """A stretch of audio, in seconds, attributed to speaker ``label``."""

    start: float
    end: float
    label: int


def _label_of(word: Word, spans: Sequence[LabelledSpan]) -> int:
    weights: dict[int, float] = {}
    for span in spans:
        overlap = min(word.end, span.end) - max(word.start, span.start)
        if overlap > 0:
            weights[span.label] = weights.get(span.label, 0.0) + overlap
    if weights:
        return max(weights, key=lambda label: weights[label])
    middle = (word.start + word.end) / 2
    nearest = min(spans, key=lambda span: abs((span.start + span.end) / 2 - middle))
    return nearest.label


def _smooth(words: list[Word], labels: list[int], min_turn: float) -> list[int]:
    """Fold runs shorter than ``min_turn`` seconds into the speaker on both sides of them."""
    runs: list[list[int]] = []  # [label, first index, last index]
    for index, label in enumerate(labels):
        if runs and runs[-1][0] == label:
            runs[-1][2] = index
        else:
            runs.append([label, index, index])
    smoothed = list(labels)
    for before, run, after in zip(runs, runs[1:], runs[2:], strict=False):
        seconds = words[run[2]].end - words[run[1]].start
        if before[0] == after[0] and seconds < min_turn:
            for index in range(run[1], run[2] + 1):
                smoothed[index] = before[0]
    return smoothed


def _whole_segment_word(segment: Segment) -> Word:
    return Word(word=segment.text, start=segment.start, end=segment.end, probability=1.0)


def attribute(
    transcript: Transcript, spans: Sequence[LabelledSpan], *, min_turn: float = 0.8
) -> list[tuple[Segment, int]]:
    """The transcript's segments cut at each change of speaker, each with its speaker label."""
    pieces: list[tuple[Segment, list[Word]]] = [
        (segment, segment.words or [_whole_segment_word(segment)])
        for segment in transcript.segments
        if segment.text.strip()
    ]
    words = [word for _, segment_words in pieces for word in segment_words]
    if not words:
        return []
    labels = [_label_of(word, spans) for word in words] if spans else [0] * len(words)
    labels = _smooth(words, labels, min_turn)
    result: list[tuple[Segment, int]] = []
    position = 0
    for segment, segment_words in pieces:
        own = labels[position : position + len(segment_words)]
        position += len(segment_words)
        if not segment.words:
            result.append((segment, own[0]))
            continue
        start = 0
        for index in range(1, len(segment_words) + 1):
            if index == len(segment_words) or own[index] != own[start]:
                part = segment_words[start:index]
                result.append((_part_of(segment, part), own[start]))
                start = index
    return result


def speaker_letters(labels: Sequence[int], names: Mapping[int, str] | None = None) -> dict[int, str]:
    """Speaker names as OpenAI gives them: a known speaker's name, else ``A``, ``B``, ... by first appearance."""
    names = names or {}
    letters: dict[int, str] = {}
    for label in labels:
        if label in letters:
            continue
        if label in names:
            letters[label] = names[label]
        else:
            letters[label] = _letter(sum(1 for known in letters if known not in names))
    return letters


def _letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: spreadsheet column names, should a recording hold that many voices."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(ord("A") + rest) + name
    return name


def split_at_pauses(segments: Sequence[Segment], pause: float) -> list[Segment]:
    """Segments cut wherever ``pause`` seconds pass between two words.

    On one party's channel of a call, a pause is usually the other party's turn: cut there, the
    channels' segments interleave in the order the conversation had. (A segment without word timings
    stays whole.)
    """
    result: list[Segment] = []
    for segment in segments:
        words = segment.words
        cuts = [i for i in range(1, len(words)) if words[i].start - words[i - 1].end >= pause]
        if not cuts:
            result.append(segment)
            continue
        for first, last in zip([0, *cuts], [*cuts, len(words)], strict=True):
            part = words[first:last]
            result.append(_part_of(segment, part))
    return result


def merge_channels(transcripts: Sequence[Transcript], *, pause: float = 0.6) -> list[tuple[Segment, int]]:
    """One speaker per channel: every channel's segments, cut at pauses, by start time (overlaps kept)."""
    labelled = [
        (segment, channel)
        for channel, transcript in enumerate(transcripts)
        for segment in split_at_pauses(transcript.segments, pause)
        if segment.text.strip()
    ]
    return sorted(labelled, key=lambda item: (item[0].start, item[1]))


def _part_of(segment: Segment, part: list[Word]) -> Segment:
    """``segment`` cut down to the words ``part``; its tokens stay only when nothing was cut."""
    return replace(
        segment,
        start=part[0].start,
        end=part[-1].end,
        text="".join(word.word for word in part),
        words=part,
        tokens=segment.tokens if len(part) == len(segment.words) else [],
    )
