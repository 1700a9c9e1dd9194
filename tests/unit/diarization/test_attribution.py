"""Words to speakers, segments cut at changes of voice, letters and names, channels merged by time."""

from __future__ import annotations

from whisperd.diarization.attribution import LabelledSpan, attribute, merge_channels, speaker_letters
from whisperd.engine.types import Segment, Transcript, Word


def _segment(words: list[tuple[str, float, float]], index: int = 0) -> Segment:
    timed = [Word(word, start, end, 0.9) for word, start, end in words]
    return Segment(
        id=index,
        seek=0,
        start=timed[0].start,
        end=timed[-1].end,
        text="".join(w.word for w in timed),
        tokens=[1, 2, 3],
        temperature=0.0,
        avg_logprob=-0.1,
        compression_ratio=1.2,
        no_speech_prob=0.01,
        words=timed,
    )


def _transcript(*segments: Segment) -> Transcript:
    return Transcript(list(segments), "en", 1.0, 20.0)


def test_a_segment_spoken_by_two_voices_is_cut_where_the_voice_changes() -> None:
    segment = _segment(
        [
            (" Hello", 0.0, 0.5),
            (" there.", 0.5, 1.0),
            (" Hi,", 1.6, 2.0),
            (" how", 2.0, 2.3),
            (" are", 2.3, 2.6),
        ]
    )
    spans = [LabelledSpan(0.0, 1.3, 0), LabelledSpan(1.3, 3.0, 1)]
    (first, a), (second, b) = attribute(_transcript(segment), spans)
    assert (first.text, first.start, first.end, a) == (" Hello there.", 0.0, 1.0, 0)
    assert (second.text, second.start, second.end, b) == (" Hi, how are", 1.6, 2.6, 1)
    assert second.tokens == []  # the parts' tokens are not known; the whole segment's stay whole


def test_each_word_takes_the_label_covering_most_of_it() -> None:
    segment = _segment([(" one", 0.0, 1.0), (" two", 1.0, 2.0)])
    spans = [LabelledSpan(0.0, 1.2, 0), LabelledSpan(0.8, 2.0, 1)]
    labels = [label for _, label in attribute(_transcript(segment), spans, min_turn=0.0)]
    assert labels == [0, 1]


def test_a_blip_between_two_runs_of_one_voice_is_that_voice() -> None:
    segment = _segment([(" a", 0.0, 1.0), (" b", 1.0, 1.3), (" c", 1.3, 2.5)])
    spans = [LabelledSpan(0.0, 1.0, 0), LabelledSpan(1.0, 1.3, 1), LabelledSpan(1.3, 2.5, 0)]
    assert [label for _, label in attribute(_transcript(segment), spans)] == [0]


def test_a_word_with_no_window_takes_the_nearest() -> None:
    segment = _segment([(" far", 9.0, 9.5)])
    spans = [LabelledSpan(0.0, 1.5, 0), LabelledSpan(6.0, 7.5, 1)]
    assert [label for _, label in attribute(_transcript(segment), spans)] == [1]


def test_letters_by_first_appearance_and_names_for_known_voices() -> None:
    assert speaker_letters([3, 1, 3, 0]) == {3: "A", 1: "B", 0: "C"}
    assert speaker_letters([3, 1, 0], {1: "agent"}) == {3: "A", 1: "agent", 0: "B"}
    many = speaker_letters(list(range(28)))
    assert (many[25], many[26], many[27]) == ("Z", "AA", "AB")


def test_channels_merge_by_time_keeping_overlaps() -> None:
    left = _transcript(_segment([(" left one", 0.0, 2.0)]), _segment([(" left two", 3.0, 4.0)], 1))
    right = _transcript(_segment([(" right", 1.0, 3.5)]))
    merged = merge_channels([left, right])
    assert [(segment.text, channel) for segment, channel in merged] == [
        (" left one", 0),
        (" right", 1),
        (" left two", 0),
    ]
