"""Models as leased resources on a real server: two side by side, an idle one unloads and gives its
memory back, the operator loads and unloads over HTTP, hub ids resolve, unknown names leave no trace."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from bench.wer import wer

from tests.support.media import JFK_TEXT, upload
from tests.support.metrics import scrape, value
from tests.support.servers import RunningServer, start_server

TTL = 3


@pytest.fixture(scope="module")
def leasing(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    """tiny.en by default; other models unload after 3 idle seconds; at most 3 loaded."""
    running = start_server(
        tmp_path_factory.mktemp("leasing"),
        extra_env={"WHISPERD_MODEL_TTL": str(TTL), "WHISPERD_MAX_LOADED_MODELS": "3"},
    )
    yield running
    running.stop(signal.SIGTERM)


def _loaded(server: RunningServer) -> set[str]:
    return {m["id"] for m in httpx.get(f"{server.url}/health", timeout=10).json()["models"]}


def _transcribe(server: RunningServer, jfk: Path, model: str) -> httpx.Response:
    return httpx.post(
        f"{server.api_url}/audio/transcriptions",
        files={"file": upload(jfk)},
        data={"model": model, "temperature": "0"},
        timeout=120,
    )


def test_two_models_serve_side_by_side_and_the_idle_one_gives_its_memory_back(
    leasing: RunningServer, jfk: Path
) -> None:
    assert _transcribe(leasing, jfk, "whisper-1").status_code == 200  # the default, warm
    before = leasing.settled_memory_mib()
    answers: dict[str, httpx.Response] = {}

    def ask(model: str) -> None:
        answers[model] = _transcribe(leasing, jfk, model)

    threads = [threading.Thread(target=ask, args=(m,)) for m in ("tiny.en", "base", "tiny.en ", "base ")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {m: r.status_code for m, r in answers.items()} == dict.fromkeys(answers, 200)
    for response in answers.values():
        assert wer(JFK_TEXT, response.json()["text"]) < 0.1
    assert _loaded(leasing) == {"tiny.en", "base"}
    listed = {m["id"]: m for m in httpx.get(f"{leasing.api_url}/models", timeout=10).json()["data"]}
    assert listed["base"]["loaded"] is True
    assert listed["base"]["size_bytes"] > 100_000_000
    assert listed["base"]["source"].startswith("pack")
    metrics = scrape(leasing)
    assert value(metrics, "whisperd_models_loaded") == 2
    assert value(metrics, "whisperd_model_leases", model="base") == 0
    loaded = leasing.settled_memory_mib()
    assert loaded - before > 50, "base was not really loaded"

    deadline = time.monotonic() + TTL + 60
    while "base" in _loaded(leasing):
        assert time.monotonic() < deadline, "the idle model never unloaded"
        time.sleep(0.5)
    after = leasing.settled_memory_mib()
    assert _loaded(leasing) == {"tiny.en"}, "the default model stays"
    assert value(scrape(leasing), "whisperd_model_unloads_total", reason="idle") >= 1
    print(f"\nmodel memory: {before:.0f} MiB before base, {loaded:.0f} loaded, {after:.0f} after its unload")
    assert after <= before * 1.10, f"RSS {after:.0f} MiB after the unload, {before:.0f} MiB before the load"


def test_a_hub_id_uses_the_present_model(leasing: RunningServer, jfk: Path) -> None:
    with openai.OpenAI(base_url=leasing.api_url, api_key="x", max_retries=0, timeout=120) as client:
        text = client.audio.transcriptions.create(
            model="Systran/faster-whisper-tiny.en", file=upload(jfk)
        ).text
        assert wer(JFK_TEXT, text) < 0.1
        with pytest.raises(openai.NotFoundError):
            client.audio.transcriptions.create(model="Systran/faster-whisper-large-v3", file=upload(jfk))
    assert _loaded(leasing) == {"tiny.en"}, "a hub id is a name for the same model, not a second copy"


def test_the_operator_loads_and_unloads_over_http(leasing: RunningServer) -> None:
    loaded = httpx.post(f"{leasing.api_url}/models/base/load", timeout=120)
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["loaded"] is True
    assert "base" in _loaded(leasing)
    unloaded = httpx.post(f"{leasing.api_url}/models/base/unload", timeout=60)
    assert unloaded.status_code == 200, unloaded.text
    assert unloaded.json() == {**unloaded.json(), "id": "base", "loaded": False}
    assert "base" not in _loaded(leasing)
    again = httpx.post(f"{leasing.api_url}/models/base/unload", timeout=60)
    assert again.status_code == 200  # not loaded: nothing to do
    missing = httpx.post(f"{leasing.api_url}/models/no-such-model/load", timeout=60)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"
    assert missing.headers["x-should-retry"] == "false"


def test_a_thousand_unknown_names_leave_memory_flat(leasing: RunningServer, jfk: Path) -> None:
    audio = upload(jfk)
    with httpx.Client(base_url=leasing.api_url, timeout=30) as http:

        def burst(first: int) -> None:
            for index in range(first, first + 500):
                response = http.post(
                    "/audio/transcriptions", files={"file": audio}, data={"model": f"nobody-{index}"}
                )
                assert response.status_code == 404

        burst(0)  # the first burst warms every buffer a 404 needs
        before = leasing.settled_memory_mib()
        burst(500)
        after = leasing.settled_memory_mib()
    assert after - before < 5, f"RSS {before:.1f} -> {after:.1f} MiB over 500 unknown names"
    assert leasing.upload_files() == []
