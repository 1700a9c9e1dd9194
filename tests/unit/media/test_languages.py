"""Language codes and the names OpenAI reports."""

from __future__ import annotations

from whisperd.media.languages import language_code, language_name


def test_languages() -> None:
    assert language_code("German") == "de"
    assert language_code("yue") == "yue"
    assert language_code("elvish") is None
    assert language_name("en") == "english"
    assert language_name("zz") == "zz"
