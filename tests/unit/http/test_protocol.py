"""Form fields to validated parameters: OpenAI's names, lists with ``[]``, a 400 naming the bad field."""

from __future__ import annotations

import pytest

from whisperd.errors import InvalidParameter
from whisperd.http.protocol import form_schema, parse_params


def test_defaults() -> None:
    params = parse_params({}, translation=False)
    assert params.model == "whisper-1"
    assert params.response_format == "json"
    assert params.temperature == 0.0
    assert params.timestamp_granularities == []


def test_list_fields_and_last_value_wins() -> None:
    params = parse_params(
        {"timestamp_granularities[]": ["word", "segment"], "response_format": ["json", "verbose_json"]},
        translation=False,
    )
    assert params.timestamp_granularities == ["word", "segment"]
    assert params.response_format == "verbose_json"


@pytest.mark.parametrize(("value", "code"), [("en", "en"), ("English", "en"), ("DE", "de"), ("", None)])
def test_language_codes_and_names(value: str, code: str | None) -> None:
    assert parse_params({"language": [value]}, translation=False).language == code


def test_translation_ignores_language() -> None:
    assert parse_params({"language": ["klingon"]}, translation=True).language is None


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"temperature": ["1.5"]}, "temperature"),
        ({"response_format": ["mp3"]}, "response_format"),
        (
            {"timestamp_granularities[]": ["char"], "response_format": ["verbose_json"]},
            "timestamp_granularities",
        ),
        ({"language": ["xx"]}, "language"),
        ({"model": ["m" * 300]}, "model"),
    ],
)
def test_bad_values_name_their_param(fields: dict[str, list[str]], param: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_params(fields, translation=False)
    assert caught.value.param == param
    assert caught.value.status == 400


def test_form_schema_lists_openai_field_names() -> None:
    props = form_schema(translation=False)["content"]["multipart/form-data"]["schema"]["properties"]
    assert "timestamp_granularities[]" in props
    assert props["file"]["format"] == "binary"
