"""OpenAI's Realtime transcription socket on a real server: the official SDK (GA), a plain client (beta).

Held-out real speech (the JFK recording and the two sentences of stereo_diarization.wav, none of it
used to tune anything) is streamed as 24 kHz PCM16 in 100 ms events, at twice real time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import websockets
from bench.wer import wer
from openai.types.realtime import (
    ConversationItemInputAudioTranscriptionCompletedEvent,
    InputAudioBufferCommittedEvent,
    InputAudioBufferSpeechStartedEvent,
    InputAudioBufferSpeechStoppedEvent,
    RealtimeErrorEvent,
    RealtimeTranscriptionSessionCreateRequest,
    SessionUpdatedEvent,
)
from websockets.exceptions import InvalidStatus

from tests.support.media import AUDIO_DIR, JFK_TEXT, LEFT_TEXT, RIGHT_TEXT, pcm, upload
from tests.support.metrics import scrape, value
from tests.support.servers import RunningServer, start_server

RATE = 24_000
STEP = RATE * 2 // 10  # 100 ms of PCM16
KEY = "live-key"


def _silence(seconds: float) -> bytes:
    return b"\0" * int(RATE * seconds) * 2


@pytest.fixture(scope="module")
def speech() -> bytes:
    """Three utterances with pauses between them, as a person would say them."""
    parts = [
        _silence(0.5),
        pcm(AUDIO_DIR / "jfk.flac", RATE),
        _silence(1.5),
        pcm(AUDIO_DIR / "stereo_diarization.wav", RATE, channel=1),
        _silence(1.5),
        pcm(AUDIO_DIR / "stereo_diarization.wav", RATE, channel=2),
        _silence(2.0),
    ]
    return b"".join(parts)


TRUTH = " ".join([JFK_TEXT, LEFT_TEXT, RIGHT_TEXT])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    """tiny.en, reproducible decoding (no random fallback), keys on."""
    running = start_server(
        tmp_path_factory.mktemp("live"),
        extra_env={"WHISPERD_TEMPERATURE_FALLBACK": "false", "WHISPERD_API_KEYS": KEY},
    )
    yield running
    running.stop(signal.SIGTERM)


def _feed(send: Any, audio: bytes, speed: float = 2.0) -> None:
    for start in range(0, len(audio), STEP):
        send(base64.b64encode(audio[start : start + STEP]).decode())
        time.sleep(0.1 / speed)


def _offline(server: RunningServer, audio: bytes, path: Path) -> str:
    """The same model on ``audio`` uploaded as a file: what a completed turn must be as good as."""
    _wav(path, audio)
    response = httpx.post(
        f"{server.api_url}/audio/transcriptions",
        files={"file": upload(path)},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    text: str = response.json()["text"]
    return text


def test_the_sdk_transcribes_turn_by_turn_with_text_while_speaking(
    live: RunningServer, speech: bytes, tmp_path: Path
) -> None:
    events: list[Any] = []
    with (
        openai.OpenAI(base_url=live.api_url, api_key=KEY, max_retries=0) as client,
        client.realtime.connect(extra_query={"intent": "transcription"}) as connection,
    ):
        connection.session.update(
            session={  # type: ignore[misc,arg-type]  # the SDK's two TypedDicts overlap
                "type": "transcription",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": RATE},
                        "transcription": {"model": "whisper-1", "language": "en"},
                        "turn_detection": {"type": "server_vad"},
                    }
                },
            }
        )
        feeder = threading.Thread(
            target=_feed, args=(lambda audio: connection.input_audio_buffer.append(audio=audio), speech, 1.0)
        )
        feeder.start()
        committed = completed = 0
        for received in connection:
            events.append(received)
            committed += received.type == "input_audio_buffer.committed"
            completed += received.type == "conversation.item.input_audio_transcription.completed"
            if not feeder.is_alive() and completed == committed >= 3:
                break
        feeder.join()
    kinds = [e.type for e in events]
    assert kinds[:2] == ["session.created", "session.updated"]
    updated = events[1]
    assert isinstance(updated, SessionUpdatedEvent)
    assert isinstance(updated.session, RealtimeTranscriptionSessionCreateRequest)
    assert updated.session.audio is not None
    assert updated.session.audio.input is not None
    detection = updated.session.audio.input.turn_detection
    assert detection is not None
    assert detection.type == "server_vad"
    items = [e.item_id for e in events if isinstance(e, InputAudioBufferCommittedEvent)]
    assert len(items) >= 3
    for item in items:
        mine = [e.type for e in events if getattr(e, "item_id", None) == item]
        assert mine[0] == "input_audio_buffer.speech_started"
        assert mine.index("input_audio_buffer.speech_stopped") < mine.index("input_audio_buffer.committed")
        assert mine[-1] == "conversation.item.input_audio_transcription.completed"
    while_speaking = []
    for item in items:
        mine = [e.type for e in events if getattr(e, "item_id", None) == item]
        while_speaking += mine[: mine.index("input_audio_buffer.speech_stopped")]
    assert "conversation.item.input_audio_transcription.delta" in while_speaking, "no text while speaking"
    done = [e for e in events if isinstance(e, ConversationItemInputAudioTranscriptionCompletedEvent)]
    for event in done:
        assert event.usage.type == "duration"
        assert event.usage.seconds > 0
    live_text = " ".join(e.transcript for e in done)
    # the same turns, cut from the recording where the session said they began and ended, uploaded as files
    starts = {
        e.item_id: e.audio_start_ms for e in events if isinstance(e, InputAudioBufferSpeechStartedEvent)
    }
    ends = {e.item_id: e.audio_end_ms for e in events if isinstance(e, InputAudioBufferSpeechStoppedEvent)}
    offline_text = " ".join(
        _offline(
            live, speech[starts[i] * RATE // 1000 * 2 : ends[i] * RATE // 1000 * 2], tmp_path / f"{i}.wav"
        )
        for i in items
    )
    whole = _offline(live, speech, tmp_path / "speech.wav")
    print(
        f"\nlive WER {wer(TRUTH, live_text):.3f} over {len(done)} turns; the same turns offline "
        f"{wer(TRUTH, offline_text):.3f}; the whole recording offline {wer(TRUTH, whole):.3f}"
    )
    assert wer(TRUTH, live_text) <= wer(TRUTH, offline_text) + 0.02, (live_text, offline_text)
    assert wer(TRUTH, live_text) < 0.1, live_text


def _wav(path: Path, audio: bytes) -> None:
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(audio)


def test_manual_commit_with_turn_detection_off(live: RunningServer) -> None:
    with (
        openai.OpenAI(base_url=live.api_url, api_key=KEY, max_retries=0) as client,
        client.realtime.connect(extra_query={"intent": "transcription"}) as connection,
    ):
        connection.session.update(
            session={"type": "transcription", "audio": {"input": {"turn_detection": None}}}
        )
        connection.input_audio_buffer.commit()  # nothing appended yet: an error, and the session goes on
        _feed(
            lambda audio: connection.input_audio_buffer.append(audio=audio),
            pcm(AUDIO_DIR / "jfk.flac", RATE),
            20,
        )
        connection.input_audio_buffer.commit()
        received = []
        for event in connection:
            received.append(event)
            if event.type == "conversation.item.input_audio_transcription.completed":
                break
    errors = [e for e in received if isinstance(e, RealtimeErrorEvent)]
    assert errors[0].error.code == "input_audio_buffer_commit_empty"
    assert "input_audio_buffer.speech_started" not in [e.type for e in received]
    final = received[-1]
    assert isinstance(final, ConversationItemInputAudioTranscriptionCompletedEvent)
    assert wer(JFK_TEXT, final.transcript) < 0.1


async def _beta(server: RunningServer, audio: bytes, fmt: str) -> list[dict[str, Any]]:
    url = f"ws://127.0.0.1:{server.port}/v1/realtime?intent=transcription"
    headers = {"Authorization": f"Bearer {KEY}", "OpenAI-Beta": "realtime=v1"}
    received: list[dict[str, Any]] = []
    async with websockets.connect(url, additional_headers=headers) as socket:
        received.append(json.loads(await socket.recv()))
        update = {
            "input_audio_format": fmt,
            "turn_detection": None,
            "input_audio_transcription": {"model": "whisper-1"},
        }
        await socket.send(json.dumps({"type": "transcription_session.update", "session": update}))
        received.append(json.loads(await socket.recv()))
        for start in range(0, len(audio), 4000):
            chunk = base64.b64encode(audio[start : start + 4000]).decode()
            await socket.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
        await socket.send(json.dumps({"type": "input_audio_buffer.commit"}))
        while received[-1]["type"] != "conversation.item.input_audio_transcription.completed":
            received.append(json.loads(await asyncio.wait_for(socket.recv(), 60)))
    return received


@pytest.mark.parametrize(
    ("fmt", "rate", "encoding"), [("pcm16", RATE, "signed"), ("g711_ulaw", 8000, "mu-law")]
)
def test_the_beta_shape_is_answered_in_its_own_names(
    live: RunningServer, fmt: str, rate: int, encoding: str
) -> None:
    received = asyncio.run(_beta(live, pcm(AUDIO_DIR / "jfk.flac", rate, encoding=encoding), fmt))
    assert received[0]["type"] == "transcription_session.created"
    assert received[1]["type"] == "transcription_session.updated"
    assert received[1]["session"]["input_audio_format"] == fmt
    assert "conversation.item.created" in [e["type"] for e in received]
    assert wer(JFK_TEXT, received[-1]["transcript"]) < 0.15


async def _raw(server: RunningServer, messages: list[str], until: str) -> list[dict[str, Any]]:
    url = f"ws://127.0.0.1:{server.port}/v1/realtime?intent=transcription"
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}) as socket:
        received = [json.loads(await socket.recv())]
        for message in messages:
            await socket.send(message)
        while received[-1]["type"] != until:
            received.append(json.loads(await asyncio.wait_for(socket.recv(), 30)))
    return received


def test_bad_events_are_answered_with_errors_and_the_session_goes_on(live: RunningServer) -> None:
    jfk = base64.b64encode(pcm(AUDIO_DIR / "jfk.flac", RATE)).decode()
    received = asyncio.run(
        _raw(
            live,
            [
                "this is not json",
                json.dumps({"type": "response.create", "event_id": "mine-1"}),
                json.dumps({"type": "input_audio_buffer.append", "audio": "%%% not base64 %%%"}),
                json.dumps(
                    {"type": "session.update", "session": {"audio": {"input": {"turn_detection": None}}}}
                ),
                json.dumps({"type": "input_audio_buffer.append", "audio": jfk}),
                json.dumps({"type": "input_audio_buffer.commit"}),
            ],
            until="conversation.item.input_audio_transcription.completed",
        )
    )
    errors = [e["error"] for e in received if e["type"] == "error"]
    assert len(errors) == 3
    assert all(set(e) >= {"type", "code", "message", "param", "event_id"} for e in errors)
    assert errors[1]["param"] == "type"
    assert errors[1]["event_id"] == "mine-1"
    assert errors[2]["param"] == "audio"
    assert wer(JFK_TEXT, received[-1]["transcript"]) < 0.1


def test_a_socket_needs_a_key_or_a_client_secret(live: RunningServer) -> None:
    url = f"ws://127.0.0.1:{live.port}/v1/realtime?intent=transcription"

    async def opens(**kwargs: Any) -> str:
        async with websockets.connect(url, **kwargs) as socket:
            return str(json.loads(await socket.recv())["type"])

    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(opens())
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body or b"{}")["error"]["code"] == "invalid_api_key"
    assert (
        asyncio.run(opens(subprotocols=["realtime", f"openai-insecure-api-key.{KEY}"])) == "session.created"
    )
    issued = httpx.post(f"{live.api_url}/realtime/client_secrets", headers={"Authorization": f"Bearer {KEY}"})
    assert issued.status_code == 200
    secret = issued.json()["value"]
    assert issued.json()["expires_at"] > time.time()
    assert (
        asyncio.run(opens(subprotocols=["realtime", f"openai-insecure-api-key.{secret}"]))
        == "session.created"
    )
    # a client secret opens the live socket and nothing else
    assert (
        httpx.get(f"{live.api_url}/models", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    )


def test_a_conversation_session_is_refused(live: RunningServer) -> None:
    async def opens() -> None:
        async with websockets.connect(
            f"ws://127.0.0.1:{live.port}/v1/realtime?model=gpt-realtime",
            additional_headers={"Authorization": f"Bearer {KEY}"},
        ):
            pass

    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(opens())
    assert refused.value.response.status_code == 400


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("strict-live"),
        extra_env={"WHISPERD_MAX_REALTIME_SESSIONS": "1", "WHISPERD_REALTIME_IDLE_SECONDS": "2"},
    )
    yield running
    running.stop(signal.SIGTERM)


def test_sessions_are_bounded_and_idle_ones_closed(strict: RunningServer) -> None:
    url = f"ws://127.0.0.1:{strict.port}/v1/realtime?intent=transcription"

    async def scenario() -> list[dict[str, Any]]:
        async with websockets.connect(url) as first:
            await first.recv()
            with pytest.raises(InvalidStatus) as refused:
                async with websockets.connect(url):
                    pass
            assert refused.value.response.status_code == 429
            assert value(scrape(strict), "whisperd_realtime_sessions") == 1
            received = []
            async for message in first:  # nothing sent: the idle timeout closes it with an error first
                received.append(json.loads(message))
            return received

    received = asyncio.run(scenario())
    assert received[-1]["type"] == "error"
    assert received[-1]["error"]["code"] == "session_idle_timeout"
    deadline = time.monotonic() + 10
    while value(scrape(strict), "whisperd_realtime_sessions") != 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
