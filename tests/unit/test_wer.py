"""Word error rate (bench.wer), which tests and the benchmark share."""

from __future__ import annotations

from bench.wer import wer


def test_wer() -> None:
    assert wer("Ask not, what!", "ask not what") == 0.0
    assert wer("a b c d", "a x c") == 0.5
    assert wer("", "") == 0.0
