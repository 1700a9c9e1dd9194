"""Cross-request batching: merging rules on a recording fake, then texts from the real model.

The fake only stands in for CTranslate2 where the logic is pure (which calls merge, how prompts are
aligned, who gets which rows, what happens on failure). Whether batched decoding gives the same text as
unbatched decoding is checked with the real tiny.en model on real speech.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bench.wer import wer

from tests.support.media import JFK_TEXT
from whisperd.engine.catalog import CatalogEntry, ModelCatalog
from whisperd.engine.faster_whisper.adapter import WhisperEngine
from whisperd.engine.faster_whisper.batching import BatchingWhisper, Scope, context_bucket
from whisperd.engine.tuning import Placement
from whisperd.engine.types import DecodeOptions
from whisperd.media.audio import decode_file

SOT_PREV, SOT, NO_TIMESTAMPS = 1, 2, 6
TASK = [SOT, 3, 4]  # <|startoftranscript|> <|en|> <|transcribe|>


class FakeWhisper:
    """Records each call it receives; encode doubles, generate echoes; may hold or fail a call."""

    device = "cpu"
    is_multilingual = True

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, Any]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.poison: int | None = None

    def encode(self, features: Any, to_cpu: bool = False) -> Any:
        array = np.asarray(features)
        self.calls.append(("encode", array.shape[0], None))
        self.gate.wait()
        return array * 2

    def generate(self, features: Any, prompts: list[list[int]], **kwargs: Any) -> list[Any]:
        array = np.asarray(features)
        self.calls.append(("generate", len(prompts), ([list(p) for p in prompts], kwargs)))
        self.gate.wait()
        if self.poison is not None and any(self.poison in p for p in prompts):
            raise ValueError("poisoned prompt")
        return [(float(array[i, 0, 0]), list(p)) for i, p in enumerate(prompts)]

    def detect_language(self, features: Any) -> list[Any]:
        array = np.asarray(features)
        self.calls.append(("detect_language", array.shape[0], None))
        return [[("<|en|>", float(array[i, 0, 0]))] for i in range(array.shape[0])]


@pytest.fixture
def fake() -> FakeWhisper:
    return FakeWhisper()


@pytest.fixture
def batcher(fake: FakeWhisper) -> Iterator[BatchingWhisper]:
    batching = BatchingWhisper(
        fake, (SOT_PREV, SOT, NO_TIMESTAMPS), storage=lambda array: array, max_batch=8, workers=1
    )
    yield batching
    fake.gate.set()
    batching.close()


def features(value: float, rows: int = 1) -> np.ndarray:
    return np.full((rows, 4, 6), value, dtype=np.float32)


def held_then_released(
    fake: FakeWhisper, batcher: BatchingWhisper, first: Callable[[], Any], rest: Sequence[Callable[..., Any]]
) -> list[Any]:
    """Run ``first`` and hold it inside the model until every call of ``rest`` waits; then release all."""
    results: list[Any] = [None] * (1 + len(rest))
    fake.gate.clear()

    def call(index: int, work: Callable[..., Any]) -> None:
        try:
            results[index] = work()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=call, args=(0, first))]
    threads[0].start()
    while not fake.calls:
        time.sleep(0.001)
    threads += [threading.Thread(target=call, args=(i + 1, w)) for i, w in enumerate(rest)]
    for thread in threads[1:]:
        thread.start()
    while batcher.waiting < len(rest):
        time.sleep(0.001)
    fake.gate.set()
    for thread in threads:
        thread.join()
    return results


def test_a_lone_call_reaches_the_model_unchanged(fake: FakeWhisper, batcher: BatchingWhisper) -> None:
    prompt = [SOT_PREV, *range(100, 108), *TASK]  # previous text of a bucket's length: nothing to cut
    result = batcher.generate(features(3.0), [prompt], beam_size=5, patience=1.0)
    assert result == [(3.0, prompt)]
    assert fake.calls == [("generate", 1, ([prompt], {"beam_size": 5, "patience": 1.0}))]


def test_waiting_calls_merge_and_each_caller_gets_its_own_rows(
    fake: FakeWhisper, batcher: BatchingWhisper
) -> None:
    rest = [lambda v=float(v): batcher.encode(features(v, rows=2)) for v in range(1, 5)]
    results = held_then_released(fake, batcher, lambda: batcher.encode(features(0.0)), rest)
    assert [c[:2] for c in fake.calls] == [("encode", 1), ("encode", 8)]
    assert np.array_equal(results[0], features(0.0) * 2)
    for value, result in zip(range(1, 5), results[1:], strict=True):
        assert np.array_equal(result, features(value, rows=2) * 2)
    assert batcher.stats.largest == 8
    assert batcher.stats.merged_calls == 4


def test_a_batch_never_exceeds_max_batch(fake: FakeWhisper, batcher: BatchingWhisper) -> None:
    rest = [lambda v=float(v): batcher.encode(features(v, rows=3)) for v in range(1, 5)]
    held_then_released(fake, batcher, lambda: batcher.encode(features(0.0)), rest)
    sizes = [c[1] for c in fake.calls[1:]]
    assert sorted(sizes) == [6, 6]
    assert max(sizes) <= batcher.max_batch


def test_different_decoding_options_are_not_merged(fake: FakeWhisper, batcher: BatchingWhisper) -> None:
    rest = [
        lambda: batcher.generate(features(1.0), [TASK], beam_size=5),
        lambda: batcher.generate(features(2.0), [TASK], beam_size=1),
        lambda: batcher.generate(features(3.0), [TASK], beam_size=5),
    ]
    results = held_then_released(fake, batcher, lambda: batcher.encode(features(0.0)), rest)
    generated = [c for c in fake.calls if c[0] == "generate"]
    assert sorted(c[1] for c in generated) == [1, 2]
    assert [r[0][0] for r in results[1:]] == [1.0, 2.0, 3.0]


def test_previous_text_is_kept_to_its_bucket_alone_or_merged(
    fake: FakeWhisper, batcher: BatchingWhisper
) -> None:
    long_context = [SOT_PREV, *range(100, 170), *TASK]  # 70 previous tokens: bucket 64
    short_context = [SOT_PREV, *range(200, 264), *TASK]  # 64: its bucket exactly, merges with the first
    tiny_context = [SOT_PREV, *range(300, 310), *TASK]  # 10: bucket 8, a call of its own
    rest = [
        lambda: batcher.generate(features(1.0), [long_context], beam_size=5),
        lambda: batcher.generate(features(2.0), [short_context], beam_size=5),
        lambda: batcher.generate(features(3.0), [tiny_context], beam_size=5),
    ]
    results = held_then_released(fake, batcher, lambda: batcher.encode(features(0.0)), rest)
    merged = next(c for c in fake.calls if c[0] == "generate" and c[1] == 2)
    prompts = merged[2][0]
    assert prompts[0] == [SOT_PREV, *range(106, 170), *TASK]  # the most recent 64 kept
    assert prompts[1] == short_context
    assert results[3] == [(3.0, [SOT_PREV, *range(302, 310), *TASK])]
    assert batcher.stats.truncated_prompts == 2

    # Alone, the same prompt is cut the same way: the text does not depend on the load.
    alone = batcher.generate(features(1.0), [long_context], beam_size=5)
    assert alone == [(1.0, [SOT_PREV, *range(106, 170), *TASK])]


@pytest.mark.parametrize(
    ("length", "bucket"), [(0, 0), (7, 0), (8, 8), (63, 32), (64, 64), (222, 192), (223, 223)]
)
def test_context_buckets(length: int, bucket: int) -> None:
    assert context_bucket(length) == bucket


def test_exact_prompts_are_never_cut(fake: FakeWhisper, batcher: BatchingWhisper) -> None:
    hotword_prompt = [SOT_PREV, *range(100, 160), *TASK]  # 60 tokens, not a bucket's length: kept whole
    other = [SOT_PREV, *range(200, 232), *TASK]

    def exact() -> Any:
        with batcher.exact_prompts():
            return batcher.generate(features(1.0), [hotword_prompt], beam_size=5)

    rest = [exact, lambda: batcher.generate(features(2.0), [other], beam_size=5)]
    results = held_then_released(fake, batcher, lambda: batcher.encode(features(0.0)), rest)
    assert results[1] == [(1.0, hotword_prompt)]
    assert results[2] == [(2.0, other)]
    assert batcher.stats.truncated_prompts == 0


def test_a_failing_merged_call_fails_only_its_own_caller(fake: FakeWhisper, batcher: BatchingWhisper) -> None:
    fake.poison = 999
    good, bad = [SOT_PREV, *range(500, 508), *TASK], [SOT_PREV, *range(992, 1000), *TASK]
    rest = [
        lambda: batcher.generate(features(1.0), [good], beam_size=5),
        lambda: batcher.generate(features(2.0), [bad], beam_size=5),
        lambda: batcher.generate(features(3.0), [good], beam_size=5),
    ]
    results = held_then_released(fake, batcher, lambda: batcher.encode(features(0.0)), rest)
    assert results[1] == [(1.0, good)]
    assert isinstance(results[2], ValueError)
    assert results[3] == [(3.0, good)]
    assert batcher.stats.fallbacks == 1
    sizes = [c[1] for c in fake.calls if c[0] == "generate"]
    assert sizes == [3, 1, 1, 1]  # merged, failed, then each call alone


def test_prompts_it_cannot_read_go_straight_to_the_model(fake: FakeWhisper, batcher: BatchingWhisper) -> None:
    with_prefix = [SOT, 3, 4, 999]  # a prefix after the task tokens
    assert batcher.generate(features(1.0), [with_prefix], beam_size=5) == [(1.0, with_prefix)]
    assert batcher.stats.calls == 0
    assert fake.calls == [("generate", 1, ([with_prefix], {"beam_size": 5}))]


def test_language_detection_merges_too(fake: FakeWhisper, batcher: BatchingWhisper) -> None:
    rest = [lambda v=float(v): batcher.detect_language(features(v)) for v in (1.0, 2.0)]
    results = held_then_released(fake, batcher, lambda: batcher.encode(features(0.0)), rest)
    assert results[1:] == [[[("<|en|>", 1.0)]], [[("<|en|>", 2.0)]]]
    assert ("detect_language", 2, None) in fake.calls


def test_a_window_is_encoded_once_per_request_and_never_shared(
    fake: FakeWhisper, batcher: BatchingWhisper
) -> None:
    scope = Scope()
    with batcher.session(scope):
        first = batcher.encode(features(1.0))
        again = batcher.encode(features(1.0))
        other = batcher.encode(features(2.0))
    assert again is first
    assert not np.array_equal(other, first)
    assert len(fake.calls) == 2
    with batcher.session(Scope()):  # another request with the same audio is decoded in full
        batcher.encode(features(1.0))
    batcher.encode(features(1.0))  # and so is a call outside any request
    assert len(fake.calls) == 4
    assert batcher.stats.reused_encodings == 1


def test_closed_batcher_refuses_calls(fake: FakeWhisper) -> None:
    batching = BatchingWhisper(fake, (SOT_PREV, SOT, NO_TIMESTAMPS), storage=lambda a: a, max_batch=4)
    batching.close()
    with pytest.raises(RuntimeError, match="closed"):
        batching.encode(features(1.0))


# --- the real model --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(cache_dir: Path) -> CatalogEntry:
    return ModelCatalog(cache_dir, []).resolve("tiny.en")


def engine(entry: CatalogEntry, batch_size: int, chunk_seconds: float = 0.0) -> WhisperEngine:
    return WhisperEngine(entry, Placement("cpu", "int8", 2, 1, batch_size, chunk_seconds))


def samples(path: Path) -> np.ndarray:
    return decode_file(path, max_seconds=3600, max_decode_seconds=60).samples


class HeldModel:
    """The real CTranslate2 model, with its first call held until the other requests have queued."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def encode(self, features: Any, to_cpu: bool = False) -> Any:
        self.entered.set()
        self.gate.wait()
        return self._model.encode(features, to_cpu=to_cpu)


