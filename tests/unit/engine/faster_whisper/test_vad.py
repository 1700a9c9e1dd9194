"""Tests of streaming_vad against faster-whisper 1.2.1's own VAD, on real speech and random sequences.

Equality, not closeness, is asserted throughout: the streaming probabilities must be the very floats
faster-whisper computes, so that the spans (integers) cannot differ either.
"""

from __future__ import annotations

import functools
import math
import tracemalloc
from collections.abc import Iterator
from unittest import mock

import faster_whisper.vad as fw_vad
import numpy as np
import numpy.typing as npt
import pytest
from faster_whisper.audio import decode_audio
from faster_whisper.vad import VadOptions, get_speech_timestamps, get_vad_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import whisperd.engine.faster_whisper.vad as streaming_vad
from tests.support.media import AUDIO_DIR
from whisperd.engine.faster_whisper.vad import (
    DEFAULT_MARGINS,
    WINDOW,
    FloatArray,
    KeptAudio,
    SpeechKeeper,
    SpeechProbabilities,
    covers,
    kept_ranges,
    kept_windows,
    margins,
    probabilities_of,
    speech_timestamps,
    to_int16,
)

FILES = sorted(p.name for p in AUDIO_DIR.iterdir() if p.suffix in {".flac", ".mp3", ".wav"})
SR = 16000

DEFAULT = VadOptions()
CHUNKING = VadOptions(max_speech_duration_s=30, min_silence_duration_ms=160)
OPTION_SETS = [
    DEFAULT,
    CHUNKING,
    VadOptions(threshold=0.35),
    VadOptions(threshold=0.6, min_speech_duration_ms=250, speech_pad_ms=100),
    VadOptions(min_silence_duration_ms=500, speech_pad_ms=0, max_speech_duration_s=5),
    VadOptions(threshold=0.4, neg_threshold=0.2, min_silence_duration_ms=100, max_speech_duration_s=2),
]


@functools.cache
def decoded(name: str) -> FloatArray:
    audio: FloatArray = decode_audio(str(AUDIO_DIR / name), sampling_rate=SR)
    return audio


def reference_probabilities(audio: FloatArray) -> FloatArray:
    """faster-whisper's own call, as get_speech_timestamps makes it."""
    probs: FloatArray = get_vad_model()(np.pad(audio, (0, WINDOW - len(audio) % WINDOW)))
    return probs


def noise(n: int, level: float, seed: int) -> FloatArray:
    """Quiet hiss quantised like decoded audio (int16 / 32768), as a silent recording really is."""
    rng = np.random.default_rng(seed)
    hiss = np.rint(rng.standard_normal(n) * level * 32768).astype(np.int16)
    out: FloatArray = hiss.astype(np.float32) / np.float32(32768.0)
    return out


@functools.cache
def long_recording() -> FloatArray:
    """~6 minutes: every real file, separated by digital silence and by hiss; > 10000 windows, so
    faster-whisper's own call crosses its 10000-window batch boundary."""
    parts: list[FloatArray] = []
    for k, name in enumerate(FILES * 2):
        parts.append(decoded(name))
        gap = (7 + 5 * k) * SR
        parts.append(np.zeros(gap, dtype=np.float32) if k % 2 else noise(gap, 0.002, k))
    audio = np.concatenate(parts)
    assert len(audio) // WINDOW > 10000
    return audio


@functools.cache
def sparse_recording() -> tuple[FloatArray, int]:
    """10 minutes, about 8 of them silence: the real files with long quiet gaps. Returns the audio
    and the number of speech samples in it."""
    speech = [decoded(name) for name in FILES]
    n_speech = sum(len(s) for s in speech)
    total = 10 * 60 * SR
    gap = (total - n_speech) // (len(speech) + 1)
    parts: list[FloatArray] = []
    for k, piece in enumerate(speech):
        parts += [noise(gap, 0.001, 100 + k), piece]
    parts.append(np.zeros(total - n_speech - len(speech) * gap, dtype=np.float32))
    audio = np.concatenate(parts)
    assert len(audio) == total
    return audio, n_speech


