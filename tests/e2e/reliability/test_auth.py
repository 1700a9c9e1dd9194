"""API keys with the official SDK: no key or a wrong one is ``AuthenticationError``; keys rotate on SIGHUP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.media import upload
from tests.support.servers import RunningServer, free_port, start_server


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("keyed")
    keys_file = root / "keys.txt"
    keys_file.write_text("# rotated monthly\nfile-key-1\n")
    running = start_server(
        root,
        extra_env={"WHISPERD_API_KEYS": "env-key-1, env-key-2", "WHISPERD_API_KEYS_FILE": str(keys_file)},
    )
    yield running
    running.stop(signal.SIGTERM)


MakeClient = Callable[[RunningServer, str], openai.OpenAI]


def test_no_key_is_401(keyed: RunningServer, jfk: Path) -> None:
    response = httpx.post(f"{keyed.api_url}/audio/transcriptions", files={"file": upload(jfk)})
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert error["type"] == "invalid_request_error"
    assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_key_is_authentication_error(keyed: RunningServer, jfk: Path, make_client: MakeClient) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        make_client(keyed, "wrong-key").audio.transcriptions.create(model="whisper-1", file=upload(jfk))
    assert caught.value.status_code == 401
    with pytest.raises(openai.AuthenticationError):
        make_client(keyed, "wrong-key").models.list()


def test_right_keys_work(keyed: RunningServer, jfk: Path, make_client: MakeClient) -> None:
    for key in ("env-key-1", "env-key-2", "file-key-1"):
        text = make_client(keyed, key).audio.transcriptions.create(model="whisper-1", file=upload(jfk)).text
        assert "country" in text.lower()


def test_health_stays_open_and_reveals_nothing(keyed: RunningServer) -> None:
    response = httpx.get(f"{keyed.url}/health")
    assert response.status_code == 200
    assert "key" not in response.text.lower()


def test_metrics_need_a_key(keyed: RunningServer) -> None:
    assert httpx.get(f"{keyed.url}/metrics").status_code == 401


def test_keys_file_reloads_on_sighup(keyed: RunningServer, make_client: MakeClient) -> None:
    keys_file = Path(keyed.env["WHISPERD_API_KEYS_FILE"])
    with pytest.raises(openai.AuthenticationError):
        make_client(keyed, "file-key-2").models.list()
    keys_file.write_text("file-key-2\n")
    os.kill(keyed.process.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while True:
        try:
            make_client(keyed, "file-key-2").models.list()
            break
        except openai.AuthenticationError:
            assert time.monotonic() < deadline, "the new key was not accepted after SIGHUP"
            time.sleep(0.1)
    with pytest.raises(openai.AuthenticationError):
        make_client(keyed, "file-key-1").models.list()
    assert make_client(keyed, "env-key-1").models.list().data


def test_keys_never_reach_the_log(keyed: RunningServer) -> None:
    log = keyed.log_file.read_text()
    for key in ("env-key-1", "env-key-2", "file-key-1", "file-key-2", "wrong-key"):
        assert key not in log
    assert "status=401" in log


def test_refuses_a_network_address_without_keys(tmp_path: Path) -> None:
    env = {**os.environ, "WHISPERD_LOG_DIR": str(tmp_path), "WHISPERD_API_KEYS": ""}
    result = subprocess.run(
        [sys.executable, "-m", "whisperd.cli.main", "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without API keys" in result.stderr


def test_allow_unauthenticated_starts_and_warns(tmp_path: Path, cache_dir: Path) -> None:
    running = start_server(
        tmp_path,
        args=["--host", "0.0.0.0", "--allow-unauthenticated"],
        extra_env={"WHISPERD_HOST": "0.0.0.0"},
    )
    try:
        assert "API keys are off and the server listens on 0.0.0.0" in running.log_file.read_text()
    finally:
        running.stop()
