"""whisperd on Ray Serve: a private two-replica cluster on 127.0.0.1 serves the official SDK.

One cluster for the module (it takes 15-40 s to start on a small machine): each replica has one job slot
and the cluster queues one request, so that it can be overloaded with three long requests. The last test
stops it and counts what is left of it in /proc.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.media import long_speech, upload
from tests.support.overload import assert_some_refused, at_once
from tests.support.ray_cluster import RayServer, start_ray_server
from tests.support.servers import RunningServer

pytestmark = pytest.mark.ray

_UPLOAD_LIMIT = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RayServer]:
    env = {
        "WHISPERD_MAX_CONCURRENT_JOBS": "1",
        "WHISPERD_MAX_QUEUED_JOBS": "1",
        "WHISPERD_MAX_UPLOAD_BYTES": str(_UPLOAD_LIMIT),
    }
    with start_ray_server(tmp_path_factory.mktemp("ray-server"), extra_env=env) as running:
        yield running


@pytest.fixture(scope="module")
def sdk(cluster: RayServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=cluster.server.api_url, api_key="unused", max_retries=0, timeout=180
    ) as client:
        yield client


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return long_speech(tmp_path_factory.mktemp("long") / "jfk-x6.wav", 6)


def _replica_pid(response: httpx.Response) -> int:
    return int(response.headers["x-whisperd-replica"].rsplit(":", 1)[1])


def test_two_replicas_both_serve(cluster: RayServer, jfk: Path) -> None:
    """Two requests at a time, three times: each replica has one slot, so both serve."""
    pids: set[int] = set()
    texts: set[str] = set()
    for _ in range(3):
        responses: list[httpx.Response] = []

        def send(responses: list[httpx.Response] = responses) -> None:
            responses.append(
                httpx.post(
                    f"{cluster.server.api_url}/audio/transcriptions",
                    files={"file": upload(jfk)},
                    data={"model": "whisper-1"},
                    timeout=180,
                )
            )

        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for response in responses:
            assert response.status_code == 200, response.text
            pids.add(_replica_pid(response))
            texts.add(response.json()["text"])
    assert len(pids) == 2, pids
    assert cluster.server.pid not in pids  # the work is done in the replicas, not in the driver
    assert len(texts) == 1


def test_text_equals_the_single_process_servers(
    sdk: openai.OpenAI, client: openai.OpenAI, jfk: Path, audio: Path
) -> None:
    """Same text, tokens and times; probabilities may differ in their last digits, since a replica on one
    core's slice runs one thread where the single process runs two (sums taken in another order)."""

    def decoded(result: openai.types.audio.TranscriptionVerbose) -> tuple[object, ...]:
        segments = [(s.text, s.tokens, s.start, s.end) for s in result.segments or []]
        return result.text, segments, [word.word for word in result.words or []]

    for path in (jfk, audio / "hotwords.mp3"):
        through_ray = sdk.audio.transcriptions.create(
            model="whisper-1",
            file=upload(path),
            response_format="verbose_json",
            timestamp_granularities=["word"],
        )
        one_process = client.audio.transcriptions.create(
            model="whisper-1",
            file=upload(path),
            response_format="verbose_json",
            timestamp_granularities=["word"],
        )
        assert through_ray.text
        assert decoded(through_ray) == decoded(one_process)


def test_the_sdk_streams_through_serve(sdk: openai.OpenAI, jfk: Path) -> None:
    whole = sdk.audio.transcriptions.create(model="whisper-1", file=upload(jfk)).text
    deltas: list[str] = []
    done = None
    for event in sdk.audio.transcriptions.create(model="whisper-1", file=upload(jfk), stream=True):
        if event.type == "transcript.text.delta":
            deltas.append(event.delta)
        elif event.type == "transcript.text.done":
            done = event.text
    assert deltas
    assert done == whole
    assert "".join(deltas).strip() == whole.strip()


def test_formats_and_errors_cross_back(cluster: RayServer, sdk: openai.OpenAI, jfk: Path) -> None:
    """A replica's answers and errors reach the client as a single process sends them."""
    srt = sdk.audio.transcriptions.create(model="whisper-1", file=upload(jfk), response_format="srt")
    assert "-->" in srt
    translation = httpx.post(  # tiny.en is English-only: the replica refuses, the ingress renders it
        f"{cluster.server.api_url}/audio/translations", files={"file": upload(jfk)}, timeout=60
    )
    assert translation.status_code == 400
    assert translation.json()["error"]["param"] == "model"
    garbage = httpx.post(
        f"{cluster.server.api_url}/audio/transcriptions", files={"file": ("a.ogg", b"not audio")}, timeout=60
    )
    assert garbage.status_code == 400
    assert garbage.json()["error"]["code"] == "invalid_file_format"