def blocks(audio: FloatArray, pattern: str) -> Iterator[FloatArray]:
    """The audio cut the way a decoder might hand it over."""
    if pattern == "whole":
        yield audio
        return
    if pattern == "random":
        rng = np.random.default_rng(len(audio))
        pos = 0
        while pos < len(audio):
            size = int(rng.choice([1, 7, 511, 512, 513, 4096, 12345, 16000, 100003]))
            yield audio[pos : pos + size]
            pos += size
        return
    size = {"1s": SR, "30s": 30 * SR, "12345": 12345, "513": 513}[pattern]
    for lo in range(0, len(audio), size):
        yield audio[lo : lo + size]


def streamed(audio: FloatArray, pattern: str) -> FloatArray:
    vad = SpeechProbabilities()
    for block in blocks(audio, pattern):
        vad.feed(block)
    return vad.finish()


# --- 1. probabilities ---------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["whole", "1s", "30s", "12345", "513", "random"])
@pytest.mark.parametrize("name", FILES)
def test_probabilities_equal_faster_whisper_on_real_files(name: str, pattern: str) -> None:
    audio = decoded(name)
    assert np.array_equal(streamed(audio, pattern), reference_probabilities(audio))


@pytest.mark.parametrize("pattern", ["1s", "30s", "12345", "random"])
def test_probabilities_equal_faster_whisper_on_long_recording(pattern: str) -> None:
    audio = long_recording()
    expected = reference_probabilities(audio)
    got = streamed(audio, pattern)
    assert len(got) == len(audio) // WINDOW + 1
    assert float(np.max(np.abs(got - expected))) == 0.0


def test_one_window_per_session_run_changes_nothing() -> None:
    """Blocks smaller than a window (1..65 samples): every run scores one window, h/c/context go
    through Python between all of them, and the floats still match bit for bit."""
    audio = decoded("jfk.flac")[: 3 * SR]
    vad = SpeechProbabilities()
    sizes = [1, 63, 64, 65, 7, 2]
    pos = k = 0
    while pos < len(audio):
        vad.feed(audio[pos : pos + sizes[k % len(sizes)]])
        pos += sizes[k % len(sizes)]
        k += 1
    assert np.array_equal(vad.finish(), reference_probabilities(audio))


