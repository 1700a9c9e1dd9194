"""Pure writers: every format from one transcript, checked by independent parsers where they exist."""

from __future__ import annotations

import srt
import webvtt

from whisperd.engine.types import Segment, Transcript, Word
from whisperd.media.formats import render, text, usage, verbose_json
from whisperd.media.formats import srt as to_srt
from whisperd.media.formats import vtt as to_vtt


def _segment(i: int, start: float, end: float, words: str) -> Segment:
    return Segment(
        id=i, seek=0, start=start, end=end, text=words, tokens=[1, 2], temperature=0.0, avg_logprob=-0.2,
        compression_ratio=1.1, no_speech_prob=0.01,
        words=[Word(w, start, end, 0.9) for w in words.split()],
    )  # fmt: skip


TRANSCRIPT = Transcript(
    segments=[
        _segment(0, 0.0, 2.5, " Hello there,"),
        _segment(1, 2.5, 3661.25, ' she said "--> not a cue"\n\nand left.'),
    ],
    language="en",
    language_probability=0.99,
    duration=3662.2,
)


def test_text_joins_segments_and_ends_with_a_newline() -> None:
    assert text(TRANSCRIPT).startswith("Hello there, she said")
    assert text(TRANSCRIPT).endswith("left.\n")
    assert text(Transcript([], "en", 1.0, 1.0)) == ""


def test_srt_survives_a_strict_parser_and_hour_timestamps() -> None:
    body = to_srt(TRANSCRIPT)
    cues = list(srt.parse(body, ignore_errors=False))
    assert [c.index for c in cues] == [1, 2]
    assert cues[1].end.total_seconds() == 3661.25
    assert "01:01:01,250" in body
    assert "\n\n\n" not in body  # a blank line inside a cue would split it
    assert "-->" not in cues[1].content


def test_vtt_survives_an_independent_parser() -> None:
    captions = webvtt.from_string(to_vtt(TRANSCRIPT)).captions
    assert len(captions) == 2
    assert captions[1].end == "01:01:01.250"


def test_usage_rounds_up_whole_seconds() -> None:
    assert usage(TRANSCRIPT) == {"type": "duration", "seconds": 3663}
    assert usage(Transcript([], "en", 1.0, 11.0)) == {"type": "duration", "seconds": 11}


def test_verbose_json_fields_words_and_language_name() -> None:
    body = verbose_json(TRANSCRIPT, "transcribe", with_words=True)
    assert body["language"] == "english"
    assert [w["word"] for w in body["words"]][:2] == ["Hello", "there,"]
    assert body["segments"][1]["end"] == 3661.25
    assert verbose_json(TRANSCRIPT, "translate", with_words=False)["language"] == "english"
    assert "words" not in verbose_json(TRANSCRIPT, "transcribe", with_words=False)


def test_render_dispatch() -> None:
    assert render(TRANSCRIPT, "json", "transcribe", False) == {
        "text": TRANSCRIPT.text,
        "usage": usage(TRANSCRIPT),
    }
    assert isinstance(render(TRANSCRIPT, "vtt", "transcribe", False), str)
