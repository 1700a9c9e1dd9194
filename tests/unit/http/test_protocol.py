"""Form fields to validated parameters: OpenAI's names, lists with ``[]``, a 400 naming the bad field."""

from __future__ import annotations

import pytest

from whisperd.errors import InvalidParameter
from whisperd.http.protocol import ServerVadChunking, check_diarization, form_schema, parse_params


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


@pytest.mark.parametrize(
    "fields",
    [
        {"chunking_strategy[type]": ["server_vad"], "chunking_strategy[threshold]": ["0.6"]},
        {"chunking_strategy": ['{"type": "server_vad", "threshold": 0.6}']},
    ],
)
def test_chunking_strategy_as_the_sdk_sends_it_or_as_json(fields: dict[str, list[str]]) -> None:
    strategy = parse_params(fields, translation=False).chunking_strategy
    assert strategy == ServerVadChunking(type="server_vad", threshold=0.6)
    assert (strategy.prefix_padding_ms, strategy.silence_duration_ms) == (300, 500)


def test_chunking_strategy_auto_and_absent() -> None:
    assert parse_params({"chunking_strategy": ["auto"]}, translation=False).chunking_strategy == "auto"
    assert parse_params({}, translation=False).chunking_strategy is None


@pytest.mark.parametrize(
    "fields",
    [
        {"chunking_strategy": ["sometimes"]},
        {"chunking_strategy": ["{not json"]},
        {"chunking_strategy[type]": ["client_vad"]},
        {"chunking_strategy[type]": ["server_vad"], "chunking_strategy[silence_duration_ms]": ["9000"]},
        {"chunking_strategy[type]": ["server_vad"], "chunking_strategy[speed]": ["2"]},
    ],
)
def test_bad_chunking_strategies_are_refused(fields: dict[str, list[str]]) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_params(fields, translation=False)
    assert caught.value.param == "chunking_strategy"


def test_languages_are_normalised_and_checked() -> None:
    params = parse_params(
        {"languages[]": ["English", "DE"], "keywords[]": ["ComfyUI", ""]}, translation=False
    )
    assert params.languages == ["en", "de"]
    assert params.keywords == ["ComfyUI"]
    with pytest.raises(InvalidParameter) as caught:
        parse_params({"languages[]": ["en", "klingon"]}, translation=False)
    assert caught.value.param == "languages"


def test_logprobs_only_with_json() -> None:
    assert parse_params({"include[]": ["logprobs"]}, translation=False).include == ["logprobs"]
    with pytest.raises(InvalidParameter) as caught:
        parse_params({"include[]": ["logprobs"], "response_format": ["text"]}, translation=False)
    assert caught.value.param == "include"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"known_speaker_names[]": ["a", "b"], "known_speaker_references[]": ["x"]}, "known_speaker_references"),
        ({"known_speaker_names[]": ["a", "a"], "known_speaker_references[]": ["x", "y"]}, "known_speaker_names"),
        ({"known_speaker_names[]": list("abcde"), "known_speaker_references[]": list("vwxyz")}, "known_speaker_names"),
    ],
)  # fmt: skip
def test_known_speakers_come_in_pairs(fields: dict[str, list[str]], param: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_params(fields, translation=False)
    assert caught.value.param == param


@pytest.mark.parametrize(
    ("fields", "diarize", "param"),
    [
        ({"response_format": ["diarized_json"]}, False, "response_format"),
        ({"prompt": ["names"]}, True, "prompt"),
        ({"response_format": ["srt"]}, True, "response_format"),
        ({"timestamp_granularities[]": ["word"], "response_format": ["verbose_json"]}, True, "timestamp_granularities"),
    ],
)  # fmt: skip
def test_what_the_diarization_model_refuses(fields: dict[str, list[str]], diarize: bool, param: str) -> None:
    params = parse_params(fields, translation=False)
    with pytest.raises(InvalidParameter) as caught:
        check_diarization(params, diarize)
    assert caught.value.param == param


def test_what_the_diarization_model_accepts() -> None:
    for fmt in ("json", "text", "diarized_json"):
        check_diarization(parse_params({"response_format": [fmt]}, translation=False), True)
