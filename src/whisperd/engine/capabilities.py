"""What a model can do, read from its own files without loading it.

Whether a Whisper model knows more than English is a property of its vocabulary: a multilingual
model's has at least 51,865 tokens (the language tokens among them), an English-only model's 51,864.
That is the rule OpenAI's whisper (``is_multilingual``: ``n_vocab >= 51865``) and CTranslate2 apply when
they load a model, so reading it from the file gives the loaded model's answer before anything is
loaded: a job's submit and Wyoming's ``describe`` need it for models that are not resident. A model's
name is never consulted: an operator may give an English-only model any name.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

__all__ = ["MULTILINGUAL_VOCABULARY", "VOCABULARY_FILES", "is_multilingual", "vocabulary_file"]

MULTILINGUAL_VOCABULARY = 51865
"""The fewest tokens a multilingual Whisper vocabulary has."""

VOCABULARY_FILES = ("vocabulary.json", "vocabulary.txt")
"""The names CTranslate2 gives a converted model's vocabulary (a JSON list, or one token per line)."""


def vocabulary_file(folder: Path) -> Path | None:
    """The vocabulary file in the model folder ``folder``, if it has one."""
    for name in VOCABULARY_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def is_multilingual(vocabulary: Path | None) -> bool | None:
    """Whether the model whose vocabulary is ``vocabulary`` knows more than English; None when the file
    is missing or unreadable (such a model would not load either). File I/O, read once per version of the
    file: call it from a thread."""
    if vocabulary is None:
        return None
    try:
        stat = vocabulary.stat()
    except OSError:
        return None
    size = _vocabulary_size(str(vocabulary), stat.st_mtime_ns, stat.st_size)
    return None if size is None else size >= MULTILINGUAL_VOCABULARY


@functools.lru_cache(maxsize=64)
def _vocabulary_size(path: str, mtime_ns: int, size: int) -> int | None:
    """The number of tokens in the vocabulary at ``path`` (cached per modification time and size)."""
    del mtime_ns, size  # the cache key: a replaced file is read again
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if path.endswith(".json"):
        try:
            tokens = json.loads(data)
        except ValueError:
            return None
        return len(tokens) if isinstance(tokens, list) else None
    lines = data.split(b"\n")
    return len(lines) - 1 if lines[-1] == b"" else len(lines)
