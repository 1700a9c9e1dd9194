"""Whether a model is multilingual, read from its vocabulary file, agrees with the loaded model."""

from __future__ import annotations

import json
from pathlib import Path

import ctranslate2
import pytest

from whisperd.engine.capabilities import MULTILINGUAL_VOCABULARY, is_multilingual, vocabulary_file
from whisperd.engine.catalog import ModelCatalog


@pytest.mark.parametrize("name", ["tiny.en", "base"])
def test_the_files_say_what_the_loaded_model_says(name: str, tmp_path: Path, cache_dir: Path) -> None:
    catalog = ModelCatalog(cache_dir, [])
    listed = catalog.find(name)  # base's packs are split: found in its package, nothing assembled
    from_files = is_multilingual(catalog.vocabulary(listed))
    folder = catalog.resolve(name).path
    assert folder is not None
    loaded = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="int8")
    assert from_files is loaded.is_multilingual
    assert from_files is (name == "base")
    assert is_multilingual(vocabulary_file(folder)) is from_files


def test_a_json_vocabulary_counts_its_tokens(tmp_path: Path) -> None:
    vocabulary = tmp_path / "vocabulary.json"
    vocabulary.write_text(json.dumps([f"t{n}" for n in range(MULTILINGUAL_VOCABULARY)]))
    assert vocabulary_file(tmp_path) == vocabulary
    assert is_multilingual(vocabulary) is True
    vocabulary.write_text(json.dumps([f"t{n}" for n in range(MULTILINGUAL_VOCABULARY - 1)]))
    assert is_multilingual(vocabulary) is False  # a replaced file is read again


def test_a_text_vocabulary_without_a_last_newline(tmp_path: Path) -> None:
    vocabulary = tmp_path / "vocabulary.txt"
    vocabulary.write_text("\n".join(f"t{n}" for n in range(MULTILINGUAL_VOCABULARY)))
    assert is_multilingual(vocabulary) is True


@pytest.mark.parametrize("content", [None, "{not json", '{"a": 1}'])
def test_unknown_when_missing_or_unreadable(content: str | None, tmp_path: Path) -> None:
    if content is None:
        assert vocabulary_file(tmp_path) is None
        assert is_multilingual(None) is None
        assert is_multilingual(tmp_path / "vocabulary.txt") is None
        return
    vocabulary = tmp_path / "vocabulary.json"
    vocabulary.write_text(content)
    assert is_multilingual(vocabulary) is None
