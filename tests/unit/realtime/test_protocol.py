"""Session configuration in both of OpenAI's shapes, and the effective session echoed in each."""

from __future__ import annotations

import pytest

from whisperd.errors import InvalidParameter
from whisperd.realtime.protocol import InputFormat, SessionConfig, apply_beta, apply_ga, session_payload


def test_ga_update_changes_only_what_it_names() -> None:
    config = apply_ga(
        SessionConfig(),
        {
            "type": "transcription",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcmu"},
                    "transcription": {"model": "gpt-4o-transcribe", "language": "German", "prompt": "Namen"},
                    "turn_detection": {"type": "server_vad", "silence_duration_ms": 700},
                }
            },
        },
    )
    assert config.format == InputFormat("mulaw", 8000)
    assert (config.model, config.language, config.prompt) == ("gpt-4o-transcribe", "de", "Namen")
    assert config.turns is not None
    assert config.turns.silence_duration_ms == 700
    assert config.turns.threshold == 0.5
    again = apply_ga(config, {"type": "transcription", "audio": {"input": {"turn_detection": None}}})
    assert again.turns is None
    assert again.model == "gpt-4o-transcribe"
    payload = session_payload(again, "ga")
    assert payload["type"] == "transcription"
    assert payload["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert payload["audio"]["input"]["turn_detection"] is None


def test_semantic_vad_is_served_by_server_vad_and_echoed() -> None:
    config = apply_ga(
        SessionConfig(),
        {"audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "high"}}}},
    )
    assert config.turns is not None
    assert config.turns.silence_duration_ms == 400
    assert session_payload(config, "ga")["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad",
        "eagerness": "high",
    }


def test_beta_update_and_payload() -> None:
    config = apply_beta(
        SessionConfig(),
        {
            "input_audio_format": "g711_alaw",
            "input_audio_transcription": {"model": "whisper-1", "language": "en"},
        },
    )
    assert config.format == InputFormat("alaw", 8000)
    payload = session_payload(config, "beta")
    assert payload["object"] == "realtime.transcription_session"
    assert payload["input_audio_format"] == "g711_alaw"
    assert payload["input_audio_transcription"]["language"] == "en"


@pytest.mark.parametrize(
    ("session", "param"),
    [
        ({"type": "realtime"}, "session.type"),
        ({"audio": {"input": {"format": {"type": "audio/flac"}}}}, "session.audio.input.format.type"),
        ({"audio": {"input": {"format": {"type": "audio/pcm", "rate": 11025}}}}, "session.audio.input.format.rate"),
        ({"audio": {"input": {"transcription": {"language": "klingon"}}}}, "session.audio.input.transcription.language"),
        ({"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 2}}}}, "session.audio.input.turn_detection.threshold"),
        ("not an object", "session"),
    ],
)  # fmt: skip
def test_bad_settings_name_their_param(session: object, param: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        apply_ga(SessionConfig(), session)
    assert caught.value.param == param
