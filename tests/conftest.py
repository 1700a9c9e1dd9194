"""Shared fixtures: one real server on tiny.en for the session, the official client, real audio."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest

from tests.support.media import AUDIO_DIR
from tests.support.servers import RunningServer, start_server


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for every server of the session (packs are assembled once)."""
    path = tmp_path_factory.mktemp("model-cache")
    os.environ["WHISPERD_TEST_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("server"))
    yield running
    running.stop(signal.SIGTERM)


@pytest.fixture(scope="session")
def keyed_server(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    """A second tiny.en server that wants the API key ``secret``, for the clients' key handling."""
    running = start_server(tmp_path_factory.mktemp("keyed"), extra_env={"WHISPERD_API_KEYS": "secret"})
    yield running
    running.stop(signal.SIGTERM)


@pytest.fixture(scope="session")
def client(server: RunningServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.api_url, api_key="unused", max_retries=0, timeout=120) as sdk:
        yield sdk


@pytest.fixture
def make_client() -> Iterator[Callable[[RunningServer, str], openai.OpenAI]]:
    """Official clients for any server and key, closed after the test (no sockets left to the GC)."""
    made: list[openai.OpenAI] = []

    def make(server: RunningServer, key: str = "unused") -> openai.OpenAI:
        made.append(openai.OpenAI(base_url=server.api_url, api_key=key, max_retries=0, timeout=120))
        return made[-1]

    yield make
    for sdk in made:
        sdk.close()


@pytest.fixture(scope="session")
def audio() -> Path:
    return AUDIO_DIR


@pytest.fixture(scope="session")
def jfk(audio: Path) -> Path:
    return audio / "jfk.flac"
