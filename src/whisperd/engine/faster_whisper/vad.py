"""Silero VAD over audio that arrives in blocks, keeping only the samples near speech.

faster-whisper 1.2.1 runs its VAD on the whole decoded upload: ``get_speech_timestamps`` pads the
float32 array (a copy), builds a second copy with 64 samples of context per 512-sample window and
hands that to one onnxruntime session, whose own working memory for its 10000-window runs is many
times its input: memory per request grows with the upload's duration, before a single word is
decoded. Here the same model runs block by block as the upload is decoded, and only the windows that a
speech span could reach are stored (as int16), so memory follows the amount of speech, not the length
of the file.

Pieces, each usable on its own:

* :class:`SpeechProbabilities`: the per-window speech probabilities, bit for bit those of
  ``get_vad_model()(np.pad(audio, ...))`` on the whole array, from blocks of any size.
* :func:`speech_timestamps`: faster-whisper's ``get_speech_timestamps`` state machine run on
  precomputed probabilities (same spans, same integers).
* :func:`kept_windows` / :func:`kept_ranges` / :func:`margins` / :func:`covers`: which windows must be
  kept so that every span :func:`speech_timestamps` can produce lies inside kept audio, and for which
  options that is guaranteed.
* :class:`SpeechKeeper`: the two combined for a decoder loop; it returns a :class:`KeptAudio`.

Measured figures (time per minute of audio, memory for long silence) are in
``bench/results/2026-12-01-streaming-vad.md``.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from faster_whisper.vad import VadOptions, get_vad_model

from whisperd.engine.types import SAMPLE_RATE

__all__ = [
    "BATCH_WINDOWS",
    "CONTEXT",
    "DEFAULT_FLOOR",
    "DEFAULT_MARGINS",
    "MAX_MIN_SILENCE_MS",
    "MAX_SPEECH_PAD_MS",
    "STATE_SHAPE",
    "WINDOW",
    "BoolArray",
    "FloatArray",
    "Int16Array",
    "KeptAudio",
    "KeptRegion",
    "SpeechKeeper",
    "SpeechProbabilities",
    "covers",
    "kept_ranges",
    "kept_windows",
    "margins",
    "probabilities_of",
    "speech_timestamps",
    "to_int16",
]

WINDOW: Final = 512
"""Samples per Silero window at 16 kHz; one probability per window."""
CONTEXT: Final = 64
"""Samples of the previous window that the v6 model sees in front of each window."""
BATCH_WINDOWS: Final = 256
"""Most windows per ``session.run`` (8.2 s of audio). onnxruntime's working memory for one run is a
multiple of its input, and the probabilities do not depend on how the windows are split into runs, so
a block is scored in runs this small: memory stays small whatever the block size, and small runs were
also faster (they stay in cache; figures in ``bench/results``)."""
STATE_SHAPE: Final = (1, 1, 128)

DEFAULT_FLOOR: Final = 0.2
"""A window below this probability is silence for every option set :func:`covers` accepts."""
MAX_MIN_SILENCE_MS: Final = 2000
MAX_SPEECH_PAD_MS: Final = 400

FloatArray = npt.NDArray[np.float32]
Int16Array = npt.NDArray[np.int16]
BoolArray = npt.NDArray[np.bool_]

# faster-whisper only splits a too-long span at a silence longer than this (its 98 ms, in samples).
_SPLIT_SILENCE_SAMPLES: Final = SAMPLE_RATE * 98 / 1000


def _n_windows(n_samples: int) -> int:
    """Windows faster-whisper scores for ``n_samples``: it always pads by ``512 - n % 512``, so a
    length that is a multiple of 512 still gets one all-zero window at the end."""
    return n_samples // WINDOW + 1


class _FloatGrowth:
    """An append-only float32 array with amortised doubling: probabilities are 1/512 of the audio,
    so keeping all of them is cheap, but re-concatenating them per block would be quadratic."""

    def __init__(self) -> None:
        self._data: FloatArray = np.empty(1024, dtype=np.float32)
        self._size = 0

    def extend(self, values: FloatArray) -> None:
        need = self._size + len(values)
        if need > len(self._data):
            grown = np.empty(max(need, 2 * len(self._data)), dtype=np.float32)
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : need] = values
        self._size = need

    def view(self, start: int = 0, stop: int | None = None) -> FloatArray:
        end = self._size if stop is None else min(stop, self._size)
        return self._data[start:end]

    def __len__(self) -> int:
        return self._size


class SpeechProbabilities:
    """Silero speech probabilities of a 16 kHz mono stream, one per 512-sample window.

    Fed float32 blocks of any size (``feed``), then ``finish``. The result equals, exactly, what
    ``faster_whisper.vad.get_vad_model()(np.pad(audio, (0, 512 - len(audio) % 512)))`` returns for the
    concatenated audio, because everything that call threads through the audio is threaded through
    the blocks here: the LSTM state (h, c) returned by each ``session.run``, and the last 64 samples of
    the previous window as the next window's context. The model carries h and c from row to row
    inside one ``run`` as well, so how the windows are split into ``run`` calls does not change the
    numbers (checked bit for bit by the tests, down to one window per call).

    Working memory is O(block): a partial window (< 512 samples) is held over to the next call, and a
    block is scored in runs of at most ``BATCH_WINDOWS`` windows (so onnxruntime's share is bounded
    even for a large block). The probabilities themselves (4 bytes per 512 samples, 450 kB for
    4 hours) are kept for the caller.

    The default session is faster-whisper's own (``get_vad_model().session``): one model in memory
    for the whole server, and onnxruntime's ``run`` is safe to call from several threads because the
    recurrent state is an input and an output here, never stored in the session.
    """

    def __init__(self, session: Any = None) -> None:
        self._session: Any = session if session is not None else get_vad_model().session
        self._h: FloatArray = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._c: FloatArray = np.zeros(STATE_SHAPE, dtype=np.float32)
        # faster-whisper gives the first window a context of zeros
        self._context: FloatArray = np.zeros(CONTEXT, dtype=np.float32)
        self._pending: FloatArray = np.zeros(WINDOW, dtype=np.float32)
        self._n_pending = 0
        self._n_samples = 0
        self._probs = _FloatGrowth()
        self._finished = False

    @property
    def n_samples(self) -> int:
        """Samples fed so far (the original length once finished)."""
        return self._n_samples

    @property
    def n_windows(self) -> int:
        """Probabilities produced so far."""
        return len(self._probs)

    @property
    def finished(self) -> bool:
        return self._finished

    def probabilities(self) -> FloatArray:
        """A copy of the probabilities produced so far (all of them once finished)."""
        return self._probs.view().copy()

    def probabilities_view(self, start: int = 0, stop: int | None = None) -> FloatArray:
        """The probabilities ``[start, stop)`` without a copy; valid until the next ``feed``/``finish``
        (the buffer may be reallocated), which is all :class:`SpeechKeeper` needs."""
        return self._probs.view(start, stop)

    def feed(self, block: npt.ArrayLike) -> FloatArray:
        """Score the complete windows that ``block`` finishes; returns their probabilities.

        ``block`` must be float32 (samples in [-1, 1], as ``decode_audio`` returns them): int16 input
        would otherwise be scored 32768 times too loud, and float64 would silently differ from what
        faster-whisper scores after its own float32 conversion.
        """
        if self._finished:
            raise RuntimeError("feed() after finish()")
        audio = np.asarray(block)
        if audio.dtype != np.float32:
            raise TypeError(f"expected float32 samples, got {audio.dtype}")
        if audio.ndim != 1:
            raise ValueError(f"expected a 1-D block, got shape {audio.shape}")
        self._n_samples += len(audio)
        start = len(self._probs)
        pos = 0
        if self._n_pending:
            take = min(WINDOW - self._n_pending, len(audio))
            self._pending[self._n_pending : self._n_pending + take] = audio[:take]
            self._n_pending += take
            pos = take
            if self._n_pending < WINDOW:
                return self._probs.view(start).copy()
            self._run(self._pending.reshape(1, WINDOW))
            self._n_pending = 0
        full = (len(audio) - pos) // WINDOW
        for first in range(0, full, BATCH_WINDOWS):
            count = min(BATCH_WINDOWS, full - first)
            lo = pos + first * WINDOW
            self._run(audio[lo : lo + count * WINDOW].reshape(count, WINDOW))
        rest = audio[pos + full * WINDOW :]
        self._pending[: len(rest)] = rest
        self._n_pending = len(rest)
        return self._probs.view(start).copy()

    def finish(self) -> FloatArray:
        """Score the last, zero-padded window and return all the probabilities.

        The last window is scored even when it is empty (length a multiple of 512): faster-whisper pads
        by ``512 - n % 512``, i.e. by a whole window in that case, and its spans depend on that window.
        Its last 64 samples are zeroed as well, real audio or not: ``SileroVADModel.__call__`` writes
        ``context[-1] = 0`` into a view of the padded audio (it means to clear the context that
        ``np.roll`` wraps round to the first window), so faster-whisper scores a final window of more
        than 448 samples with its tail silenced, and so must this.
        """
        if not self._finished:
            self._pending[self._n_pending :] = 0.0
            self._pending[WINDOW - CONTEXT :] = 0.0
            self._run(self._pending.reshape(1, WINDOW))
            self._n_pending = 0
            self._finished = True
        return self.probabilities()

    def _run(self, windows: FloatArray) -> None:
        """One ``session.run`` over ``windows`` (k x 512), each row prefixed by its 64-sample context,
        carrying h, c and the context on to the next call."""
        count = windows.shape[0]
        batch = np.empty((count, CONTEXT + WINDOW), dtype=np.float32)
        batch[0, :CONTEXT] = self._context
        batch[1:, :CONTEXT] = windows[:-1, -CONTEXT:]
        batch[:, CONTEXT:] = windows
        out, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
        self._context = windows[-1, -CONTEXT:].copy()
        self._probs.extend(np.asarray(out, dtype=np.float32).reshape(count))


def probabilities_of(audio: FloatArray, block: int = 30 * SAMPLE_RATE, session: Any = None) -> FloatArray:
    """Probabilities of a whole float32 array, scored ``block`` samples at a time (no padded copy)."""
    vad = SpeechProbabilities(session)
    for lo in range(0, len(audio), block):
        vad.feed(audio[lo : lo + block])
    return vad.finish()


def _neg_threshold(options: VadOptions) -> float:
    """faster-whisper's silence threshold: the given one, else ``max(threshold - 0.15, 0.01)``.

    Kept as the very object faster-whisper compares with (a Python float, or whatever the caller
    passed), because NumPy compares a float32 probability with a Python float in float32 but with a
    NumPy float64 in float64, and the spans must match at exact ties too.
    """
    given: float | None = options.neg_threshold
    if given is None:
        threshold: float = options.threshold
        return max(threshold - 0.15, 0.01)
    return given


def speech_timestamps(
    probabilities: npt.ArrayLike, n_samples: int, options: VadOptions | None = None
) -> list[dict[str, int]]:
    """faster-whisper 1.2.1's ``get_speech_timestamps(audio, options)`` from the audio's probabilities.

    ``probabilities`` are those of :class:`SpeechProbabilities` (``n_samples // 512 + 1`` values) and
    ``n_samples`` the audio's length. Returns the same list of ``{"start", "end"}`` sample positions,
    because this is their loop, statement for statement, minus the model call: the threshold
    comparisons are made on float32 probabilities against the same threshold objects (see
    :func:`_neg_threshold` for why that matters at ties), and the arithmetic keeps their int/float mix.
    The only change is speed: while not inside a span, windows below the threshold change no state in
    their loop, so they are skipped in bulk.
    """
    if options is None:
        options = VadOptions()
    probs = np.asarray(probabilities, dtype=np.float32).reshape(-1)
    if len(probs) != _n_windows(n_samples):
        raise ValueError(
            f"{n_samples} samples have {_n_windows(n_samples)} windows, got {len(probs)} probabilities"
        )
    threshold = options.threshold
    neg_threshold = _neg_threshold(options)
    min_speech_samples = SAMPLE_RATE * options.min_speech_duration_ms / 1000
    speech_pad_samples = SAMPLE_RATE * options.speech_pad_ms / 1000
    max_speech_samples = SAMPLE_RATE * options.max_speech_duration_s - WINDOW - 2 * speech_pad_samples
    min_silence_samples = SAMPLE_RATE * options.min_silence_duration_ms / 1000
    audio_length_samples = n_samples

    loud: list[bool] = (probs >= threshold).tolist()
    quiet: list[bool] = (probs < neg_threshold).tolist()
    loud_at = np.flatnonzero(probs >= threshold)

    triggered = False
    speeches: list[dict[str, int]] = []
    current_speech: dict[str, int] = {}
    temp_end = 0
    prev_end = next_start = 0

    i = 0
    n = len(probs)
    while i < n:
        if not triggered and not loud[i]:
            # Untriggered, temp_end is always 0: nothing happens until the next loud window.
            k = int(np.searchsorted(loud_at, i))
            if k == len(loud_at):
                break
            i = int(loud_at[k])
        window_start = WINDOW * i
        if loud[i] and temp_end:
            temp_end = 0
            if next_start < prev_end:
                next_start = window_start

        if loud[i] and not triggered:
            triggered = True
            current_speech["start"] = window_start
            i += 1
            continue

        if triggered and window_start - current_speech["start"] > max_speech_samples:
            if prev_end:
                current_speech["end"] = prev_end
                speeches.append(current_speech)
                current_speech = {}
                if next_start < prev_end:
                    triggered = False
                else:
                    current_speech["start"] = next_start
                prev_end = next_start = temp_end = 0
            else:
                current_speech["end"] = window_start
                speeches.append(current_speech)
                current_speech = {}
                prev_end = next_start = temp_end = 0
                triggered = False
                i += 1
                continue

        if quiet[i] and triggered:
            if not temp_end:
                temp_end = window_start
            if window_start - temp_end > _SPLIT_SILENCE_SAMPLES:
                prev_end = temp_end
            if window_start - temp_end < min_silence_samples:
                i += 1
                continue
            current_speech["end"] = temp_end
            if (current_speech["end"] - current_speech["start"]) > min_speech_samples:
                speeches.append(current_speech)
            current_speech = {}
            prev_end = next_start = temp_end = 0
            triggered = False
        i += 1

    if current_speech and (audio_length_samples - current_speech["start"]) > min_speech_samples:
        current_speech["end"] = audio_length_samples
        speeches.append(current_speech)

    for j, speech in enumerate(speeches):
        if j == 0:
            speech["start"] = int(max(0, speech["start"] - speech_pad_samples))
        if j != len(speeches) - 1:
            silence_duration = speeches[j + 1]["start"] - speech["end"]
            if silence_duration < 2 * speech_pad_samples:
                speech["end"] += int(silence_duration // 2)
                speeches[j + 1]["start"] = int(max(0, speeches[j + 1]["start"] - silence_duration // 2))
            else:
                speech["end"] = int(min(audio_length_samples, speech["end"] + speech_pad_samples))
                speeches[j + 1]["start"] = int(max(0, speeches[j + 1]["start"] - speech_pad_samples))
        else:
            speech["end"] = int(min(audio_length_samples, speech["end"] + speech_pad_samples))

    return speeches


def margins(
    min_silence_duration_ms: int = MAX_MIN_SILENCE_MS, speech_pad_ms: int = MAX_SPEECH_PAD_MS
) -> tuple[int, int]:
    """Windows to keep (before, after) each window at or above the floor, for options up to these.

    Why these numbers (``P`` = pad in windows, rounded up; ``S`` = the longest silence, in windows,
    that does not close a span: ``512 * S < min_silence_samples``):

    * before = P. Every span starts on a window at or above the threshold (the trigger, or the
      ``next_start`` of a split), and padding moves the start back by at most the pad.
    * after = max(S + 5, P + 8). Inside a span, a window below the floor is silence, and silence only
      stays inside a span while it is shorter than the minimum silence, counted from ``temp_end``.
      ``temp_end`` is normally the first silent window after one at or above the floor. The one
      exception is a span cut at ``max_speech_duration_s`` that carries on from ``next_start``: the
      cut resets ``temp_end`` to the cut window, whose predecessors may be up to 4 silent windows
      (a 5th would have set ``prev_end`` past ``next_start``, ending speech instead). A span left open
      at the end of the audio therefore reaches S + 5 windows past the last window at or above the
      floor, unpadded. A span that closes ends within 8 windows of such a window (two such 4-window
      runs around a cut) and then gains the pad, P more windows. Silence between two windows at or
      above the floor inside a span is covered by the same bounds.

    For 2000 ms and 400 ms: (13, 67), i.e. 0.42 s before and 2.14 s after. The tests show that the
    bounds are reached (one window less loses audio a span needs) and hold on random sequences.
    """
    pad_windows = math.ceil(SAMPLE_RATE * speech_pad_ms / 1000 / WINDOW)
    silence_windows = max(math.ceil(SAMPLE_RATE * min_silence_duration_ms / 1000 / WINDOW) - 1, 0)
    return pad_windows, max(silence_windows + 5, pad_windows + 8)


DEFAULT_MARGINS: Final = margins()


def covers(
    options: VadOptions,
    *,
    floor: float = DEFAULT_FLOOR,
    margin_before: int = DEFAULT_MARGINS[0],
    margin_after: int = DEFAULT_MARGINS[1],
) -> bool:
    """Whether :func:`kept_windows` with these settings keeps every span ``options`` can produce.

    Needs every probability below the floor to be silence for ``options`` (below its silence
    threshold, hence below its speech threshold too), and margins at least :func:`margins` of its
    silence and pad. The floor test is done on the largest float32 below the floor, compared the way
    faster-whisper compares: ``threshold=0.35`` gives a silence threshold of 0.19999999999999998,
    which is below 0.2 as a float64 yet equal to it in float32, where the comparison happens.
    """
    below_floor = np.nextafter(np.float32(floor), np.float32(-np.inf))
    if not (below_floor < _neg_threshold(options) and below_floor < options.threshold):
        return False
    before, after = margins(options.min_silence_duration_ms, options.speech_pad_ms)
    return before <= margin_before and after <= margin_after


def kept_windows(
    probabilities: npt.ArrayLike,
    *,
    floor: float = DEFAULT_FLOOR,
    margin_before: int = DEFAULT_MARGINS[0],
    margin_after: int = DEFAULT_MARGINS[1],
) -> BoolArray:
    """Which 512-sample windows to keep: those within ``margin_before`` windows before, or
    ``margin_after`` windows after, a window whose probability is at least ``floor``.

    For every option set :func:`covers` accepts (by default: threshold >= 0.35 with the default
    silence threshold, or any thresholds >= 0.2; min silence <= 2000 ms; pad <= 400 ms), every span
    :func:`speech_timestamps` returns lies inside kept windows; see :func:`margins` for the argument.
    The margins are asymmetric because a span can only start (with its pad) just before a loud
    window, but may run on through silence after one; a short ``margin_before`` is also the
    lookahead :class:`SpeechKeeper` must buffer.
    """
    probs = np.asarray(probabilities, dtype=np.float32).reshape(-1)
    near = probs >= floor
    counts = np.concatenate(([0], np.cumsum(near, dtype=np.int64)))
    index = np.arange(len(probs))
    lo = np.clip(index - margin_after, 0, len(probs))
    hi = np.clip(index + margin_before + 1, 0, len(probs))
    kept: BoolArray = counts[hi] > counts[lo]
    return kept


def kept_ranges(kept: BoolArray, n_samples: int) -> list[tuple[int, int]]:
    """Sample ranges ``[start, end)`` of the kept windows, contiguous windows merged, clipped to the
    audio (the last window overhangs it)."""
    mask = np.asarray(kept, dtype=np.bool_)
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False])).astype(np.int8)))
    ranges: list[tuple[int, int]] = []
    for first, last in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        start, end = first * WINDOW, min(last * WINDOW, n_samples)
        if start < end:
            ranges.append((start, end))
    return ranges


@dataclass(frozen=True)
class KeptRegion:
    """Original samples ``[start, end)``, stored from ``offset`` in :attr:`KeptAudio.samples`."""

    start: int
    end: int
    offset: int


@dataclass(frozen=True, eq=False)
class KeptAudio:
    """What :class:`SpeechKeeper` kept of an upload: enough to compute and cut out every span.

    ``samples`` holds the kept regions back to back as int16 (what the decoder produced: half the
    size of float32, and lossless for audio decoded the way faster-whisper decodes it).
    """

    samples: Int16Array
    regions: tuple[KeptRegion, ...]
    probabilities: FloatArray
    n_samples: int
    _starts: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", [region.start for region in self.regions])

    def timestamps(self, options: VadOptions | None = None) -> list[dict[str, int]]:
        """faster-whisper's speech spans for the original audio (see :func:`speech_timestamps`)."""
        return speech_timestamps(self.probabilities, self.n_samples, options)

    def fetch_int16(self, start: int, end: int) -> Int16Array:
        """Original samples ``[start, end)`` (a view), which must lie inside one kept region; they do
        for every span of :func:`speech_timestamps` when :func:`covers` holds."""
        if end <= start:
            return self.samples[:0]
        at = bisect.bisect_right(self._starts, start) - 1
        if at < 0 or end > self.regions[at].end:
            raise KeyError(f"samples [{start}, {end}) were not kept")
        region = self.regions[at]
        lo = region.offset + start - region.start
        return self.samples[lo : lo + end - start]

    def fetch(self, start: int, end: int) -> FloatArray:
        """Original samples ``[start, end)`` as float32, exactly as ``decode_audio`` scales them."""
        audio: FloatArray = self.fetch_int16(start, end).astype(np.float32) / np.float32(32768.0)
        return audio


def to_int16(block: FloatArray) -> Int16Array:
    """float32 samples to int16 the inverse way of ``decode_audio`` (which divides by 32768), so its
    output comes back bit for bit; other input is rounded and clipped to 16 bits."""
    scaled = np.rint(block * np.float32(32768.0))
    np.clip(scaled, -32768, 32767, out=scaled)
    out: Int16Array = scaled.astype(np.int16)
    return out


class SpeechKeeper:
    """Feed decoded blocks (int16, or float32 in [-1, 1]); keep only the windows near speech.

    Each block is scored at once (:class:`SpeechProbabilities`), and a window is decided as soon as
    the probabilities ``margin_before`` windows ahead of it are known: kept windows are copied out as
    int16, the others dropped. Until then samples wait in a tail of at most ``margin_before + 1``
    windows plus a partial window (about 0.45 s by default) plus the block being fed, so memory is
    O(block + kept audio + probabilities) whatever the upload's length. The result, from
    :meth:`finish`, is identical to cutting the whole decoded array with :func:`kept_windows` and
    :func:`kept_ranges`.
    """

    def __init__(
        self,
        *,
        floor: float = DEFAULT_FLOOR,
        margin_before: int = DEFAULT_MARGINS[0],
        margin_after: int = DEFAULT_MARGINS[1],
        session: Any = None,
    ) -> None:
        self._floor = floor
        self._before = margin_before
        self._after = margin_after
        self._vad = SpeechProbabilities(session)
        self._tail: Int16Array = np.empty(0, dtype=np.int16)
        self._decided = 0  # windows decided; the tail starts at sample 512 * self._decided
        self._chunks: list[Int16Array] = []
        self._kept = 0
        self._regions: list[KeptRegion] = []
        self._result: KeptAudio | None = None

    @property
    def kept_samples(self) -> int:
        """Samples kept so far (the memory that grows with speech)."""
        return self._kept

    @property
    def tail_samples(self) -> int:
        """Samples waiting for the lookahead to decide them."""
        return len(self._tail)

    def feed(self, block: npt.ArrayLike) -> None:
        """Score a block and store what of it (and of the tail) is decided to be kept."""
        if self._result is not None:
            raise RuntimeError("feed() after finish()")
        audio = np.asarray(block)
        if audio.dtype == np.int16:
            samples: Int16Array = audio
            scored: FloatArray = audio.astype(np.float32) / np.float32(32768.0)
        elif audio.dtype == np.float32:
            samples = to_int16(audio)
            scored = audio
        else:
            raise TypeError(f"expected int16 or float32 samples, got {audio.dtype}")
        self._vad.feed(scored)
        del scored
        self._tail = np.concatenate((self._tail, samples.reshape(-1)))
        self._decide(self._vad.n_windows - self._before)

    def finish(self) -> KeptAudio:
        """Score the last window, decide the rest and return what was kept."""
        if self._result is None:
            self._vad.finish()
            self._decide(self._vad.n_windows)
            samples = np.concatenate(self._chunks) if self._chunks else np.empty(0, dtype=np.int16)
            self._chunks = []
            self._result = KeptAudio(
                samples=samples,
                regions=tuple(self._regions),
                probabilities=self._vad.probabilities(),
                n_samples=self._vad.n_samples,
            )
        return self._result

    def _decide(self, upto: int) -> None:
        """Keep or drop windows ``[self._decided, upto)``; their lookahead is known."""
        first = self._decided
        if upto <= first:
            return
        lo = max(first - self._after, 0)
        near = self._vad.probabilities_view(lo, upto + self._before) >= self._floor
        counts = np.concatenate(([0], np.cumsum(near, dtype=np.int64)))
        index = np.arange(first, upto)
        begin = np.clip(index - self._after - lo, 0, len(near))
        stop = np.clip(index + self._before + 1 - lo, 0, len(near))
        kept = counts[stop] > counts[begin]
        base = first * WINDOW
        for start, end in kept_ranges(kept, self._vad.n_samples - base):
            self._store(base + start, self._tail[start:end])
        cut = min((upto - first) * WINDOW, len(self._tail))
        self._tail = self._tail[cut:].copy()
        self._decided = upto

    def _store(self, start: int, samples: Int16Array) -> None:
        end = start + len(samples)
        if self._regions and self._regions[-1].end == start:
            last = self._regions[-1]
            self._regions[-1] = KeptRegion(last.start, end, last.offset)
        else:
            self._regions.append(KeptRegion(start, end, self._kept))
        self._chunks.append(samples.copy())
        self._kept += len(samples)
