"""Who speaks when, through the official SDK: ``gpt-4o-transcribe-diarize`` and ``diarized_json``.

The session's tiny.en server answers for the diarization alias. A call recording (one speaker per
channel) must come back exact; a mono conversation of two espeak voices must give each turn its voice's
speaker, the same letter each time the voice returns; known-speaker names replace letters.
"""

from __future__ import annotations

import base64
import io
import wave
from pathlib import Path
from typing import Literal

import httpx
import numpy as np
import openai
import pytest
from bench.wer import wer
from openai.types.audio import (
    TranscriptionDiarized,
    TranscriptionTextDeltaEvent,
    TranscriptionTextDoneEvent,
    TranscriptionTextSegmentEvent,
)

from tests.support.media import LEFT_TEXT, RIGHT_TEXT, dialogue, spoken, upload
from tests.support.servers import POOL_GROWTH, RunningServer

DIARIZE = "gpt-4o-transcribe-diarize"
US, WOMAN = "en-us", "en+f3"
TURNS = [
    (US, "Good morning, thank you for calling the support line. How can I help you today?"),
    (WOMAN, "Hello, my internet connection has been dropping every evening since Monday."),
    (US, "I am sorry to hear that. Could you tell me the model of your router please?"),
    (WOMAN, "It is the small white box that the company sent me last spring."),
]


@pytest.fixture(scope="module")
def conversation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[float, float, str]]]:
    return dialogue(tmp_path_factory.mktemp("dialogue") / "call.wav", TURNS)


def _speaker_at(result: TranscriptionDiarized, start: float, end: float) -> set[str]:
    """The speakers of the segments that lie mostly inside [start, end]."""
    found = set()
    for segment in result.segments:
        overlap = min(segment.end, end) - max(segment.start, start)
        if overlap > 0.5 * (segment.end - segment.start):
            found.add(segment.speaker)
    return found


def _wav_data_url(samples: np.ndarray) -> str:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_a_call_recording_gives_one_exact_speaker_per_channel(client: openai.OpenAI, audio: Path) -> None:
    result = client.audio.transcriptions.create(
        model=DIARIZE,
        file=upload(audio / "stereo_diarization.wav"),
        response_format="diarized_json",
        chunking_strategy="auto",
    )
    assert isinstance(result, TranscriptionDiarized)
    assert result.task == "transcribe"
    assert result.duration == pytest.approx(5.0, abs=0.05)
    speakers = {segment.speaker for segment in result.segments}
    assert speakers == {"A", "B"}
    said = {
        speaker: " ".join(s.text for s in result.segments if s.speaker == speaker) for speaker in speakers
    }
    left, right = sorted(said.values(), key=len, reverse=True)
    assert wer(LEFT_TEXT, left) < 0.25
    assert wer(RIGHT_TEXT, right) < 0.25
    assert [s.id for s in result.segments] == [f"seg_{i:03d}" for i in range(1, len(result.segments) + 1)]
    assert all(s.type == "transcript.text.segment" for s in result.segments)
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts)  # merged by time, overlapping speech kept
    assert result.usage is not None


def test_a_mono_conversation_gives_each_turn_its_voice(
    client: openai.OpenAI, conversation: tuple[Path, list[tuple[float, float, str]]]
) -> None:
    path, timings = conversation
    result = client.audio.transcriptions.create(
        model=DIARIZE, file=upload(path), response_format="diarized_json", chunking_strategy="auto"
    )
    assert isinstance(result, TranscriptionDiarized)
    heard = [_speaker_at(result, start, end) for start, end, _ in timings]
    assert all(len(speakers) == 1 for speakers in heard), heard
    letters = [speakers.pop() for speakers in heard]
    assert letters == ["A", "B", "A", "B"]  # by first appearance; the same letter when a voice returns
    assert wer(" ".join(text for _, text in TURNS), " ".join(s.text for s in result.segments)) < 0.2
    lines = result.text.splitlines()
    assert [line.split(":")[0] for line in lines] == ["A", "B", "A", "B"]


