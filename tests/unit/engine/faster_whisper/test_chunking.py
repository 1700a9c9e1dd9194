"""Cutting speech into sections at pauses, and chunk times back to recording times (pure logic)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from whisperd.engine.faster_whisper.chunking import Chunk, Span, split_at_pauses

RATE = 16_000


def spans_from(lengths_and_gaps: list[tuple[int, int]]) -> list[Span]:
    spans, position = [], 0
    for length, gap in lengths_and_gaps:
        position += gap
        spans.append(Span(position, position + length))
        position += length
    return spans


def test_chunk_audio_joins_its_spans() -> None:
    recording = np.arange(100, dtype=np.float32)
    chunk = Chunk((Span(10, 20), Span(50, 55)), rate=10)
    assert chunk.audio(lambda start, end: recording[start:end]).tolist() == list(range(10, 20)) + list(
        range(50, 55)
    )
    assert chunk.seconds == 1.5
    assert chunk.start == 1.0


def test_times_map_back_across_removed_silences() -> None:
    # spans at 2-5 s and 10-12 s of the recording: inside the chunk, 0-3 s then 3-5 s
    chunk = Chunk((Span(2 * RATE, 5 * RATE), Span(10 * RATE, 12 * RATE)))
    assert chunk.original_time(0.0) == 2.0
    assert chunk.original_time(1.5) == 3.5
    assert chunk.original_time(3.5) == 10.5
    assert chunk.original_time(5.0, is_end=True) == 12.0
    # exactly at the join: a start belongs to the later span, an end to the earlier one
    assert chunk.original_time(3.0) == 10.0
    assert chunk.original_time(3.0, is_end=True) == 5.0
    # a word is kept in one span: the span of its middle decides
    span = chunk.span_at((2.9 + 3.4) / 2)
    assert span == 1
    assert chunk.original_time(2.9, span=span) == pytest.approx(9.9)


@given(st.lists(st.tuples(st.integers(1, 10 * RATE), st.integers(0, 3 * RATE)), min_size=1, max_size=8))
def test_mapped_times_never_go_backwards(parts: list[tuple[int, int]]) -> None:
    chunk = Chunk(tuple(spans_from(parts)))
    times = np.linspace(0, chunk.seconds, 50).tolist()
    mapped = [chunk.original_time(t) for t in times]
    assert mapped == sorted(mapped)
    # times are rounded to the millisecond
    assert chunk.spans[0].start / RATE - 0.0005 <= mapped[0]
    assert mapped[-1] <= chunk.spans[-1].end / RATE + 0.0005


def test_the_rest_after_the_last_text_starts_at_a_span() -> None:
    # spans of 10 s, 8 s and 6 s: inside the chunk they start at 0, 10 and 18 s
    chunk = Chunk((Span(0, 10 * RATE), Span(12 * RATE, 20 * RATE), Span(25 * RATE, 31 * RATE)))
    rest = chunk.after(9.2)  # the text stopped in the first span: the next two were never read
    assert rest is not None
    assert rest.spans == chunk.spans[1:]
    assert rest.start == 12.0
    later = chunk.after(12.0)  # the text went into the second span: only the third is left
    assert later is not None
    assert later.spans == chunk.spans[2:]
    assert chunk.after(17.8) is None  # timestamps a little early: the last span was read
    assert chunk.after(0.0, least=30) is None  # too little speech left to be worth a window
    assert Chunk((Span(0, RATE),)).after(0.0) is None  # a single span: nothing after it


def test_sections_are_cut_at_the_pause_nearest_each_equal_share() -> None:
    # speech at 1-11 s, 12-24 s, 25-34 s and 35-55 s: 51 s in all
    speech = Chunk(
        tuple(spans_from([(10 * RATE, RATE), (12 * RATE, RATE), (9 * RATE, RATE), (20 * RATE, RATE)]))
    )
    # pauses between the phrases: in the three silences, and one inside the long last span
    pauses = [int(11.5 * RATE), int(24.5 * RATE), int(34.5 * RATE), 45 * RATE]
    first, second = split_at_pauses(speech, pauses, 2)
    assert first.spans == speech.spans[:2]  # 22 s of speech before 24.5 s: the nearest to half of 51
    assert second.spans == speech.spans[2:]
    four = split_at_pauses(speech, pauses, 4)
    assert [c.samples // RATE for c in four] == [10, 12, 19, 10]
    assert four[-1].spans == (Span(45 * RATE, 55 * RATE),)  # a pause inside a span splits that span
    assert sum(c.samples for c in four) == speech.samples


@given(
    st.lists(st.tuples(st.integers(RATE, 20 * RATE), st.integers(0, 2 * RATE)), min_size=1, max_size=20),
    st.integers(1, 10),
)
def test_sections_lose_nothing_and_keep_order(parts: list[tuple[int, int]], count: int) -> None:
    speech = Chunk(tuple(spans_from(parts)))
    pauses = [(a.end + b.start) // 2 for a, b in zip(speech.spans, speech.spans[1:], strict=False)]
    cut = split_at_pauses(speech, pauses, count)
    assert 1 <= len(cut) <= count
    assert [s for c in cut for s in c.spans] == list(speech.spans)  # cut only between spans here
    assert split_at_pauses(speech, [], count) == [speech]
