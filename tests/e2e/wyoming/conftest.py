"""A real ``whisperd serve --wyoming`` for the Wyoming tests, and the audio they send it."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.media import AUDIO_DIR
from tests.support.servers import RunningServer, start_server
from tests.support.wyoming import pcm_of


@pytest.fixture(scope="session")
def wyoming_server(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    """tiny.en over HTTP and Wyoming in one process; temperature 0 alone, so texts are comparable."""
    running = start_server(
        tmp_path_factory.mktemp("wyoming"), wyoming=True, extra_env={"WHISPERD_TEMPERATURE_FALLBACK": "false"}
    )
    yield running
    running.stop(signal.SIGTERM)


@pytest.fixture(scope="session")
def jfk_pcm() -> bytes:
    """jfk.flac as Home Assistant would send it: 16 kHz 16-bit mono PCM (the samples HTTP decodes)."""
    return pcm_of(AUDIO_DIR / "jfk.flac")