def test_upload_over_the_limit_is_refused_while_it_streams(cluster: RayServer) -> None:
    """A chunked body (no length declared) is cut off at the ingress once past the limit."""
    sent = [0]

    def body() -> Iterator[bytes]:
        boundary = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        yield boundary
        while sent[0] < 4 * _UPLOAD_LIMIT:
            sent[0] += 64 * 1024
            yield b"\0" * 64 * 1024

    response = httpx.post(
        f"{cluster.server.api_url}/audio/transcriptions",
        content=body(),
        headers={"content-type": "multipart/form-data; boundary=x"},
        timeout=60,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"


def test_overload_is_429_with_retry_after(cluster: RayServer, long_clip: Path, jfk: Path) -> None:
    """Two slots and one place in the queue: of six long requests at once, some wait, the rest get 429."""

    def send() -> httpx.Response:
        return httpx.post(
            f"{cluster.server.api_url}/audio/transcriptions", files={"file": upload(long_clip)}, timeout=300
        )

    assert_some_refused(at_once(send, 6), served=2)
    after = httpx.post(
        f"{cluster.server.api_url}/audio/transcriptions", files={"file": upload(jfk)}, timeout=180
    )
    assert after.status_code == 200  # the queue has room again once work ends


def test_metrics_cover_every_replica(cluster: RayServer) -> None:
    text = httpx.get(f"{cluster.server.url}/metrics", timeout=60).text
    slots = [line for line in text.splitlines() if line.startswith("whisperd_job_slots{")]
    assert len(slots) == 2, slots  # one series per worker replica, each labelled host:pid
    assert all(line.endswith(" 1.0") for line in slots)
    assert (
        'whisperd_requests_total{endpoint="/v1/audio/transcriptions",format="json",replica="ingress",status="200"}'
        in text
    )
    refused = [
        line
        for line in text.splitlines()
        if line.startswith("whisperd_requests_total") and 'status="429"' in line
    ]
    assert refused, "the 429s of the overload are counted at the ingress"


def test_models_health_and_page(cluster: RayServer, sdk: openai.OpenAI) -> None:
    health = httpx.get(f"{cluster.server.url}/health", timeout=30).json()
    assert health["status"] == "ok"
    assert [model["id"] for model in health["models"]] == ["tiny.en"]
    assert "tiny.en" in {model.id for model in sdk.models.list().data}
    assert sdk.models.retrieve("whisper-1").id == "whisper-1"
    page = httpx.get(cluster.server.url, timeout=30)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]


def test_transcribe_a_folder_on_the_cluster(
    cluster: RayServer, jfk: Path, audio: Path, tmp_path: Path
) -> None:
    """``whisperd transcribe DIR --ray`` joins the cluster, spreads the files, and resumes where it left."""
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(jfk, folder / "a.flac")
    shutil.copy(audio / "hotwords.mp3", folder / "sub" / "b.mp3")
    (folder / "notes.txt").write_text("not audio")
    out = tmp_path / "out"
    env = {**os.environ, **cluster.ray_env}
    command = [sys.executable, "-m", "whisperd.cli.main", "transcribe", str(folder), "--recursive", "--ray"]
    first = subprocess.run(
        [*command, "--output-dir", str(out)], env=env, capture_output=True, text=True, timeout=300
    )
    assert first.returncode == 0, first.stderr[-3000:]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.txt")) == ["a.txt", "sub/b.txt"]
    assert "fellow Americans" in (out / "a.txt").read_text()
    (out / "sub" / "b.txt").unlink()  # as if the run had been interrupted before it
    again = subprocess.run(
        [*command, "--output-dir", str(out)], env=env, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "1 transcribed, 1 skipped (output exists), 0 failed" in again.stderr
    assert (out / "sub" / "b.txt").read_text().strip()


def test_shutdown_leaves_no_ray_process(cluster: RayServer) -> None:
    running = cluster.processes()
    names = set(running.values())
    assert {"gcs_server", "raylet"} <= names, names  # the scan sees the cluster while it runs
    assert sum(1 for name in names if name.startswith("ray::ServeRepli")) >= 1, names
    server: RunningServer = cluster.server
    assert server.stop(signal.SIGTERM, timeout=90) == 0
    deadline = time.monotonic() + 30
    while cluster.processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cluster.processes() == {}
    assert server.upload_files() == []
