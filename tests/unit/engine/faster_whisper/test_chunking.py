"""Packing speech spans into chunks, and chunk times back to recording times (pure logic)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from whisperd.engine.faster_whisper.chunking import Chunk, Span, pack

RATE = 16_000


def spans_from(lengths_and_gaps: list[tuple[int, int]]) -> list[Span]:
    spans, position = [], 0
    for length, gap in lengths_and_gaps:
        position += gap
        spans.append(Span(position, position + length))
        position += length
    return spans


def test_pack_keeps_order_and_the_limit() -> None:
    spans = spans_from([(10 * RATE, RATE), (12 * RATE, RATE), (9 * RATE, RATE), (20 * RATE, RATE)])
    chunks = pack(spans, max_seconds=30)
    assert [len(c.spans) for c in chunks] == [2, 2]  # 10+12 fit, +9 would be 31 s; then 9+20
    assert [s for c in chunks for s in c.spans] == spans
    assert all(c.seconds <= 30 for c in chunks)


def test_a_span_over_the_limit_is_a_chunk_alone() -> None:
    spans = spans_from([(5 * RATE, 0), (31 * RATE, RATE), (5 * RATE, RATE)])
    assert [len(c.spans) for c in pack(spans, max_seconds=30)] == [1, 1, 1]


def test_nothing_to_pack() -> None:
    assert pack([], 30) == []
    assert pack([Span(5, 5)], 30) == []


@given(st.lists(st.tuples(st.integers(1, 40 * RATE), st.integers(0, 5 * RATE)), max_size=30))
def test_pack_loses_nothing_and_respects_the_limit(parts: list[tuple[int, int]]) -> None:
    spans = spans_from(parts)
    chunks = pack(spans, max_seconds=30)
    assert [s for c in chunks for s in c.spans] == spans
    for chunk in chunks:
        assert chunk.samples <= 30 * RATE or len(chunk.spans) == 1


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
