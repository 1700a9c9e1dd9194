"""Partial text that does not flicker: only words that two successive decodes agree on are shown.

While a person speaks, the growing utterance is decoded again every few hundred milliseconds; the
latest words of each decode are often wrong (cut mid-word, revised once more audio arrives). The
LocalAgreement-2 policy of whisper_streaming (Macháček et al., 2023) shows a word only once two
successive decodes agree on it and on every word before it; shown words are never taken back, and a
decode that revised one of them still counts from after it. Words
are compared without case and punctuation (``country,`` and ``country`` agree), and shown as the newer
decode wrote them.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

__all__ = ["Agreement", "words"]

_PUNCTUATION = re.compile(r"[^\w']+")


def words(text: str) -> list[str]:
    """The words of a decode, as written."""
    return text.split()


def _key(word: str) -> str:
    return _PUNCTUATION.sub("", unicodedata.normalize("NFKC", word).lower())


class Agreement:
    """The shown words of one utterance, grown from successive decodes of it."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self._previous: list[str] = []

    def update(self, text: str) -> str:
        """Take a new decode of the whole utterance; returns the delta to show (may be "").

        The words each of the two latest decodes has after the shown ones are compared, and the prefix
        they share is shown (LocalAgreement-2). A decode that revised a shown word still counts, from
        after it: one misheard word shown does not hold back the rest of the utterance.
        """
        current = words(text)
        new, before = self._after_shown(current), self._after_shown(self._previous)
        self._previous = current
        stable = 0
        while stable < min(len(new), len(before)) and _key(new[stable]) == _key(before[stable]):
            stable += 1
        return self._show(new[:stable])

    def complete(self, text: str) -> str:
        """The final decode: the delta that completes the shown words with what it has after them.

        Shown words stand even where the final decode revised them (a client may have built its text
        from the deltas), so the deltas always join into :attr:`text`.
        """
        return self._show(self._after_shown(words(text)))

    @property
    def text(self) -> str:
        """Every delta so far, joined."""
        return " ".join(self.shown)

    def _after_shown(self, decoded: list[str]) -> list[str]:
        """The words of ``decoded`` after those already shown.

        Usually ``decoded`` begins with the shown words. Where it revised some, the two are aligned
        (longest matching runs, compared as in agreement), and the shown words after the last run stand
        for the decoded words closest to them in length ("am I" for "my", "I scream" for "Ice cream").
        """
        shown = self.shown
        if len(decoded) >= len(shown) and all(
            _key(a) == _key(b) for a, b in zip(shown, decoded, strict=False)
        ):
            return decoded[len(shown) :]
        matcher = SequenceMatcher(a=[_key(w) for w in shown], b=[_key(w) for w in decoded], autojunk=False)
        runs = [run for run in matcher.get_matching_blocks() if run.size]
        shown_end, decoded_end = (runs[-1].a + runs[-1].size, runs[-1].b + runs[-1].size) if runs else (0, 0)
        unmatched = len(" ".join(shown[shown_end:]))
        rest = decoded[decoded_end:]
        taken = min(range(len(rest) + 1), key=lambda n: (abs(len(" ".join(rest[:n])) - unmatched), n))
        return rest[taken:]

    def _show(self, new: list[str]) -> str:
        if not new:
            return ""
        delta = " ".join(new)
        if self.shown:
            delta = " " + delta
        self.shown.extend(new)
        return delta