def test_concurrent_requests_are_batched_and_each_gets_its_own_text(tiny: CatalogEntry, audio: Path) -> None:
    from faster_whisper import WhisperModel

    names = ["jfk.flac", "hotwords.mp3", "stereo_diarization.wav", "jfk.mp3"]
    clips = [samples(audio / name) for name in names]
    alone = WhisperModel(str(tiny.path), device="cpu", compute_type="int8", cpu_threads=2)
    expected = ["".join(s.text for s in alone.transcribe(c, beam_size=5, temperature=0.0)[0]) for c in clips]

    shared = WhisperModel(str(tiny.path), device="cpu", compute_type="int8", cpu_threads=2)
    held = HeldModel(shared.model)
    shared.model = held
    import ctranslate2

    batcher = BatchingWhisper.wrap(shared, storage=ctranslate2.StorageView.from_array, max_batch=8)
    texts: list[str] = [""] * len(clips)

    def request(index: int) -> None:
        with batcher.session():
            segments, _ = shared.transcribe(clips[index], beam_size=5, temperature=0.0)
            texts[index] = "".join(s.text for s in segments)

    threads = [threading.Thread(target=request, args=(i,)) for i in range(len(clips))]
    for thread in threads:
        thread.start()
    assert held.entered.wait(60), "no request reached the model"
    # every request has made its first call: one batch is held in encode (it may already hold two calls,
    # if two arrived within the gather window) and the others wait to be merged behind it
    deadline = time.monotonic() + 60
    while batcher.stats.calls < len(clips):
        assert time.monotonic() < deadline, "the requests never all reached the batcher"
        time.sleep(0.005)
    held.gate.set()
    for thread in threads:
        thread.join()
    batcher.close()

    assert batcher.stats.merged_calls >= len(clips) - 1
    assert batcher.stats.largest >= 2
    for name, got, want in zip(names, texts, expected, strict=True):
        assert wer(want, got) <= 0.05, (name, got, want)
    assert wer(JFK_TEXT, texts[0]) < 0.1


