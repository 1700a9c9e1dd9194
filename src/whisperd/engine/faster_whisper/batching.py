"""Cross-request batching: the CTranslate2 calls of many concurrent requests merged into batched calls.

faster-whisper decodes one request at a time: each request's thread calls ``encode``, ``generate`` and
``detect_language`` on the CTranslate2 Whisper model with a batch of one window (or, in its
``BatchedInferencePipeline``, a few windows of the same file). Concurrent requests therefore queue
behind the model one call at a time, although CTranslate2 computes a batch of eight windows in far less
than eight times the time of one (the decoder is bound by memory traffic, not arithmetic).

:class:`BatchingWhisper` stands in for the CTranslate2 model inside faster-whisper's ``WhisperModel``.
Each request's thread still runs faster-whisper's own decoding loop unchanged (seek, timestamps,
temperature fallback, previous-text prompts, word alignment) and blocks in these calls; one or more
batcher threads take every call that is waiting, merge those that can be computed together into one
CTranslate2 call, and hand each caller its own rows of the result. A lone request's calls run at once
and unchanged, so its text is exactly faster-whisper's. Under load, the calls that arrive while a batch
runs form the next batch; and because a request's next call comes a few milliseconds after its previous
result, the batcher waits that long (at most a tenth of the last batch's time, and never beyond
``max_gather`` seconds) for the requests that are between two calls, so that concurrent requests move in
step instead of splitting into small alternating batches. It knows which requests are live from
:meth:`BatchingWhisper.session`.

Calls merge when CTranslate2 can compute them as one: equal decoding options and input shapes, and
prompts whose ``<|startoftranscript|>`` token sits at the same index with the same task tokens after it
(CTranslate2 requires that). Previous text (what faster-whisper carries from one window to the next of a
long file) is therefore kept to a fixed set of lengths, :data:`CONTEXT_BUCKETS`: each prompt keeps its
most recent tokens up to the largest bucket it fills, as faster-whisper itself keeps the most recent
223. This is done to every prompt, alone or not, so that a window's prompt, and so the request's text,
never depends on what else the server is doing; windows of a long file carry the full 223 tokens once
past its start, so the cut costs little (its measured effect is in the README's Performance section).
Calls made inside :meth:`BatchingWhisper.exact_prompts` (a user's prompt or hotwords, which sit at the
start of that context) are never cut, and merge only with prompts of the same length. A merged call that
fails is retried call by call, so one caller's bad input never fails another's request.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CONTEXT_BUCKETS", "BatchStats", "BatchingWhisper", "Scope", "context_bucket", "special_tokens"]

CONTEXT_BUCKETS = (0, 8, 16, 32, 64, 96, 128, 160, 192, 223)
"""Previous-text lengths a prompt is kept to (223: faster-whisper's own most); never more than a few
words lost, and the windows of concurrent long files, nearly all at 223, merge."""

_SOT_PREV = "<|startofprev|>"
_SOT = "<|startoftranscript|>"
_NO_TIMESTAMPS = "<|notimestamps|>"


@dataclass(slots=True)
class BatchStats:
    """Counters for logs, metrics and tests: how much merging actually happened."""

    calls: int = 0
    """Calls received from request threads."""
    batches: int = 0
    """CTranslate2 calls made for them."""
    merged_calls: int = 0
    """Calls that shared a CTranslate2 call with at least one other."""
    items: int = 0
    """Windows (batch rows) computed."""
    largest: int = 0
    """Most windows in one CTranslate2 call."""
    truncated_prompts: int = 0
    """Prompts whose previous text was shortened to its bucket (:data:`CONTEXT_BUCKETS`)."""
    fallbacks: int = 0
    """Merged calls that failed and were retried call by call."""
    reused_encodings: int = 0
    """Encoder passes saved because the same window had just been encoded (language detection)."""


class Scope:
    """The calls of one request, possibly from several threads: identical windows are encoded once."""

    KEEP = 4
    """Encoder outputs kept (the one that matters is the first window, asked for twice in a row)."""

    def __init__(self) -> None:
        self.encoded: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self.scores: list[tuple[list[int], list[float]]] = []
        """Each generation's tokens and log probabilities, when the request asked for them."""


@dataclass(eq=False, slots=True)
class _Call:
    """One request thread's call, waiting for a batcher thread."""

    op: str
    key: Hashable
    size: int
    inputs: Any
    prompts: list[list[int]] | None
    kwargs: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class _PromptShape:
    """Where a prompt's parts are: what CTranslate2 needs equal across a batch."""

    context: int
    """Tokens between ``<|startofprev|>`` and ``<|startoftranscript|>`` (0 without previous text)."""
    task: tuple[int, ...]
    """Positions of the task tokens after SOT that must match: their count and the no-timestamps flag."""


class BatchingWhisper:
    """A drop-in for ``ctranslate2.models.Whisper`` that merges concurrent calls into batched calls.

    ``max_batch`` bounds the windows in one merged call (a single call larger than that runs alone).
    ``workers`` batcher threads run merged calls side by side, one per model replica.
    """

    def __init__(
        self,
        model: Any,
        tokens: tuple[int, int, int],
        *,
        storage: Callable[[np.ndarray], Any],
        max_batch: int,
        workers: int = 1,
        max_gather: float = 0.02,
    ) -> None:
        self._model = model
        self._storage = storage
        self.max_batch = max(1, max_batch)
        self.max_gather = max(0.0, max_gather)
        self._gather = 0.0
        self._live = 0
        self._busy = 0
        self.stats = BatchStats()
        self._to_cpu = str(model.device) == "cuda"
        self._pending: list[_Call] = []
        self._cond = threading.Condition()
        self._closed = False
        self._local = threading.local()
        self._tokens = tokens
        self._threads = [
            threading.Thread(target=self._serve, name=f"whisperd-batcher-{i}", daemon=True)
            for i in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()

    @classmethod
    def wrap(
        cls, whisper_model: Any, *, storage: Callable[[np.ndarray], Any], max_batch: int, workers: int = 1
    ) -> BatchingWhisper:
        """Put a batcher between a faster-whisper ``WhisperModel`` and its CTranslate2 model.

        Every method of the ``WhisperModel`` (and of a ``BatchedInferencePipeline`` built on it) reaches
        CTranslate2 through its ``model`` attribute, so replacing that attribute routes them all here.
        ``storage`` makes a CTranslate2 ``StorageView`` from a host array (``StorageView.from_array``).
        """
        batcher = cls(
            whisper_model.model,
            special_tokens(whisper_model.hf_tokenizer),
            storage=storage,
            max_batch=max_batch,
            workers=workers,
        )
        whisper_model.model = batcher
        return batcher

    @property
    def model(self) -> Any:
        """The CTranslate2 model itself, for calls that must not wait in line (warm-up)."""
        return self._model

    # --- the CTranslate2 surface that faster-whisper uses -------------------------------------------

    def __getattr__(self, name: str) -> Any:
        """Everything not merged (``is_multilingual``, ``n_mels``, ``device``...) is the model's own."""
        return getattr(self._model, name)

    def encode(self, features: Any, to_cpu: bool = False) -> Any:
        array = _host_array(features)
        if array is None:
            return self._model.encode(features, to_cpu=to_cpu)
        scope: Scope | None = getattr(self._local, "scope", None)
        content = (array.shape, str(array.dtype), hashlib.blake2b(array.tobytes()).digest()) if scope else ()
        if scope is not None:
            with self._cond:
                if content in scope.encoded:
                    self.stats.reused_encodings += 1
                    return scope.encoded[content]
        key = ("encode", array.shape[1:], str(array.dtype))
        output = self._submit(_Call("encode", key, array.shape[0], array, None, {}))
        if scope is not None:
            with self._cond:
                scope.encoded[content] = output
                while len(scope.encoded) > Scope.KEEP:
                    scope.encoded.popitem(last=False)
        return output

    def generate(self, features: Any, prompts: Sequence[Sequence[int]], **kwargs: Any) -> Any:
        sink: list[tuple[list[int], list[float]]] | None = getattr(self._local, "scores", None)
        if sink is not None:
            kwargs = {**kwargs, "return_logits_vocab": True}
        results = self._generate(features, prompts, kwargs)
        if sink is not None and not kwargs.get("asynchronous"):
            for result in results:
                sink.append(_token_scores(result))
        return results

    def _generate(self, features: Any, prompts: Sequence[Sequence[int]], kwargs: dict[str, Any]) -> Any:
        array = _host_array(features)
        shapes = [self._shape(p) for p in prompts]
        if array is None or kwargs.get("asynchronous") or None in shapes or len(set(shapes)) > 1:
            return self._model.generate(features, [list(p) for p in prompts], **kwargs)
        shape = shapes[0]
        assert shape is not None
        exact = bool(getattr(self._local, "exact", False))
        context = shape.context if exact else context_bucket(shape.context)
        kept = [_recent(list(p), shape.context, context) for p in prompts]
        if context < shape.context:
            with self._cond:
                self.stats.truncated_prompts += len(kept)
        key = ("generate", array.shape[1:], str(array.dtype), _frozen(kwargs), shape.task, exact, context)
        return self._submit(_Call("generate", key, array.shape[0], array, kept, kwargs))

    def detect_language(self, features: Any) -> Any:
        array = _host_array(features)
        if array is None:
            return self._model.detect_language(features)
        key = ("detect_language", array.shape[1:], str(array.dtype))
        return self._submit(_Call("detect_language", key, array.shape[0], array, None, {}))

    def align(self, *args: Any, **kwargs: Any) -> Any:
        """Word alignment runs as asked: it is rare, and cheap next to decoding."""
        return self._model.align(*args, **kwargs)

    # --- control ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def session(self, scope: Scope | None = None) -> Iterator[None]:
        """Mark this thread as decoding, so that the batcher waits for its next call.

        ``scope`` ties the thread to a request (see :class:`Scope`); without one, nothing is reused.
        """
        previous = getattr(self._local, "scope", None)
        self._local.scope = scope
        with self._cond:
            self._live += 1
        try:
            yield
        finally:
            self._local.scope = previous
            with self._cond:
                self._live -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def scoring(self, sink: list[tuple[list[int], list[float]]]) -> Iterator[None]:
        """Within this block, this thread's generate calls return the decoder's logits, and each result's
        tokens with their log probabilities go to ``sink`` (CTranslate2 returns logits for greedy search
        only: the caller decodes greedily)."""
        previous = getattr(self._local, "scores", None)
        self._local.scores = sink
        try:
            yield
        finally:
            self._local.scores = previous

    @contextlib.contextmanager
    def exact_prompts(self) -> Iterator[None]:
        """Within this block, this thread's prompts are never shortened to merge (hotwords in use)."""
        previous = getattr(self._local, "exact", False)
        self._local.exact = True
        try:
            yield
        finally:
            self._local.exact = previous

    def close(self) -> None:
        """Stop the batcher threads once the calls already waiting are done, then let go of the model."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join()
        self._model = None
        self._storage = _closed_storage

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._pending)

    # --- machinery --------------------------------------------------------------------------------

    def _shape(self, prompt: Sequence[int]) -> _PromptShape | None:
        """The parts of a prompt, or None for one this class does not know how to merge."""
        sot_prev, sot, no_timestamps = self._tokens
        try:
            sot_index = list(prompt).index(sot)
        except ValueError:
            return None
        if sot_index > 0 and prompt[0] != sot_prev:
            return None
        end = sot_index
        while end < len(prompt) and sot <= prompt[end] <= no_timestamps:
            end += 1
        if end != len(prompt):  # a prefix after the task tokens: leave it alone
            return None
        return _PromptShape(max(0, sot_index - 1), (end - sot_index, int(prompt[end - 1] == no_timestamps)))

    def _submit(self, call: _Call) -> Any:
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            self.stats.calls += 1
            self._pending.append(call)
            self._cond.notify()
        call.done.wait()
        if call.error is not None:
            raise call.error
        return call.result

    def _take(self) -> list[_Call] | None:
        """The oldest waiting call and every waiting call that can join it, up to ``max_batch`` rows."""
        with self._cond:
            while True:
                while not self._pending:
                    if self._closed:
                        return None
                    self._cond.wait()
                deadline = time.perf_counter() + self._gather
                while len(self._pending) + self._busy < self._live and not self._closed:
                    remaining = deadline - time.perf_counter()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if self._pending:  # another batcher thread may have taken them meanwhile
                    break
            first = self._pending[0]
            group = [first]
            rows = first.size
            for call in self._pending[1:]:
                if call.key == first.key and rows + call.size <= self.max_batch:
                    group.append(call)
                    rows += call.size
            taken = set(map(id, group))
            self._pending = [c for c in self._pending if id(c) not in taken]
            self._busy += len(group)
            return group

    def _serve(self) -> None:
        while (group := self._take()) is not None:
            started = time.perf_counter()
            try:
                outcomes = self._outcomes(group)
            except BaseException as exc:  # never leave a caller waiting, whatever happened
                outcomes = [(None, exc)] * len(group)
            with self._cond:
                self._busy -= len(group)
                self._gather = min(self.max_gather, 0.1 * (time.perf_counter() - started))
            for call, (result, error) in zip(group, outcomes, strict=True):
                call.result, call.error = result, error
                call.done.set()

    def _outcomes(self, group: list[_Call]) -> list[tuple[Any, BaseException | None]]:
        """Each call's result or error; a merged call that fails is retried call by call."""
        try:
            return [(result, None) for result in self._compute(group)]
        except Exception as exc:
            if len(group) == 1:
                return [(None, exc)]
        with self._cond:
            self.stats.fallbacks += 1
        return [self._outcomes([call])[0] for call in group]

    def _compute(self, group: list[_Call]) -> list[Any]:
        """One CTranslate2 call for the whole group; each call's share of the result, in order."""
        first = group[0]
        rows = [c.size for c in group]
        batch = first.inputs if len(group) == 1 else np.concatenate([c.inputs for c in group])
        features = self._storage(np.ascontiguousarray(batch))
        with self._cond:
            self.stats.batches += 1
            self.stats.items += sum(rows)
            self.stats.largest = max(self.stats.largest, sum(rows))
            if len(group) > 1:
                self.stats.merged_calls += len(group)
        if first.op == "encode":
            output = self._model.encode(features, to_cpu=self._to_cpu)
            if len(group) == 1:
                return [output]
            array = np.asarray(output)
            return [self._storage(part) for part in _split(array, rows)]
        if first.op == "detect_language":
            return _split(list(self._model.detect_language(features)), rows)
        prompts = [p for c in group for p in c.prompts or []]  # equal previous-text lengths: the key says
        results = list(self._model.generate(features, prompts, **first.kwargs))
        return _split(results, rows)


def context_bucket(length: int) -> int:
    """The longest previous text, among :data:`CONTEXT_BUCKETS`, that a prompt of ``length`` fills."""
    return max(bucket for bucket in CONTEXT_BUCKETS if bucket <= length)


def _recent(prompt: list[int], context: int, keep: int) -> list[int]:
    """``prompt`` with only the ``keep`` most recent of its ``context`` previous-text tokens."""
    if keep >= context:
        return prompt
    return [prompt[0], *prompt[1 + context - keep :]] if keep else prompt[1 + context :]


def special_tokens(tokenizer: Any) -> tuple[int, int, int]:
    """Ids of <|startofprev|>, <|startoftranscript|> and <|notimestamps|> in a Whisper tokenizer.

    English-only and multilingual vocabularies number them differently, and the CTranslate2 model does
    not expose its vocabulary, so they come from the model's ``tokenizer.json`` (a ``tokenizers`` object).
    """
    ids = [tokenizer.token_to_id(token) for token in (_SOT_PREV, _SOT, _NO_TIMESTAMPS)]
    if None in ids:
        raise ValueError("the tokenizer lacks Whisper's special tokens")
    return (int(ids[0]), int(ids[1]), int(ids[2]))


def _token_scores(result: Any) -> tuple[list[int], list[float]]:
    """A generation's tokens and the log probability the decoder gave each (log-softmax of its logits)."""
    tokens = [int(t) for t in result.sequences_ids[0]]
    steps = result.logits[0] if result.logits else []
    scores = []
    for token, logits in zip(tokens, steps, strict=False):
        values = np.asarray(logits, dtype=np.float64)
        top = values.max()
        scores.append(float(values[token] - top - np.log(np.exp(values - top).sum())))
    return tokens, scores


def _closed_storage(array: np.ndarray) -> Any:
    raise RuntimeError("the batcher is closed")


def _host_array(features: Any) -> np.ndarray | None:
    """The features as a host array to concatenate, or None when they live on a GPU."""
    if str(getattr(features, "device", "cpu")) != "cpu":
        return None
    array = np.asarray(features)
    return array if array.ndim == 3 else None


def _split(values: Any, rows: list[int]) -> list[Any]:
    parts = []
    start = 0
    for count in rows:
        parts.append(values[start : start + count])
        start += count
    return parts


def _frozen(kwargs: dict[str, Any]) -> Hashable:
    """Keyword arguments as a hashable value: calls merge only when they decode the same way."""
    items = []
    for name, value in sorted(kwargs.items()):
        if isinstance(value, list | tuple):
            value = tuple(value)
        items.append((name, value))
    return tuple(items)
