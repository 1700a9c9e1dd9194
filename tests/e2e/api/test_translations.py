"""Translation to English and language detection, on the multilingual ``base`` model."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from bench.wer import normalize
from openai.types.audio import Translation, TranslationVerbose

from tests.support.media import german_speech, upload
from tests.support.servers import RunningServer, start_server

# openai 3.x marks audio.translations.create as deprecated (it still sends the request); whisper-1 clients
# still call it, so it must keep working.
pytestmark = pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def base_client(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[openai.OpenAI]:
    running: RunningServer = start_server(tmp_path_factory.mktemp("base"), model="base")
    with openai.OpenAI(base_url=running.api_url, api_key="x", max_retries=0, timeout=120) as sdk:
        yield sdk
    running.stop(signal.SIGTERM)


@pytest.fixture(scope="module")
def german(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return german_speech(tmp_path_factory.mktemp("speech") / "de.wav")


def test_detects_german(base_client: openai.OpenAI, german: Path) -> None:
    result = base_client.audio.transcriptions.create(
        model="whisper-1", file=upload(german), response_format="verbose_json"
    )
    assert result.language == "german"
    assert {"software", "dokumentationsdateien", "genehmigung"} <= set(normalize(result.text))


def test_translates_to_english(base_client: openai.OpenAI, german: Path) -> None:
    result = base_client.audio.translations.create(model="whisper-1", file=upload(german))
    assert isinstance(result, Translation)
    words = set(normalize(result.text))
    assert {"software", "documentation", "right"} <= words
    assert not words & {"der", "die", "und", "genehmigung"}


def test_translation_verbose_json(base_client: openai.OpenAI, german: Path) -> None:
    result = base_client.audio.translations.create(
        model="whisper-1", file=upload(german), response_format="verbose_json"
    )
    assert isinstance(result, TranslationVerbose)
    assert result.language == "english"
    assert result.segments
    assert result.model_dump()["task"] == "translate"


def test_translation_srt(base_client: openai.OpenAI, german: Path) -> None:
    import srt

    body = base_client.audio.translations.create(
        model="whisper-1", file=upload(german), response_format="srt"
    )
    assert "documentation" in " ".join(c.content for c in srt.parse(body)).lower()
