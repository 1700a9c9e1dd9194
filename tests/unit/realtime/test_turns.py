"""Server VAD turns from probabilities: start with padding, stop after the silence, cut overlong turns."""

from __future__ import annotations

from whisperd.realtime.turns import WINDOW, TurnDetector, TurnEvent, TurnSettings
from whisperd.service.drafts import draft_spacing

MS = 16  # samples per millisecond at 16 kHz


def windows(ms: int) -> int:
    return ms * MS // WINDOW


def test_a_turn_starts_with_its_padding_and_stops_after_the_silence() -> None:
    detector = TurnDetector(TurnSettings(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500))
    quiet, loud = [0.05] * 50, [0.9] * 40
    assert detector.feed(quiet) == []
    events = detector.feed(loud)
    assert events == [TurnEvent("started", 50 * WINDOW - 300 * MS)]
    assert detector.in_speech
    silence = [0.1] * (windows(500) + 2)
    changes = detector.feed(silence)
    assert [c.kind for c in changes] == ["paused", "stopped"]
    assert changes[0].sample == 90 * WINDOW  # the silence began with the first quiet window
    end = changes[1].sample
    assert 90 * WINDOW + 500 * MS <= end <= 90 * WINDOW + 500 * MS + WINDOW
    assert not detector.in_speech


def test_a_short_pause_does_not_end_the_turn() -> None:
    detector = TurnDetector(TurnSettings(silence_duration_ms=500))
    detector.feed([0.9] * 20)
    changes = detector.feed([0.1] * windows(300) + [0.9] * 10)
    assert [c.kind for c in changes] == ["paused", "resumed"]  # 300 ms: long enough to look, not to end
    assert detector.feed([0.1] * windows(100) + [0.9] * 10) == []  # a breath between words: nothing
    assert detector.in_speech


def test_an_overlong_turn_is_cut_and_goes_on() -> None:
    detector = TurnDetector(TurnSettings(max_turn_seconds=2.0, prefix_padding_ms=0))
    events = detector.feed([0.9] * windows(3000))
    assert [e.kind for e in events] == ["started", "stopped", "started"]
    assert events[1].sample - events[0].sample >= 2 * 16000
    assert events[2].sample == events[1].sample


def test_padding_never_reaches_before_the_last_turn() -> None:
    detector = TurnDetector(TurnSettings(prefix_padding_ms=1000, silence_duration_ms=100))
    detector.feed([0.9] * 10 + [0.1] * 10)
    detector.reset(20 * WINDOW)
    (started,) = detector.feed([0.9])
    assert started.sample == 20 * WINDOW


def test_drafts_of_every_session_share_half_the_time() -> None:
    assert draft_spacing(0.5, 0.1, 1) == 0.5, "a cheap draft: the partial-text period"
    assert draft_spacing(0.5, 0.4, 1) == 0.8, "one session: twice its cost"
    assert draft_spacing(0.5, 0.4, 4) == 3.2, "four sessions: each four times further apart"
    assert draft_spacing(0.5, 0.4, 0) == 0.8