@pytest.mark.parametrize("runs", [1, 7, 256, 10000])
def test_partition_into_session_runs_does_not_matter(runs: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """faster-whisper scores 10000 windows per run; any other split gives the very same floats,
    because the model carries h and c from row to row inside a run just as between runs."""
    monkeypatch.setattr(streaming_vad, "BATCH_WINDOWS", runs)
    audio = decoded("multilingual.mp3")[: 40 * SR]
    assert np.array_equal(streamed(audio, "whole"), reference_probabilities(audio))


@pytest.mark.parametrize("n", [0, 1, 447, 448, 449, 500, 511, 512, 513, 1024, 1023, 5000, 5100])
def test_lengths_at_window_edges(n: int) -> None:
    """A length that is a multiple of 512 still gets a trailing all-zero window, and a final window of
    more than 448 samples has its last 64 zeroed, as in faster-whisper (see SpeechProbabilities.finish)."""
    audio = decoded("jfk.flac")[8 * SR : 8 * SR + n]
    probs = streamed(audio, "513")
    assert np.array_equal(probs, reference_probabilities(audio))
    assert len(probs) == n // WINDOW + 1
    for options in OPTION_SETS:
        assert speech_timestamps(probs, n, options) == get_speech_timestamps(audio, options)


def test_feed_rejects_what_faster_whisper_would_score_differently() -> None:
    vad = SpeechProbabilities()
    with pytest.raises(TypeError):
        vad.feed(np.zeros(10, dtype=np.int16))
    with pytest.raises(TypeError):
        vad.feed(np.zeros(10, dtype=np.float64))
    vad.finish()
    with pytest.raises(RuntimeError):
        vad.feed(np.zeros(10, dtype=np.float32))


def test_working_memory_does_not_grow_with_length() -> None:
    """Python-side peak (tracemalloc sees NumPy buffers) for 5 and for 30 minutes of silence in 30 s
    blocks: the same, about one block's worth, and not the 115 MB that 30 minutes of float32 take."""

    def peak(minutes: int) -> int:
        block = np.zeros(30 * SR, dtype=np.float32)
        tracemalloc.start()
        vad = SpeechProbabilities()
        for _ in range(minutes * 2):
            vad.feed(block)
        vad.finish()
        result = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return result

    short, long = peak(5), peak(30)
    assert long < 4 * 2**20  # the 30 s batch with context (2.2 MB) and the probabilities
    # only the probabilities grow: 4 bytes per window, twice at most in the growing buffer, once more
    # for the copy finish() returns
    assert long - short < 16 * (25 * 60 * SR // WINDOW)


# --- 2. speech_timestamps ---------------------------------------------------------------------------


@pytest.mark.parametrize("options", OPTION_SETS, ids=range(len(OPTION_SETS)))
@pytest.mark.parametrize("name", FILES)
def test_timestamps_equal_faster_whisper_on_real_files(name: str, options: VadOptions) -> None:
    audio = decoded(name)
    expected = get_speech_timestamps(audio, options)
    assert speech_timestamps(streamed(audio, "12345"), len(audio), options) == expected


@pytest.mark.parametrize("options", [DEFAULT, CHUNKING], ids=["default", "chunking"])
def test_timestamps_equal_faster_whisper_on_long_recording(options: VadOptions) -> None:
    audio = long_recording()
    expected = get_speech_timestamps(audio, options)
    assert expected  # real speech was found
    assert speech_timestamps(streamed(audio, "30s"), len(audio), options) == expected


class _FakeModel:
    """Stands in for faster-whisper's SileroVADModel: returns given probabilities for the padded audio."""

    def __init__(self, probs: FloatArray) -> None:
        self.probs = probs

    def __call__(self, audio: FloatArray) -> FloatArray:
        assert len(audio) == WINDOW * len(self.probs)
        return self.probs


def faster_whisper_timestamps(probs: FloatArray, n_samples: int, options: VadOptions) -> list[dict[str, int]]:
    """The real get_speech_timestamps, fed ``probs`` instead of the model's output."""
    with mock.patch.object(fw_vad, "get_vad_model", return_value=_FakeModel(probs)):
        result: list[dict[str, int]] = get_speech_timestamps(np.zeros(n_samples, dtype=np.float32), options)
    return result


# values at and beside the thresholds in float32, where float32 versus float64 comparison matters
EDGES = [0.0, 0.01, 0.1, 0.2, 0.35, 0.5, 0.65, 1.0, 0.19999999999999998, 0.34999999999999998]
EDGE_VALUES = sorted(
    v
    for v in {float(np.nextafter(np.float32(e), np.float32(d))) for e in EDGES for d in (-1.0, 2.0)}
    | {float(np.float32(e)) for e in EDGES}
    if 0.0 <= v <= 1.0
)
# run lengths at the state machine's own boundaries: the 98 ms split silence (3-4 windows), the pad
# (13), the 160 ms and 2 s minimum silences (5, 62-63 windows), and anything else
RUN_LENGTHS = st.one_of(
    st.sampled_from([1, 2, 3, 4, 5, 6, 12, 13, 14, 61, 62, 63, 64]),
    st.integers(1, 80),
    st.integers(1, 400),
)
PROBABILITY = st.one_of(
    st.sampled_from([0.0, 0.05, 0.3, 0.45, 0.9, 1.0]),  # silence, hesitation, speech
    st.sampled_from(EDGE_VALUES),
    st.floats(0.0, 1.0, width=32),
)
RUNS = st.lists(st.tuples(PROBABILITY, RUN_LENGTHS), max_size=30)


@st.composite
def probability_sequences(draw: st.DrawFn) -> tuple[FloatArray, int]:
    """Probabilities as runs (speech, hesitation, silence of every length near the thresholds of
    faster-whisper's state machine), and an audio length with the matching window count."""
    runs = draw(RUNS)
    values = [value for value, length in runs for _ in range(length)]
    truncate: bool = draw(st.booleans())
    if values and truncate:
        # end the audio anywhere, mid-run too: spans still open at the end are the longest ones
        values = values[: draw(st.integers(1, len(values)))]
    probs = np.array(values or [draw(st.floats(0.0, 1.0, width=32))], dtype=np.float32)
    n_samples = WINDOW * (len(probs) - 1) + draw(st.integers(0, WINDOW - 1))
    return probs, n_samples


MAX_SPEECH = st.one_of(st.just(math.inf), st.floats(0.0, 20.0), st.sampled_from([0.5, 1.2, 3.02, 30.0]))


def max_speech_in_windows(pad_ms: int) -> st.SearchStrategy[float]:
    """A maximum speech duration that cuts a span after a whole number of windows (faster-whisper
    takes off one window and both pads), so that cuts land on every window of a pattern."""
    return st.integers(0, 150).map(lambda m: (WINDOW * m + WINDOW + 2 * 16 * pad_ms + 100) / SR)


@st.composite
def any_options(draw: st.DrawFn) -> VadOptions:
    pad_ms = draw(st.integers(0, 1000))
    return VadOptions(
        threshold=draw(st.one_of(st.sampled_from([0.35, 0.5, 0.2, 0.01]), st.floats(0.0, 1.0))),
        neg_threshold=draw(st.one_of(st.none(), st.floats(0.0, 1.0), st.just(np.float64(0.35)))),
        min_speech_duration_ms=draw(st.integers(0, 3000)),
        max_speech_duration_s=draw(st.one_of(MAX_SPEECH, max_speech_in_windows(pad_ms))),
        min_silence_duration_ms=draw(st.integers(0, 4000)),
        speech_pad_ms=pad_ms,
    )


@settings(max_examples=1500, deadline=None)
@given(sequence=probability_sequences(), options=any_options())
def test_timestamps_equal_faster_whisper_on_random_sequences(
    sequence: tuple[FloatArray, int], options: VadOptions
) -> None:
    probs, n_samples = sequence
    expected = faster_whisper_timestamps(probs, n_samples, options)
    assert speech_timestamps(probs, n_samples, options) == expected


def test_timestamps_reject_a_wrong_window_count() -> None:
    with pytest.raises(ValueError, match="windows"):
        speech_timestamps(np.zeros(4, dtype=np.float32), 1024, DEFAULT)  # 1024 samples: 3 windows


# --- 3. kept windows ----------------------------------------------------------------------------


def assert_spans_kept(spans: list[dict[str, int]], ranges: list[tuple[int, int]]) -> None:
    starts = [start for start, _ in ranges]
    for span in spans:
        at = int(np.searchsorted(starts, span["start"], side="right")) - 1
        assert at >= 0, span
        assert span["end"] <= ranges[at][1], (span, ranges[at])


@st.composite
def covered_options(draw: st.DrawFn) -> VadOptions:
    """The option sets the keeper promises to serve: threshold >= 0.35 with faster-whisper's default
    silence threshold (>= 0.2), or explicit thresholds >= 0.2; min silence <= 2 s; pad <= 400 ms."""
    if draw(st.booleans()):
        threshold = draw(st.one_of(st.sampled_from([0.35, 0.5]), st.floats(0.35, 1.0)))
        neg = None
    else:
        threshold = draw(st.floats(0.2, 1.0))
        neg = draw(st.one_of(st.sampled_from([0.2]), st.floats(0.2, 1.0)))
    pad_ms = draw(st.one_of(st.integers(0, 400), st.sampled_from([0, 400])))
    options = VadOptions(
        threshold=threshold,
        neg_threshold=neg,
        min_speech_duration_ms=draw(st.integers(0, 2000)),
        max_speech_duration_s=draw(st.one_of(MAX_SPEECH, max_speech_in_windows(pad_ms))),
        min_silence_duration_ms=draw(st.one_of(st.integers(0, 2000), st.sampled_from([160, 2000]))),
        speech_pad_ms=pad_ms,
    )
    assert covers(options)
    return options


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=probability_sequences(), options=covered_options())
def test_kept_windows_hold_every_span(sequence: tuple[FloatArray, int], options: VadOptions) -> None:
    probs, n_samples = sequence
    ranges = kept_ranges(kept_windows(probs), n_samples)
    assert_spans_kept(faster_whisper_timestamps(probs, n_samples, options), ranges)


@settings(max_examples=1500, deadline=None)
@given(sequence=probability_sequences(), options=covered_options())
def test_margins_of_the_options_themselves_suffice(
    sequence: tuple[FloatArray, int], options: VadOptions
) -> None:
    """The bound formula, not just its value at the maximum options: margins(options) are enough."""
    probs, n_samples = sequence
    before, after = margins(options.min_silence_duration_ms, options.speech_pad_ms)
    ranges = kept_ranges(kept_windows(probs, margin_before=before, margin_after=after), n_samples)
    assert_spans_kept(speech_timestamps(probs, n_samples, options), ranges)


@st.composite
def cut_chains(draw: st.DrawFn) -> tuple[FloatArray, int, VadOptions]:
    """The pattern behind the after margin's worst case, with random lengths and values: speech, a
    silence long enough to set prev_end, a little speech (next_start), up to 4 silent windows, a cut
    at max_speech_duration_s right there (the span carries on from next_start with temp_end reset),
    then silence to the end of the audio or beyond the minimum silence. Random runs rarely line a cut
    up with such a pattern, so this builds it on purpose."""
    loud = st.floats(0.5, 1.0, width=32)
    quiet = st.floats(0.0, 0.1875, width=32)
    lead, speech = draw(st.integers(0, 30)), draw(st.integers(1, 120))
    gap, burst = draw(st.integers(5, 20)), draw(st.integers(1, 3))
    hold = draw(st.one_of(st.integers(0, 5), st.just(4)))
    tail = draw(st.one_of(st.integers(0, 75), st.sampled_from([62, 63, 64])))
    values = [draw(quiet) for _ in range(lead)] + [draw(loud) for _ in range(speech)]
    values += [draw(quiet) for _ in range(gap)] + [draw(loud) for _ in range(burst)]
    values += [draw(quiet) for _ in range(hold + tail)]
    cut_after = speech + gap + burst + hold  # windows from the span's start to the cut
    pad_ms = draw(st.integers(0, 400))
    options = VadOptions(
        max_speech_duration_s=(WINDOW * cut_after + 2 * 16 * pad_ms + 100) / SR,
        min_silence_duration_ms=draw(st.one_of(st.just(2000), st.integers(400, 2000))),
        speech_pad_ms=pad_ms,
    )
    n_samples = WINDOW * (len(values) - 1) + draw(st.integers(0, WINDOW - 1))
    return np.array(values, dtype=np.float32), n_samples, options


@settings(max_examples=1500, deadline=None)
@given(chain=cut_chains())
def test_kept_windows_hold_spans_cut_at_max_speech(chain: tuple[FloatArray, int, VadOptions]) -> None:
    probs, n_samples, options = chain
    ranges = kept_ranges(kept_windows(probs), n_samples)
    assert_spans_kept(faster_whisper_timestamps(probs, n_samples, options), ranges)


def _spans_lost(probs: FloatArray, n_samples: int, options: VadOptions, before: int, after: int) -> bool:
    ranges = kept_ranges(kept_windows(probs, margin_before=before, margin_after=after), n_samples)
    try:
        assert_spans_kept(faster_whisper_timestamps(probs, n_samples, options), ranges)
    except AssertionError:
        return True
    return False


def test_after_margin_is_reached() -> None:
    """The worst case of margins(): a span cut at max_speech_duration_s that carries on from its
    next_start, right after 4 silent windows, then stays open in silence to the end of the audio.
    Its last window is 67 windows after the last window at or above the floor."""
    probs = np.zeros(132, dtype=np.float32)
    probs[:50] = 1.0  # speech from window 0
    probs[63:65] = 1.0  # after 13 silent windows (prev_end set): next_start = 63
    options = VadOptions(max_speech_duration_s=3.02)  # cut at window 69, silent since 65
    n_samples = WINDOW * 131 + 1
    spans = faster_whisper_timestamps(probs, n_samples, options)
    # the last span starts at next_start (63), less half the 13-window gap to the one before
    assert spans[-2:] == [
        {"start": 0, "end": 50 * WINDOW + 3328},
        {"start": 63 * WINDOW - 3328, "end": n_samples},
    ]
    before, after = DEFAULT_MARGINS
    assert (before, after) == (13, 67)
    assert not _spans_lost(probs, n_samples, options, before, after)
    assert _spans_lost(probs, n_samples, options, before, after - 1)


def test_before_margin_is_reached() -> None:
    probs = np.zeros(100, dtype=np.float32)
    probs[40] = 0.9
    n_samples = WINDOW * 99 + 100
    before, after = DEFAULT_MARGINS
    assert faster_whisper_timestamps(probs, n_samples, DEFAULT)[0]["start"] == 40 * WINDOW - 6400
    assert not _spans_lost(probs, n_samples, DEFAULT, before, after)
    assert _spans_lost(probs, n_samples, DEFAULT, before - 1, after)


def test_covers() -> None:
    assert covers(DEFAULT)
    assert covers(CHUNKING)
    assert covers(VadOptions(threshold=0.35))  # silence threshold 0.19999999999999998: 0.2 in float32
    assert not covers(VadOptions(threshold=0.34))
    assert not covers(VadOptions(neg_threshold=0.19))
    assert not covers(VadOptions(threshold=0.19, neg_threshold=0.3))
    assert not covers(VadOptions(min_silence_duration_ms=2100))
    assert not covers(VadOptions(speech_pad_ms=500))
    assert covers(VadOptions(speech_pad_ms=500), margin_before=16, margin_after=67)


def test_kept_ranges_merge_and_clip() -> None:
    mask = np.array([True, True, False, True, False, False, True], dtype=np.bool_)
    assert kept_ranges(mask, 6 * WINDOW + 10) == [(0, 1024), (1536, 2048), (3072, 3082)]
    assert kept_ranges(mask, 6 * WINDOW) == [(0, 1024), (1536, 2048)]
    assert kept_ranges(np.zeros(3, dtype=np.bool_), 1500) == []


@pytest.mark.parametrize("options", OPTION_SETS, ids=range(len(OPTION_SETS)))
def test_kept_windows_hold_every_span_on_real_audio(options: VadOptions) -> None:
    assert covers(options)
    audios = [decoded(name) for name in FILES] + [long_recording(), sparse_recording()[0]]
    for audio in audios:
        probs = probabilities_of(audio)
        ranges = kept_ranges(kept_windows(probs), len(audio))
        assert_spans_kept(speech_timestamps(probs, len(audio), options), ranges)


# --- 4. SpeechKeeper -----------------------------------------------------------------------------


def keep(audio: FloatArray, pattern: str, as_int16: bool) -> KeptAudio:
    keeper = SpeechKeeper()
    for block in blocks(audio, pattern):
        keeper.feed(to_int16(block) if as_int16 else block)
        assert keeper.tail_samples <= (DEFAULT_MARGINS[0] + 2) * WINDOW + len(block)
    return keeper.finish()


@pytest.mark.parametrize(("pattern", "as_int16"), [("30s", True), ("12345", False), ("random", True)])
def test_keeper_on_sparse_recording(pattern: str, as_int16: bool) -> None:
    audio, n_speech = sparse_recording()
    kept = keep(audio, pattern, as_int16)
    assert kept.n_samples == len(audio)
    assert np.array_equal(kept.probabilities, reference_probabilities(audio))

    # memory: the speech and its margins, not the 8 minutes of silence
    before, after = DEFAULT_MARGINS
    islands = len(FILES)
    assert len(kept.samples) <= n_speech + islands * (before + after + 2) * WINDOW
    assert len(kept.samples) < 0.2 * len(audio)
    assert sum(r.end - r.start for r in kept.regions) == len(kept.samples)

    # the same regions as cutting the whole array
    expected = kept_ranges(kept_windows(kept.probabilities), len(audio))
    assert [(r.start, r.end) for r in kept.regions] == expected
    offsets = np.cumsum([0] + [r.end - r.start for r in kept.regions])[:-1].tolist()
    assert [r.offset for r in kept.regions] == offsets

    for options in (DEFAULT, CHUNKING):
        spans = kept.timestamps(options)
        assert spans == get_speech_timestamps(audio, options)
        assert len(spans) >= islands
        for span in spans:
            assert np.array_equal(kept.fetch(span["start"], span["end"]), audio[span["start"] : span["end"]])


@pytest.mark.parametrize("name", FILES)
def test_keeper_on_real_files(name: str) -> None:
    audio = decoded(name)
    kept = keep(audio, "1s", True)
    for options in OPTION_SETS:
        for span in kept.timestamps(options):
            assert np.array_equal(kept.fetch(span["start"], span["end"]), audio[span["start"] : span["end"]])


def test_keeper_fetch_outside_kept_audio() -> None:
    audio, _ = sparse_recording()
    kept = keep(audio[: 120 * SR], "30s", True)
    first = kept.regions[0]
    assert kept.fetch(first.start, first.start).size == 0
    with pytest.raises(KeyError):
        kept.fetch(first.end - 10, first.end + 10)
    with pytest.raises(KeyError):
        kept.fetch(0, 10)  # the recording opens with silence


def test_keeper_int16_and_float32_input_agree() -> None:
    audio = decoded("multilingual.mp3")
    a, b = keep(audio, "12345", True), keep(audio, "12345", False)
    assert np.array_equal(a.samples, b.samples)
    assert a.regions == b.regions
    assert np.array_equal(a.probabilities, b.probabilities)


def test_keeper_memory_on_silence() -> None:
    """20 minutes of int16 silence in 30 s blocks: nothing kept, and a peak of about one block."""
    block = np.zeros(30 * SR, dtype=np.int16)
    tracemalloc.start()
    keeper = SpeechKeeper()
    for _ in range(40):
        keeper.feed(block)
    kept = keeper.finish()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert kept.samples.size == 0
    assert kept.regions == ()
    assert peak < 8 * 2**20


def test_keeper_rejects_other_dtypes() -> None:
    keeper = SpeechKeeper()
    with pytest.raises(TypeError):
        keeper.feed(np.zeros(4, dtype=np.float64))
    keeper.finish()
    with pytest.raises(RuntimeError):
        keeper.feed(np.zeros(4, dtype=np.int16))


def test_to_int16_inverts_decode_audio_scaling() -> None:
    values: npt.NDArray[np.int16] = np.arange(-32768, 32768, dtype=np.int16)
    assert np.array_equal(to_int16(values.astype(np.float32) / np.float32(32768.0)), values)
