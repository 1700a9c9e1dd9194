"""``stream=true``: Server-Sent Events as OpenAI sends them, consumed by the official SDK's iterator."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from bench.wer import wer
from openai.types.audio import TranscriptionTextDeltaEvent, TranscriptionTextDoneEvent

from tests.support.media import JFK_TEXT, upload
from tests.support.servers import RunningServer
from whisperd.media.audio import decode_file

COPIES = 5


@pytest.fixture(scope="module")
def long_speech(jfk: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 70 s: five copies of the JFK recording with 3 s pauses, so that it is cut into chunks."""
    speech = decode_file(jfk, max_seconds=60, max_decode_seconds=60).samples
    gap = np.zeros(3 * 16_000, dtype=np.float32)
    samples = np.concatenate([part for _ in range(COPIES) for part in (gap, speech)])
    path = tmp_path_factory.mktemp("streaming") / "five-times.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def events(client: openai.OpenAI, path: Path) -> list[object]:
    stream = client.audio.transcriptions.create(
        model="whisper-1", file=upload(path), stream=True, temperature=0
    )
    return list(stream)


def test_the_sdk_iterates_deltas_then_one_done(client: openai.OpenAI, jfk: Path) -> None:
    received = events(client, jfk)
    assert len(received) >= 2
    *deltas, done = received
    assert all(isinstance(e, TranscriptionTextDeltaEvent) for e in deltas)
    assert isinstance(done, TranscriptionTextDoneEvent)
    text = "".join(e.delta for e in deltas if isinstance(e, TranscriptionTextDeltaEvent))
    assert text.strip() == done.text
    assert not text.startswith(" ")
    assert wer(JFK_TEXT, done.text) < 0.1


def test_streamed_text_is_the_plain_answer(client: openai.OpenAI, jfk: Path) -> None:
    done = events(client, jfk)[-1]
    assert isinstance(done, TranscriptionTextDoneEvent)
    plain = client.audio.transcriptions.create(model="whisper-1", file=upload(jfk), temperature=0)
    assert done.text == plain.text


def test_long_audio_streams_piece_by_piece_in_order(client: openai.OpenAI, long_speech: Path) -> None:
    *deltas, done = events(client, long_speech)
    assert isinstance(done, TranscriptionTextDoneEvent)
    # the long file is cut into chunks; its text arrives as one delta per segment, in audio order
    assert len(deltas) > COPIES
    text = "".join(e.delta for e in deltas if isinstance(e, TranscriptionTextDeltaEvent))
    assert text.strip() == done.text
    truth = " ".join([JFK_TEXT] * COPIES)
    assert wer(truth, done.text) < 0.1
    plain = client.audio.transcriptions.create(model="whisper-1", file=upload(long_speech), temperature=0)
    # equal but for a window that fell back to sampling at a higher temperature (random by design)
    assert wer(plain.text, done.text) < 0.1


def test_the_wire_format_is_data_only_server_sent_events(server: RunningServer, jfk: Path) -> None:
    with httpx.stream(
        "POST",
        f"{server.api_url}/audio/transcriptions",
        files={"file": upload(jfk)},
        data={"model": "whisper-1", "stream": "true"},
        timeout=120,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        body = response.read().decode()
    blocks = [b for b in body.split("\n\n") if b]
    assert body.endswith("\n\n")
    types = []
    for block in blocks:
        assert block.startswith("data: ")
        assert "\n" not in block  # one data line per event
        types.append(json.loads(block[len("data: ") :])["type"])
    assert types[-1] == "transcript.text.done"
    assert set(types[:-1]) == {"transcript.text.delta"}


def test_an_undecodable_upload_is_a_plain_error_not_a_stream(client: openai.OpenAI) -> None:
    garbage = ("voice.ogg", b"not audio at all" * 100)
    with pytest.raises(openai.BadRequestError, match="Invalid file format"):
        client.audio.transcriptions.create(model="whisper-1", file=garbage, stream=True)
