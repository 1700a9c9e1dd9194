"""Text while the person speaks, over Wyoming (``WHISPERD_WYOMING_PARTIALS=true``), as the protocol streams it.

The audio is sent as a microphone sends it (each chunk when it would have been spoken), so drafts of
the utterance so far run while it arrives. The protocol's streaming order is checked event by event,
and the chunks must join into the transcript exactly: a client may build the text from them.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.wer import wer
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart

from tests.support.media import JFK_TEXT
from tests.support.servers import POOL_GROWTH, RunningServer, start_server
from tests.support.wyoming import CHUNK_BYTES, Streamed, connect, describe, streamed_utterance, utterance


@pytest.fixture(scope="module")
def streaming(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("wyoming-partials"),
        wyoming=True,
        extra_env={"WHISPERD_WYOMING_PARTIALS": "true", "WHISPERD_TEMPERATURE_FALLBACK": "false"},
    )
    yield running
    running.stop(signal.SIGTERM)


def _port(server: RunningServer) -> int:
    assert server.wyoming_port is not None
    return server.wyoming_port


def _check_stream(streamed: Streamed) -> str:
    """The protocol's order, text before the audio ended, and chunks that join into the transcript."""
    assert streamed.types[0] == "transcript-start"
    assert streamed.types[-2:] == ["transcript", "transcript-stop"]
    assert set(streamed.types[1:-2]) == {"transcript-chunk"}
    early = streamed.while_speaking("transcript-chunk")
    assert early, "no text before the audio ended"
    [text] = streamed.texts("transcript")
    assert "".join(streamed.texts("transcript-chunk")) == text
    return text


def test_info_says_transcripts_stream(streaming: RunningServer) -> None:
    info, _ = asyncio.run(describe(_port(streaming)))
    assert info.asr[0].supports_transcript_streaming


def test_text_comes_while_the_person_speaks(streaming: RunningServer, jfk_pcm: bytes) -> None:
    text = _check_stream(asyncio.run(streamed_utterance(_port(streaming), jfk_pcm)))
    assert wer(JFK_TEXT, text) < 0.15, text


def test_two_speakers_at_once_both_stream(streaming: RunningServer, jfk_pcm: bytes) -> None:
    """Their drafts share one budget; both still get text while speaking, and their transcripts."""

    async def both() -> list[Streamed]:
        return list(await asyncio.gather(*(streamed_utterance(_port(streaming), jfk_pcm) for _ in range(2))))

    for streamed in asyncio.run(both()):
        assert wer(JFK_TEXT, _check_stream(streamed)) < 0.15


def test_leaving_while_drafts_run_leaves_nothing_behind(streaming: RunningServer, jfk_pcm: bytes) -> None:
    port = _port(streaming)
    _check_stream(asyncio.run(streamed_utterance(port, jfk_pcm)))  # drafts and finals: pools at size
    fds, threads = streaming.open_fds(), streaming.threads()

    async def leave_mid_sentence() -> None:
        client = await connect(port)
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        for start in range(0, len(jfk_pcm) // 2, CHUNK_BYTES):  # half the sentence, at real time
            chunk = jfk_pcm[start : start + CHUNK_BYTES]
            await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=chunk).event())
            await asyncio.sleep(CHUNK_BYTES / 32000)
        await client.disconnect()

    for _ in range(3):
        asyncio.run(leave_mid_sentence())
    reply = asyncio.run(utterance(port, jfk_pcm))
    assert wer(JFK_TEXT, reply.text) < 0.1
    deadline = time.monotonic() + 10  # a cancelled draft ends when its thread next looks at the token
    while (streaming.open_fds() > fds or streaming.threads() > threads) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert streaming.open_fds() <= fds
    assert streaming.threads() <= threads + POOL_GROWTH  # one kept per connection would add 3
