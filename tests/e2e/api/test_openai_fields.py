"""The rest of OpenAI's transcription fields, through the official SDK: each is accepted and acts.

A multilingual ``base`` server with reproducible decoding (no random temperature fallback).
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from bench.wer import wer
from openai.types.audio import TranscriptionTextDeltaEvent, TranscriptionTextDoneEvent

from tests.support.media import JFK_TEXT, german_speech, upload
from tests.support.servers import RunningServer, start_server


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("fields"), model="base", extra_env={"WHISPERD_TEMPERATURE_FALLBACK": "false"}
    )
    yield running
    running.stop(signal.SIGTERM)


@pytest.fixture
def sdk(base: RunningServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=base.api_url, api_key="x", max_retries=0, timeout=120) as client:
        yield client


def test_keywords_guide_spelling(sdk: openai.OpenAI, audio: Path) -> None:
    clip = upload(audio / "hotwords.mp3")
    plain = sdk.audio.transcriptions.create(model="whisper-1", file=clip).text
    guided = sdk.audio.transcriptions.create(model="whisper-1", file=clip, keywords=["ComfyUI"])
    assert "ComfyUI" not in plain  # the model alone does not know the name
    assert "ComfyUI" in guided.text


def test_languages_limit_detection_and_are_reported(sdk: openai.OpenAI, tmp_path: Path) -> None:
    german = upload(german_speech(tmp_path / "de.wav"))
    among = sdk.audio.transcriptions.create(model="whisper-1", file=german, languages=["en", "de"])
    assert among.model_dump()["languages"] == [{"code": "de"}]
    forced = sdk.audio.transcriptions.create(model="whisper-1", file=german, languages=["en", "fr"])
    assert forced.model_dump()["languages"][0]["code"] in {"en", "fr"}  # German was not a candidate
    plain = sdk.audio.transcriptions.create(model="whisper-1", file=german)
    assert "languages" not in plain.model_dump(exclude_unset=True)


def test_logprobs_are_the_decoders_and_match_the_text(sdk: openai.OpenAI, jfk: Path) -> None:
    result = sdk.audio.transcriptions.create(model="whisper-1", file=upload(jfk), include=["logprobs"])
    assert result.logprobs
    assert wer(JFK_TEXT, result.text) < 0.1
    assert "".join(entry.token or "" for entry in result.logprobs).strip() == result.text
    for entry in result.logprobs:
        assert entry.logprob is not None
        assert entry.logprob <= 0.0
        assert bytes(int(b) for b in entry.bytes or []).decode() == entry.token
    assert min(entry.logprob or 0.0 for entry in result.logprobs) > -20  # real scores, not placeholders
    assert len({round(entry.logprob or 0.0, 6) for entry in result.logprobs}) > 5


def test_logprobs_stream_with_the_deltas(sdk: openai.OpenAI, jfk: Path) -> None:
    events = list(
        sdk.audio.transcriptions.create(
            model="whisper-1", file=upload(jfk), include=["logprobs"], stream=True
        )
    )
    deltas = [e for e in events if isinstance(e, TranscriptionTextDeltaEvent)]
    done = events[-1]
    assert isinstance(done, TranscriptionTextDoneEvent)
    assert all(e.logprobs for e in deltas)
    assert done.logprobs is not None
    assert sum(len(e.logprobs or []) for e in deltas) == len(done.logprobs)


def test_chunking_strategy_cuts_long_audio_where_it_says(
    base: RunningServer, tmp_path: Path, audio: Path
) -> None:
    from tests.support.media import long_speech

    clip = long_speech(tmp_path / "jfk-x4.wav", 4)
    strategies: list[Any] = [
        "auto",
        {"type": "server_vad", "threshold": 0.6, "silence_duration_ms": 300, "prefix_padding_ms": 200},
    ]
    for strategy in strategies:
        with openai.OpenAI(base_url=base.api_url, api_key="x", max_retries=0, timeout=300) as sdk:
            result = sdk.audio.transcriptions.create(
                model="whisper-1",
                file=upload(clip),
                chunking_strategy=strategy,
                response_format="verbose_json",
            )
        assert wer(" ".join([JFK_TEXT] * 4), result.text) < 0.15, strategy


def _post(server: RunningServer, path: Path, **data: Any) -> httpx.Response:
    """Send form fields the way curl's repeated ``-F name=value`` does, lists included."""
    parts: list[tuple[str, Any]] = [("file", upload(path))]
    for name, values in data.items():
        for value in values if isinstance(values, list) else [values]:
            parts.append((name, (None, value)))
    return httpx.post(f"{server.api_url}/audio/transcriptions", files=parts, timeout=60)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"chunking_strategy": "sometimes"}, "chunking_strategy"),
        ({"chunking_strategy[type]": "server_vad", "chunking_strategy[threshold]": "0.1"}, "chunking_strategy"),
        ({"chunking_strategy": json.dumps({"type": "server_vad", "silence_duration_ms": 9000})}, "chunking_strategy"),
        ({"languages[]": ["en", "klingon"]}, "languages"),
        ({"include[]": "logprobs", "response_format": "verbose_json"}, "include"),
        ({"model": "gpt-4o-transcribe-diarize", "prompt": "names"}, "prompt"),
        ({"model": "gpt-4o-transcribe-diarize", "response_format": "verbose_json"}, "response_format"),
        ({"model": "gpt-4o-transcribe-diarize", "response_format": "diarized_json", "include[]": "logprobs"}, "include"),
        ({"model": "whisper-1", "response_format": "diarized_json"}, "response_format"),
        ({"known_speaker_names[]": ["agent"]}, "known_speaker_references"),
    ],
)  # fmt: skip
def test_what_openai_refuses_is_refused_with_the_same_param(
    base: RunningServer, jfk: Path, fields: dict[str, Any], param: str
) -> None:
    response = _post(base, jfk, **fields)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert response.headers["x-should-retry"] == "false"


def test_the_newest_model_names_are_aliases(sdk: openai.OpenAI, jfk: Path) -> None:
    for name in (
        "gpt-transcribe",
        "gpt-live-transcribe",
        "gpt-realtime-whisper",
        "gpt-4o-mini-transcribe-2025-12-15",
    ):
        assert wer(JFK_TEXT, sdk.audio.transcriptions.create(model=name, file=upload(jfk)).text) < 0.1
    listed = {m.id for m in sdk.models.list()}
    assert {"gpt-transcribe", "gpt-live-transcribe", "gpt-realtime-whisper"} <= listed
