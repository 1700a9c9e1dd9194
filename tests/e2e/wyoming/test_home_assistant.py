"""Home Assistant's Wyoming flow against a real ``whisperd serve --wyoming``, with the package's client.

The same process serves HTTP, so every text is compared with what the HTTP API answers for the same
audio and model: the Wyoming front end must add nothing and lose nothing.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import openai
import pytest
from bench.wer import wer
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart
from wyoming.event import Event

from tests.support.media import AUDIO_DIR, JFK_TEXT, upload
from tests.support.metrics import scrape, value
from tests.support.servers import RunningServer
from tests.support.wyoming import connect, describe, pcm_of, read_until, send_audio, utterance
from whisperd.media.languages import LANGUAGES


def _port(server: RunningServer) -> int:
    assert server.wyoming_port is not None
    return server.wyoming_port


def test_describe_answers_info_well_within_home_assistants_second(wyoming_server: RunningServer) -> None:
    info, seconds = asyncio.run(describe(_port(wyoming_server)))
    assert seconds < 0.5
    [program] = info.asr
    assert program.name == "whisperd"
    assert program.installed
    assert not program.supports_transcript_streaming  # partials are off by default: the info says so
    models = {model.name: model for model in program.models}
    assert program.models[0].name == "tiny.en"  # the default model first
    assert models["tiny.en"].languages == ["en"]
    assert models["base"].languages == list(LANGUAGES)  # the other model pack: multilingual
    assert models["whisper-1"].languages == ["en"]  # an alias of the default, tiny.en
    assert all(model.installed for model in program.models)


@pytest.mark.parametrize("name", ["jfk.flac", "hotwords.mp3"])
def test_home_assistants_flow_gives_the_http_apis_text(wyoming_server: RunningServer, name: str) -> None:
    pcm = pcm_of(AUDIO_DIR / name)
    reply = asyncio.run(utterance(_port(wyoming_server), pcm, language="en"))
    assert reply.type == "transcript"
    assert reply.event is not None
    assert reply.event.data["language"] == "en"
    with openai.OpenAI(base_url=wyoming_server.api_url, api_key="unused", max_retries=0, timeout=120) as sdk:
        http = sdk.audio.transcriptions.create(
            model="tiny.en", file=upload(AUDIO_DIR / name), language="en", temperature=0.0
        )
    assert http.text
    assert reply.text == http.text


def test_an_utterance_is_one_request_record(wyoming_server: RunningServer, jfk_pcm: bytes) -> None:
    before = scrape(wyoming_server)
    after_line = len(wyoming_server.log_lines())
    assert asyncio.run(utterance(_port(wyoming_server), jfk_pcm)).type == "transcript"
    line = wyoming_server.wait_for_log("method=WYOMING", "path=transcribe", after=after_line)
    assert "status=200" in line
    assert f"bytes={len(jfk_pcm)}" in line
    assert "audio_s=11.000" in line
    assert "language=en" in line
    assert "text=" not in line  # transcripts stay out of the log unless the operator asks
    now = scrape(wyoming_server)
    counted = value(now, "whisperd_requests_total", endpoint="wyoming", format="", status="200")
    assert (
        counted == value(before, "whisperd_requests_total", endpoint="wyoming", format="", status="200") + 1
    )
    assert value(now, "whisperd_audio_seconds_total", task="transcribe") > value(
        before, "whisperd_audio_seconds_total", task="transcribe"
    )


def test_four_concurrent_utterances(wyoming_server: RunningServer, jfk_pcm: bytes) -> None:
    async def four() -> list[str]:
        replies = await asyncio.gather(*(utterance(_port(wyoming_server), jfk_pcm) for _ in range(4)))
        return [reply.text for reply in replies]

    before = scrape(wyoming_server)
    texts = asyncio.run(four())
    for text in texts:
        assert wer(JFK_TEXT, text) < 0.1, text
    after = scrape(wyoming_server)
    ok = ("whisperd_requests_total", {"endpoint": "wyoming", "format": "", "status": "200"})
    assert value(after, ok[0], **ok[1]) == value(before, ok[0], **ok[1]) + 4
    assert value(after, "whisperd_jobs_in_flight") == 0
    assert value(after, "whisperd_queue_depth") == 0


def test_44k_stereo_32_bit_is_converted(wyoming_server: RunningServer, tmp_path: Path) -> None:
    raw = subprocess.run(
        ["sox", str(AUDIO_DIR / "jfk.flac"), "-t", "raw", "-r", "44100", "-c", "2", "-b", "32",
         "-e", "signed-integer", "-L", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    reply = asyncio.run(utterance(_port(wyoming_server), raw, rate=44100, width=4, channels=2))
    assert wer(JFK_TEXT, reply.text) < 0.1, reply.text


@pytest.mark.parametrize("audio", ["silence", "noise", "nothing"])
def test_silence_noise_and_nothing_give_empty_text(wyoming_server: RunningServer, audio: str) -> None:
    samples = {
        "silence": np.zeros(16_000 * 5),
        "noise": np.random.default_rng(1234).normal(0, 0.05, 16_000 * 5),
        "nothing": np.zeros(0),
    }[audio]
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    reply = asyncio.run(utterance(_port(wyoming_server), pcm))
    assert reply.text == ""


def test_audio_stop_alone_and_several_utterances_on_one_connection(
    wyoming_server: RunningServer, jfk_pcm: bytes
) -> None:
    async def session() -> list[Event | None]:
        client = await connect(_port(wyoming_server))
        try:
            events = []
            await client.write_event(Event(type="audio-stop"))
            events.append(await read_until(client, "transcript", "error"))
            for _ in range(2):
                await client.write_event(Transcribe(language="en").event())
                await send_audio(client, jfk_pcm[: 16_000 * 2 * 4])
                events.append(await read_until(client, "transcript", "error"))
            return events
        finally:
            await client.disconnect()

    empty, first, second = asyncio.run(session())
    assert empty is not None
    assert empty.data["text"] == ""
    assert first is not None
    assert second is not None
    assert first.data["text"] == second.data["text"] != ""


@pytest.mark.parametrize(
    ("transcribe", "code"),
    [
        (Transcribe(name="no-such-model", language="en"), "model_not_found"),
        (Transcribe(language="xx"), "invalid_value"),
    ],
)
def test_what_cannot_be_served_is_an_error_event(
    wyoming_server: RunningServer, jfk_pcm: bytes, transcribe: Transcribe, code: str
) -> None:
    async def ask() -> Event | None:
        client = await connect(_port(wyoming_server))
        try:
            await client.write_event(transcribe.event())
            await send_audio(client, jfk_pcm[:32_000])
            return await read_until(client, "transcript", "error")
        finally:
            await client.disconnect()

    event = asyncio.run(ask())
    assert event is not None
    assert event.type == "error"
    assert event.data["code"] == code


def test_a_locale_and_the_programs_name_are_understood(wyoming_server: RunningServer, jfk_pcm: bytes) -> None:
    reply = asyncio.run(utterance(_port(wyoming_server), jfk_pcm, language="en-US", name="whisperd"))
    assert wer(JFK_TEXT, reply.text) < 0.1


def _long_pcm(jfk_pcm: bytes, repeats: int) -> bytes:
    return jfk_pcm * repeats


def test_a_client_that_leaves_mid_utterance_cancels_its_work(
    wyoming_server: RunningServer, jfk_pcm: bytes
) -> None:
    """Leaving while audio streams drops the utterance; leaving while it is transcribed stops the work."""
    port = _port(wyoming_server)
    start = len(wyoming_server.log_lines())

    async def leave_while_sending() -> None:
        client = await connect(port)
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=jfk_pcm[:64_000]).event())
        await client.disconnect()

    asyncio.run(leave_while_sending())
    line = wyoming_server.wait_for_log("method=WYOMING", "status=499", after=start)
    assert "audio_s=" not in line  # it never reached the service

    async def leave_while_transcribing() -> float:
        client = await connect(port)
        await client.write_event(Transcribe(language="en").event())
        await send_audio(client, _long_pcm(jfk_pcm, 10))  # 110 s of speech: seconds of work
        deadline = time.monotonic() + 60
        while value(await asyncio.to_thread(scrape, wyoming_server), "whisperd_jobs_in_flight") < 1:
            assert time.monotonic() < deadline, "the utterance never took a job slot"
            await asyncio.sleep(0.02)
        await client.disconnect()
        return time.monotonic()

    start = len(wyoming_server.log_lines())
    left_at = asyncio.run(leave_while_transcribing())
    line = wyoming_server.wait_for_log("method=WYOMING", "status=499", after=start, timeout=60)
    assert "cancelled=True" in line
    deadline = time.monotonic() + 30
    while value(scrape(wyoming_server), "whisperd_jobs_in_flight") != 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stopped_after = time.monotonic() - left_at
    full = asyncio.run(utterance(port, _long_pcm(jfk_pcm, 10)))  # the same work, not abandoned
    assert full.type == "transcript"
    assert stopped_after < full.seconds, "the abandoned work ran to its end"
    assert asyncio.run(describe(port))[0].asr  # and the server serves on


def _raw_exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` on a bare socket and read until the server closes (bounded)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\xff\xfe garbage\n",
        b'{"type": "audio-chunk", "payload_length": 9999999999}\n',
        b'{"type": "audio-start", "data": {"rate": "fast", "width": 2, "channels": 1}}\n',
        bytes(np.random.default_rng(5).integers(0, 256, 200_000, dtype=np.uint8)),
    ],
)
def test_garbage_on_the_socket_is_answered_and_the_server_lives_on(
    wyoming_server: RunningServer, jfk_pcm: bytes, garbage: bytes
) -> None:
    port = _port(wyoming_server)
    received = _raw_exchange(port, garbage)
    header = received.split(b"\n", 1)[0]
    assert b'"type": "error"' in header, received[:300]
    assert wyoming_server.process.poll() is None
    assert asyncio.run(describe(port))[0].asr
    assert wer(JFK_TEXT, asyncio.run(utterance(port, jfk_pcm)).text) < 0.1