def test_a_lone_request_gives_exactly_faster_whispers_text(tiny: CatalogEntry, jfk: Path) -> None:
    batched, plain = engine(tiny, 8), engine(tiny, 1)
    try:
        options = DecodeOptions(temperature_fallback=False)
        audio = samples(jfk)
        assert batched.transcribe(audio, options).text == plain.transcribe(audio, options).text
        assert plain.batcher is None
        assert batched.batcher is not None
        assert batched.batcher.stats.calls > 0
    finally:
        batched.close()


def test_long_audio_is_chunked_and_timed_in_the_recording(tiny: CatalogEntry, jfk: Path) -> None:
    speech = samples(jfk)
    gap = np.zeros(3 * 16_000, dtype=np.float32)
    parts, starts, position = [], [], 0
    for _ in range(5):
        parts += [gap, speech]
        starts.append(position + len(gap))
        position += len(gap) + len(speech)
    recording = np.concatenate(parts)
    chunked, plain = engine(tiny, 8, chunk_seconds=30), engine(tiny, 1)
    try:
        options = DecodeOptions(word_timestamps=True, temperature_fallback=False)
        result = chunked.transcribe(recording, options)
        reference = plain.transcribe(recording, options)
    finally:
        chunked.close()
    assert chunked.batcher is not None
    assert chunked.batcher.stats.merged_calls > 0  # the chunks of one file shared model calls
    truth = " ".join([JFK_TEXT] * 5)
    assert wer(truth, result.text) <= max(0.1, wer(truth, reference.text))
    assert result.duration == pytest.approx(len(recording) / 16_000)
    assert [s.id for s in result.segments] == list(range(len(result.segments)))
    assert all(a.start <= b.start for a, b in itertools.pairwise(result.segments))
    for segment in result.segments:
        assert 0 <= segment.start <= segment.end <= result.duration + 0.01
    words = result.words
    assert all(0 <= w.start <= w.end <= result.duration + 0.01 for w in words)
    assert all(a.start <= b.start for a, b in itertools.pairwise(words))
    # every "fellow" is heard where a copy of the speech really is (each copy starts with it, ~1 s in)
    fellows = [w.start for w in words if "fellow" in w.word.lower()]
    assert len(fellows) == 5
    for found, start in zip(fellows, starts, strict=True):
        assert start / 16_000 <= found <= start / 16_000 + 2.0