def test_known_speakers_are_named(
    client: openai.OpenAI, conversation: tuple[Path, list[tuple[float, float, str]]]
) -> None:
    path, timings = conversation
    agent = spoken("This is a sample of my voice, recorded for the call centre.", US)
    caller = spoken("And this is how I sound when I speak on the telephone.", WOMAN)
    result = client.audio.transcriptions.create(
        model=DIARIZE,
        file=upload(path),
        response_format="diarized_json",
        chunking_strategy="auto",
        known_speaker_names=["caller", "agent"],
        known_speaker_references=[_wav_data_url(caller), _wav_data_url(agent)],
    )
    assert isinstance(result, TranscriptionDiarized)
    names = [_speaker_at(result, start, end) for start, end, _ in timings]
    assert names == [{"agent"}, {"caller"}, {"agent"}, {"caller"}]
    assert result.text.startswith("agent: ")


def test_one_known_speaker_names_theirs_and_letters_the_rest(
    client: openai.OpenAI, conversation: tuple[Path, list[tuple[float, float, str]]]
) -> None:
    path, timings = conversation
    caller = spoken("And this is how I sound when I speak on the telephone.", WOMAN)
    result = client.audio.transcriptions.create(
        model=DIARIZE,
        file=upload(path),
        response_format="diarized_json",
        known_speaker_names=["caller"],
        known_speaker_references=[_wav_data_url(caller)],
    )
    assert isinstance(result, TranscriptionDiarized)
    assert [_speaker_at(result, start, end) for start, end, _ in timings] == [
        {"A"},
        {"caller"},
        {"A"},
        {"caller"},
    ]


def test_the_stream_sends_each_segment_with_its_speaker_before_done(
    client: openai.OpenAI, audio: Path
) -> None:
    events = list(
        client.audio.transcriptions.create(
            model=DIARIZE,
            file=upload(audio / "stereo_diarization.wav"),
            response_format="diarized_json",
            stream=True,
        )
    )
    segments = [e for e in events if isinstance(e, TranscriptionTextSegmentEvent)]
    deltas = [e for e in events if isinstance(e, TranscriptionTextDeltaEvent)]
    assert {s.speaker for s in segments} == {"A", "B"}
    assert [d.segment_id for d in deltas] == [s.id for s in segments]
    assert isinstance(events[-1], TranscriptionTextDoneEvent)
    assert all(events.index(s) < len(events) - 1 for s in segments)


@pytest.mark.parametrize("response_format", ["json", "text"])
def test_plain_formats_work_with_the_diarization_model(
    client: openai.OpenAI, audio: Path, response_format: Literal["json", "text"]
) -> None:
    result = client.audio.transcriptions.create(
        model=DIARIZE,
        file=upload(audio / "stereo_diarization.wav"),
        response_format=response_format,
    )
    text = result if isinstance(result, str) else result.text
    assert wer(f"{LEFT_TEXT} {RIGHT_TEXT}", text) < 0.3 or wer(f"{RIGHT_TEXT} {LEFT_TEXT}", text) < 0.3
    assert "A:" not in text


def _reference_error(server: RunningServer, jfk: Path, reference: str) -> httpx.Response:
    return httpx.post(
        f"{server.api_url}/audio/transcriptions",
        files=[
            ("file", upload(jfk)),
            ("model", (None, DIARIZE)),
            ("response_format", (None, "diarized_json")),
            ("known_speaker_names[]", (None, "agent")),
            ("known_speaker_references[]", (None, reference)),
        ],
        timeout=60,
    )


