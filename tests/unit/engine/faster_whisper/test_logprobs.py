"""Log probabilities found for each segment's tokens, and tokens turned back into their bytes."""

from __future__ import annotations

from whisperd.engine.faster_whisper.logprobs import attach, token_bytes
from whisperd.engine.types import Segment

SPECIAL = 50257


class _Tokenizer:
    """GPT-2 byte-level pieces, as Whisper's tokenizer stores them."""

    def id_to_token(self, token: int) -> str | None:
        return {1: "ĠAsk", 2: "Ġnot", 3: "Ġcaf", 4: "Ã©", 5: "."}.get(token)


def _segment(tokens: list[int]) -> Segment:
    return Segment(
        id=0,
        seek=0,
        start=0.0,
        end=1.0,
        text="",
        tokens=tokens,
        temperature=0.0,
        avg_logprob=0.0,
        compression_ratio=1.0,
        no_speech_prob=0.0,
    )


def test_pieces_are_turned_back_into_utf8_bytes() -> None:
    tokenizer = _Tokenizer()
    assert token_bytes(tokenizer, 1) == b" Ask"
    assert token_bytes(tokenizer, 4) == "é".encode()
    assert token_bytes(tokenizer, 99) == b""


def test_each_segment_takes_its_run_from_the_latest_capture_and_drops_special_tokens() -> None:
    first_try = ([SPECIAL + 10, 1, 2, 5], [-0.0, -5.0, -5.0, -5.0])  # a window later retried
    retried = ([SPECIAL + 10, 1, 2, SPECIAL + 20, 3, 4, 5], [-0.0, -0.1, -0.2, -0.0, -0.3, -0.4, -0.5])
    segments = [_segment([1, 2, SPECIAL + 20]), _segment([3, 4, 5])]
    first, second = attach(segments, [first_try, retried], _Tokenizer(), SPECIAL)
    assert [(e.token, e.logprob) for e in first.logprobs or []] == [(" Ask", -0.1), (" not", -0.2)]
    assert [(e.token, e.bytes, e.logprob) for e in second.logprobs or []] == [
        (" caf", list(b" caf"), -0.3),
        ("é", list("é".encode()), -0.4),
        (".", list(b"."), -0.5),
    ]


def test_a_segment_with_no_capture_gets_an_empty_list() -> None:
    (segment,) = attach([_segment([2, 1])], [([1, 2], [-0.1, -0.2])], _Tokenizer(), SPECIAL)
    assert segment.logprobs == []
