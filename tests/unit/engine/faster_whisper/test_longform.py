"""Long audio in chunks with the real tiny.en: checkpoints, resuming after a stop, and the pool window."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from whisperd.engine.catalog import CatalogEntry, ModelCatalog
from whisperd.engine.faster_whisper import longform
from whisperd.engine.faster_whisper.adapter import WhisperEngine
from whisperd.engine.tuning import Placement
from whisperd.engine.types import Cancelled, CancelToken, Checkpoint, DecodeOptions, Resume, Segment
from whisperd.media.audio import decode_file

OPTIONS = DecodeOptions(temperature_fallback=False)


@pytest.fixture(scope="module")
def tiny(cache_dir: Path) -> CatalogEntry:
    return ModelCatalog(cache_dir, []).resolve("tiny.en")


@pytest.fixture(scope="module")
def recording(jfk: Path) -> np.ndarray:
    """Nine copies of real speech with 3 s pauses: about two minutes, cut into several chunks."""
    speech = decode_file(jfk, max_seconds=60, max_decode_seconds=60).samples
    gap = np.zeros(3 * 16_000, dtype=np.float32)
    return np.concatenate([part for _ in range(9) for part in (gap, speech)])


class CountingPool(ThreadPoolExecutor):
    """A shared chunk pool that records the most chunks it held at once (queued or running)."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self._lock = threading.Lock()
        self.held = 0
        self.most = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            self.held += 1
            self.most = max(self.most, self.held)
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(lambda _: self._done())
        return future

    def _done(self) -> None:
        with self._lock:
            self.held -= 1


def _engine(entry: CatalogEntry, batch_size: int, pool: ThreadPoolExecutor | None = None) -> WhisperEngine:
    return WhisperEngine(entry, Placement("cpu", "int8", 2, 1, batch_size, 30.0), chunk_pool=pool)


def test_a_stopped_transcription_resumes_at_its_last_chunk_with_the_same_text(
    tiny: CatalogEntry, recording: np.ndarray
) -> None:
    engine = _engine(tiny, 8)
    try:
        checkpoints: list[Checkpoint] = []
        whole = engine.transcribe(recording, OPTIONS, on_checkpoint=checkpoints.append)
        assert len(checkpoints) >= 4, "the recording should be cut into several chunks"
        assert (checkpoints[0].chunks, checkpoints[0].segments, checkpoints[0].seconds) == (0, 0, 0.0)
        assert [c.chunks for c in checkpoints] == list(range(len(checkpoints)))
        assert all(a.seconds < b.seconds for a, b in itertools.pairwise(checkpoints))
        assert checkpoints[-1].segments == len(whole.segments)

        # stop after the second chunk, as a crash would, keeping what was handed on up to a checkpoint
        kept: list[Segment] = []
        last: list[Checkpoint] = []
        cancel = CancelToken()

        def checkpoint(point: Checkpoint) -> None:
            last.append(point)
            if point.chunks == 2:
                cancel.cancel()

        with pytest.raises(Cancelled):
            engine.transcribe(
                recording, OPTIONS, cancel=cancel, on_segment=kept.append, on_checkpoint=checkpoint
            )
        point = last[-1]
        assert point.chunks == 2
        resumed_points: list[Checkpoint] = []
        later: list[Segment] = []
        resumed = engine.transcribe(
            recording,
            OPTIONS,
            resume=Resume(point, kept[: point.segments]),
            on_segment=later.append,
            on_checkpoint=resumed_points.append,
        )
    finally:
        engine.close()
    assert resumed_points[0] == point, "it says where it starts"
    assert later[0].id == point.segments, "no segment is handed on twice"
    assert resumed.text == whole.text
    assert [(s.id, s.start, s.end, s.text) for s in resumed.segments] == [
        (s.id, s.start, s.end, s.text) for s in whole.segments
    ]


def test_a_checkpoint_of_other_work_starts_from_the_beginning(
    tiny: CatalogEntry, recording: np.ndarray
) -> None:
    engine = _engine(tiny, 8)
    try:
        foreign = Checkpoint("another-layout", 2, 1, 30.0, "en", 1.0)
        points: list[Checkpoint] = []
        segment = Segment(0, 0, 0.0, 1.0, " Not this.", [], 0.0, 0.0, 0.0, 0.0)
        result = engine.transcribe(
            recording, OPTIONS, resume=Resume(foreign, [segment]), on_checkpoint=points.append
        )
    finally:
        engine.close()
    assert points[0].chunks == 0
    assert "Not this" not in result.text
    assert result.segments[0].id == 0


def test_one_long_file_keeps_at_most_a_batch_of_chunks_on_the_shared_pool(
    tiny: CatalogEntry, recording: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool is shared by every request: a job of an hour must not queue all its sections ahead of
    others (sections made short here, so that this recording has more of them than the batch)."""
    monkeypatch.setattr(longform, "MAX_SECTION_SECONDS", 30.0)
    pool = CountingPool(8)
    engine = _engine(tiny, 2, pool)
    try:
        points: list[Checkpoint] = []
        engine.transcribe(recording, OPTIONS, on_checkpoint=points.append)
    finally:
        engine.close()
        pool.shutdown()
    assert len(points) > 3
    assert pool.most == 2
