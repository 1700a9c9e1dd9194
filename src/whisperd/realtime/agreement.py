"""Partial text that does not flicker: only words that two successive decodes agree on are shown.

While a person speaks, the growing utterance is decoded again every few hundred milliseconds; the
latest words of each decode are often wrong (cut mid-word, revised once more audio arrives). The
LocalAgreement-2 policy of whisper_streaming (Macháček et al., 2023) shows a word only once two
successive decodes agree on it and on every word before it; shown words are never taken back. Words
are compared without case and punctuation (``country,`` and ``country`` agree), and shown as the newer
decode wrote them.
"""

from __future__ import annotations

import re
import unicodedata

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
        """Take a new decode of the whole utterance; returns the delta to show (may be "")."""
        current = words(text)
        if not self._agrees_with_shown(current):
            self._previous = current
            return ""  # the new decode revises what was shown: wait for it to settle
        stable = 0  # the longest prefix the two latest decodes share (LocalAgreement-2)
        limit = min(len(current), len(self._previous))
        while stable < limit and _key(current[stable]) == _key(self._previous[stable]):
            stable += 1
        self._previous = current
        return self._show(current[len(self.shown) : stable]) if stable > len(self.shown) else ""

    def finish(self, text: str) -> str:
        """The final decode: the delta that completes the shown words into it, when it extends them.

        When it does not (it revised a shown word), nothing more is shown; the completed transcript
        that follows is authoritative.
        """
        final = words(text)
        if not self._agrees_with_shown(final):
            return ""
        return self._show(final[len(self.shown) :])

    def _agrees_with_shown(self, current: list[str]) -> bool:
        if len(current) < len(self.shown):
            return False
        return all(_key(a) == _key(b) for a, b in zip(self.shown, current, strict=False))

    def _show(self, new: list[str]) -> str:
        if not new:
            return ""
        delta = " ".join(new)
        if self.shown:
            delta = " " + delta
        self.shown.extend(new)
        return delta