@pytest.mark.parametrize(
    "reference",
    [
        "https://example.com/voice.wav",
        "data:audio/wav;base64,not base64!",
        "data:audio/wav;base64," + base64.b64encode(b"RIFF this is no audio at all" * 40).decode(),
        "short",
        "long",
    ],
)
def test_a_bad_reference_is_a_400_naming_it(server: RunningServer, jfk: Path, reference: str) -> None:
    if reference == "short":
        reference = _wav_data_url(spoken("Hi.", US)[:16_000])
    elif reference == "long":
        reference = _wav_data_url(np.tile(spoken("This sentence is repeated.", US), 8))
    response = _reference_error(server, jfk, reference)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "known_speaker_references"
    assert response.headers["x-should-retry"] == "false"
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
    assert server.upload_files() == []


def test_one_real_voice_is_one_speaker(client: openai.OpenAI, audio: Path, tmp_path: Path) -> None:
    from tests.support.media import long_speech

    result = client.audio.transcriptions.create(
        model=DIARIZE, file=upload(long_speech(tmp_path / "jfk-x3.wav", 3)), response_format="diarized_json"
    )
    assert isinstance(result, TranscriptionDiarized)
    assert {segment.speaker for segment in result.segments} == {"A"}


def test_two_real_voices_mixed_to_mono_are_two_speakers(
    client: openai.OpenAI, audio: Path, tmp_path: Path
) -> None:
    def channel(index: int) -> np.ndarray:
        with wave.open(str(audio / "stereo_diarization.wav")) as source:
            frames = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2").reshape(-1, 2)
        return frames[:, index].astype(np.float32) / 32768

    gap = np.zeros(8_000, np.float32)
    mono = np.concatenate([channel(0), gap, channel(1), gap, channel(0)])
    path = tmp_path / "left-right-left.wav"
    path.write_bytes(base64.b64decode(_wav_data_url(mono).split(",", 1)[1]))
    result = client.audio.transcriptions.create(
        model=DIARIZE, file=upload(path), response_format="diarized_json"
    )
    assert isinstance(result, TranscriptionDiarized)
    said = [(s.speaker, s.text) for s in result.segments]
    left = {speaker for speaker, text in said if "horizon" not in text.lower()}
    right = [speaker for speaker, text in said if "horizon" in text.lower()]
    assert (left, right) == ({"A"}, ["B"]), said


CALLS = 4


def test_diarizing_leaves_nothing_behind(
    server: RunningServer, client: openai.OpenAI, conversation: tuple[Path, list[tuple[float, float, str]]]
) -> None:
    path, _ = conversation
    caller = _wav_data_url(spoken("And this is how I sound when I speak on the telephone.", WOMAN))

    def diarize() -> None:
        client.audio.transcriptions.create(
            model=DIARIZE,
            file=upload(path),
            response_format="diarized_json",
            known_speaker_names=["caller"],
            known_speaker_references=[caller],
        )

    diarize()  # the speaker model is loaded by now
    fds, threads, rss = server.open_fds(), server.threads(), server.settled_memory_mib()
    for _ in range(CALLS):
        diarize()
    assert server.open_fds() <= fds
    assert server.threads() <= threads + POOL_GROWTH  # a thread kept per request would add CALLS
    assert server.settled_memory_mib() < rss + 60  # no growth per request beyond allocator noise
    assert server.upload_files() == []


def test_too_many_or_too_large_references_are_refused_while_the_body_arrives(
    server: RunningServer, jfk: Path
) -> None:
    clip = _wav_data_url(spoken("This is a sample of my voice.", US))
    many = [("known_speaker_references[]", (None, clip)) for _ in range(5)]
    names = [("known_speaker_names[]", (None, f"person {i}")) for i in range(5)]
    huge = "data:audio/wav;base64," + "A" * (5 * 1024 * 1024)
    for parts in (
        names + many,
        [("known_speaker_names[]", (None, "x")), ("known_speaker_references[]", (None, huge))],
    ):
        response = httpx.post(
            f"{server.api_url}/audio/transcriptions",
            files=[("file", upload(jfk)), ("model", (None, DIARIZE)), *parts],
            timeout=60,
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "known_speaker_references"
    assert server.upload_files() == []
