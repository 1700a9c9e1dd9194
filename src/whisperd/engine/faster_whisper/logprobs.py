"""Each output token's log probability, as the decoder gave it, attached to the segments it belongs to.

The batcher captures, for every generate call of a request that asked (``DecodeOptions.logprobs``), the
generated tokens and their log probabilities (log-softmax of CTranslate2's logits at the chosen token).
faster-whisper cuts each generation into segments at timestamp tokens and may retry a window at other
temperatures, so a segment's tokens are found as a contiguous run in the latest capture that holds
them. Timestamps and special tokens are left out, as OpenAI's ``logprobs`` hold text tokens only; each
entry's bytes are the token's own UTF-8 bytes (a character split across tokens is split there too).
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

from whisperd.engine.types import Segment, TokenLogprob

__all__ = ["attach", "token_bytes"]


@functools.cache
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level BPE alphabet back to bytes (Whisper's tokenizer writes bytes this way)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    characters = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            characters.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, characters, strict=True)}


def token_bytes(tokenizer: Any, token: int) -> bytes:
    """The bytes one token stands for."""
    piece = tokenizer.id_to_token(token) or ""
    decoder = _byte_decoder()
    return bytes(decoder[c] for c in piece if c in decoder)


def _find(tokens: list[int], captured: list[tuple[list[int], list[float]]]) -> list[float] | None:
    for sequence, scores in reversed(captured):
        for start in range(len(sequence) - len(tokens) + 1):
            if sequence[start : start + len(tokens)] == tokens:
                return scores[start : start + len(tokens)]
    return None


def attach(
    segments: list[Segment], captured: list[tuple[list[int], list[float]]], tokenizer: Any, first_special: int
) -> list[Segment]:
    """``segments`` with their text tokens' log probabilities (an empty list where none was captured)."""
    result = []
    for segment in segments:
        scores = _find(segment.tokens, captured) if segment.tokens else None
        entries: list[TokenLogprob] = []
        if scores is not None:
            for token, score in zip(segment.tokens, scores, strict=False):
                if token >= first_special:
                    continue
                raw = token_bytes(tokenizer, token)
                entries.append(TokenLogprob(raw.decode("utf-8", "replace"), list(raw), score))
        result.append(replace(segment, logprobs=entries))
    return result
