"""The official openai client against a real server: every response format, words, encodings."""

from __future__ import annotations

import itertools
from pathlib import Path

import httpx
import openai
import pytest
import srt
import webvtt
from bench.wer import normalize, wer
from openai.types.audio import Transcription, TranscriptionVerbose

from tests.support.media import JFK_TEXT, encode, upload
from tests.support.servers import RunningServer

JFK_SECONDS = 11.0


def test_json_is_the_sdk_transcription(client: openai.OpenAI, jfk: Path) -> None:
    result = client.audio.transcriptions.create(model="whisper-1", file=upload(jfk))
    assert isinstance(result, Transcription)
    assert wer(JFK_TEXT, result.text) < 0.1
    assert result.usage is not None
    assert result.usage.type == "duration"
    assert result.usage.seconds == pytest.approx(JFK_SECONDS, abs=1)


def test_text_is_a_raw_body(client: openai.OpenAI, jfk: Path, server: RunningServer) -> None:
    text = client.audio.transcriptions.create(model="whisper-1", file=upload(jfk), response_format="text")
    assert isinstance(text, str)
    assert not text.lstrip().startswith("{")
    assert wer(JFK_TEXT, text) < 0.1
    raw = httpx.post(
        f"{server.api_url}/audio/transcriptions",
        files={"file": upload(jfk)},
        data={"response_format": "text"},
        timeout=60,
    )
    assert raw.headers["content-type"].startswith("text/plain")


def test_srt_parses_with_an_independent_parser(client: openai.OpenAI, jfk: Path) -> None:
    body = client.audio.transcriptions.create(model="whisper-1", file=upload(jfk), response_format="srt")
    cues = list(srt.parse(body))
    assert cues, body
    assert cues[0].index == 1
    assert all(c.start <= c.end for c in cues)
    assert cues[-1].end.total_seconds() <= JFK_SECONDS + 0.5
    assert wer(JFK_TEXT, " ".join(c.content for c in cues)) < 0.1


def test_vtt_parses_with_an_independent_parser(client: openai.OpenAI, jfk: Path) -> None:
    body = client.audio.transcriptions.create(model="whisper-1", file=upload(jfk), response_format="vtt")
    assert body.startswith("WEBVTT")
    captions = webvtt.from_string(body).captions
    assert captions
    assert all(c.start_in_seconds <= c.end_in_seconds for c in captions)
    assert wer(JFK_TEXT, " ".join(c.text for c in captions)) < 0.1


def test_verbose_json_has_every_field(client: openai.OpenAI, jfk: Path) -> None:
    result = client.audio.transcriptions.create(
        model="whisper-1",
        file=upload(jfk),
        response_format="verbose_json",
        timestamp_granularities=["segment", "word"],
    )
    assert isinstance(result, TranscriptionVerbose)
    raw = result.model_dump()
    assert {"task", "language", "duration", "text", "segments", "words", "usage"} <= raw.keys()
    assert raw["task"] == "transcribe"
    assert result.language == "english"
    assert result.duration == pytest.approx(JFK_SECONDS, abs=0.1)
    assert result.segments
    ten = {"id", "seek", "start", "end", "text", "tokens", "temperature", "avg_logprob", "compression_ratio",
           "no_speech_prob"}  # fmt: skip
    for index, segment in enumerate(result.segments):
        assert set(segment.model_dump()) == ten
        assert segment.id == index
        assert segment.tokens
    assert result.usage is not None
    assert result.usage.seconds == pytest.approx(JFK_SECONDS, abs=1)


def test_word_timestamps_are_ordered_and_inside_the_audio(client: openai.OpenAI, jfk: Path) -> None:
    result = client.audio.transcriptions.create(
        model="whisper-1", file=upload(jfk), response_format="verbose_json", timestamp_granularities=["word"]
    )
    words = result.words or []
    assert len(words) >= 20
    assert normalize(" ".join(w.word for w in words)) == normalize(result.text)
    for previous, word in itertools.pairwise(words):
        assert previous.start <= word.start
    for word in words:
        assert 0 <= word.start <= word.end <= JFK_SECONDS + 0.01
        assert word.word == word.word.strip()


def test_segment_only_verbose_json_has_no_words(client: openai.OpenAI, jfk: Path) -> None:
    result = client.audio.transcriptions.create(
        model="whisper-1", file=upload(jfk), response_format="verbose_json"
    )
    assert result.words is None
    assert result.segments


@pytest.mark.parametrize(
    ("suffix", "codec", "container"),
    [
        (".ogg", "libopus", "ogg"),
        (".mp3", "libmp3lame", "mp3"),
        (".m4a", "aac", "mp4"),
        (".webm", "libopus", "webm"),
    ],
)
def test_other_encodings_give_the_same_text(
    client: openai.OpenAI, jfk: Path, tmp_path: Path, suffix: str, codec: str, container: str
) -> None:
    reference = client.audio.transcriptions.create(model="whisper-1", file=upload(jfk)).text
    encoded = encode(jfk, tmp_path / f"jfk{suffix}", codec, container=container)
    # named .bin and sent as octet-stream: the server must go by content, not by name or type
    result = client.audio.transcriptions.create(
        model="whisper-1", file=("voice.bin", encoded.read_bytes(), "application/octet-stream")
    )
    assert normalize(result.text) == normalize(reference)


def test_stereo_is_mixed_down(client: openai.OpenAI, audio: Path) -> None:
    text = client.audio.transcriptions.create(
        model="whisper-1", file=upload(audio / "stereo_diarization.wav"), response_format="text"
    )
    # the two speakers talk at once, so the mix is hard to read; the louder left channel comes through
    assert {"vanish", "vanished", "curtain", "behind"} & set(normalize(text))


def test_prompt_is_accepted_and_language_forces_decoding(client: openai.OpenAI, jfk: Path) -> None:
    result = client.audio.transcriptions.create(
        model="whisper-1", file=upload(jfk), language="en", prompt="Inaugural address, 1961.", temperature=0
    )
    assert wer(JFK_TEXT, result.text) < 0.15


def test_model_names_alias_and_direct(client: openai.OpenAI, jfk: Path) -> None:
    for name in ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "tiny.en"):
        assert wer(JFK_TEXT, client.audio.transcriptions.create(model=name, file=upload(jfk)).text) < 0.1


def test_unknown_fields_are_ignored(server: RunningServer, jfk: Path) -> None:
    response = httpx.post(
        f"{server.api_url}/audio/transcriptions",
        files={"file": upload(jfk)},
        data={
            "model": "whisper-1",
            "include[]": "logprobs",
            "chunking_strategy": "auto",
            "something_new": "1",
        },
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert wer(JFK_TEXT, response.json()["text"]) < 0.1


def test_request_id_is_echoed_and_logged(server: RunningServer, jfk: Path) -> None:
    response = httpx.post(
        f"{server.api_url}/audio/transcriptions",
        files={"file": ("my voice note.flac", jfk.read_bytes())},
        headers={"X-Request-ID": "test-req-42"},
        timeout=60,
    )
    assert response.headers["x-request-id"] == "test-req-42"
    generated = httpx.get(f"{server.url}/health").headers["x-request-id"]
    assert len(generated) >= 16
    line = next(ln for ln in server.log_file.read_text().splitlines() if "request_id=test-req-42" in ln)
    for key in (
        "status=200",
        "file=my voice note.flac",
        "bytes=",
        "audio_s=",
        "language=en",
        "elapsed_s=",
        "rtf=",
    ):
        assert key in line
    assert "country" not in line  # transcripts are not logged by default