def test_the_language_is_detected_without_an_extra_encoder_pass(cache_dir: Path, jfk: Path) -> None:
    from faster_whisper import WhisperModel

    base = ModelCatalog(cache_dir, []).resolve("base")
    audio = samples(jfk)
    alone = WhisperModel(str(base.path), device="cpu", compute_type="int8", cpu_threads=2)
    segments, info = alone.transcribe(audio, beam_size=5, vad_filter=True, temperature=0.0)
    expected = "".join(s.text for s in segments).strip()
    batched = engine(base, 8)
    try:
        result = batched.transcribe(audio, DecodeOptions(temperature_fallback=False))
    finally:
        batched.close()
    assert batched.batcher is not None
    assert batched.batcher.stats.reused_encodings == 1  # detection and decoding shared one pass
    assert result.language == info.language == "en"
    assert result.language_probability == pytest.approx(info.language_probability, abs=0.05)
    assert result.text == expected


PROMPTS = [
    "President Kennedy.",
    "The inaugural address of President John F. Kennedy.",
    "Kennedy, 1961: the inaugural address, read on the steps of the Capitol.",
    "A speech. Americans, country, ask not.",
]


def test_a_user_prompt_is_never_cut_under_load(tiny: CatalogEntry, jfk: Path) -> None:
    """A prompt carries names and spellings the user asked for; other users' traffic must not drop it.

    Four requests at once, each with its own prompt and a minute of speech decoded window after window
    (so every window's prompt is the user's prompt followed by the text before it).
    """
    clip = np.tile(samples(jfk), 6)
    batched = engine(tiny, 8)
    try:
        threads = [
            threading.Thread(
                target=batched.transcribe, args=(clip, DecodeOptions(prompt=p, temperature_fallback=False))
            )
            for p in PROMPTS
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        batched.close()
    assert batched.batcher is not None
    assert batched.batcher.stats.merged_calls > 0
    assert batched.batcher.stats.truncated_prompts == 0
