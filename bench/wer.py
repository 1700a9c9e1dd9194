"""Word error rate, for benchmarks and tests that must show no speed comes from worse text."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize", "wer"]

_PUNCT = re.compile(r"[^\w\s']|_")


def normalize(text: str) -> list[str]:
    """Lower-case words without punctuation, so "Americans," and "americans" compare equal."""
    folded = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")
    return [w.strip("'") for w in _PUNCT.sub(" ", folded).split() if w.strip("'")]


def wer(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over words divided by the reference length (0.0 is perfect)."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, hyp_word in enumerate(hyp, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
        previous = current
    return previous[-1] / len(ref)
