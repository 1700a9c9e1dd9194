"""``stream=true``: Server-Sent Events as OpenAI sends them, consumed by the official SDK's iterator."""

from __future__ import annotations

import json
import signal
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from bench.wer import wer
from openai.types.audio import TranscriptionTextDeltaEvent, TranscriptionTextDoneEvent

from tests.support.media import JFK_TEXT, upload
from tests.support.metrics import scrape, value
from tests.support.servers import RunningServer, start_server
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


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    """One job at a time and no queue: a slot that leaks shows at once as a 429 for the next request."""
    running = start_server(
        tmp_path_factory.mktemp("one-slot-stream"),
        extra_env={"WHISPERD_MAX_CONCURRENT_JOBS": "1", "WHISPERD_MAX_QUEUED_JOBS": "0"},
    )
    yield running
    running.stop(signal.SIGTERM)


def _in_flight(server: RunningServer) -> float:
    return value(scrape(server), "whisperd_jobs_in_flight")


@pytest.mark.parametrize(
    "leave",
    [
        "after-first-delta",
        "before-first-byte",
    ],
)
def test_a_stream_abandoned_midway_frees_its_slot(
    one_slot: RunningServer, long_speech: Path, jfk: Path, leave: str
) -> None:
    for _ in range(3):  # a leak of one slot per abandoned stream would show by the second round
        with httpx.stream(
            "POST",
            f"{one_slot.api_url}/audio/transcriptions",
            files={"file": upload(long_speech)},
            data={"model": "whisper-1", "stream": "true"},
            timeout=120,
        ) as response:
            assert response.status_code == 200
            if leave == "after-first-delta":
                next(response.iter_lines())
        deadline = time.monotonic() + 60
        while _in_flight(one_slot) != 0:
            assert time.monotonic() < deadline, "the abandoned stream still holds its slot"
            time.sleep(0.05)
        # a slot handed back while the worker still decodes would break the bound on concurrent work:
        # once the gauge says 0, the server is idle
        cpu = one_slot.cpu_seconds()
        time.sleep(1.0)
        assert one_slot.cpu_seconds() - cpu < 0.3, "the slot was freed while its worker still ran"
        answer = httpx.post(
            f"{one_slot.api_url}/audio/transcriptions", files={"file": upload(jfk)}, timeout=120
        )
        assert answer.status_code == 200, answer.text
    assert one_slot.upload_files() == []
