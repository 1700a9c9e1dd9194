"""``GET /metrics`` on a real server: the figures move with real requests, and stay behind the keys."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.media import upload
from tests.support.metrics import scrape, value
from tests.support.servers import RunningServer, start_server

TRANSCRIPTIONS = "/v1/audio/transcriptions"


def test_a_transcription_moves_every_request_metric(
    server: RunningServer, client: openai.OpenAI, jfk: Path
) -> None:
    before = scrape(server)
    result = client.audio.transcriptions.create(
        model="whisper-1", file=upload(jfk), response_format="verbose_json"
    )
    after = scrape(server)
    requests = (
        "whisperd_requests_total",
        {"endpoint": TRANSCRIPTIONS, "format": "verbose_json", "status": "200"},
    )
    assert value(after, requests[0], **requests[1]) == value(before, requests[0], **requests[1]) + 1
    count = "whisperd_request_seconds_count"
    assert value(after, count, endpoint=TRANSCRIPTIONS) == value(before, count, endpoint=TRANSCRIPTIONS) + 1
    audio = value(after, "whisperd_audio_seconds_total", task="transcribe") - value(
        before, "whisperd_audio_seconds_total", task="transcribe"
    )
    assert audio == pytest.approx(result.duration, abs=0.01)
    rtf = "whisperd_real_time_factor_count"
    assert value(after, rtf, task="transcribe") == value(before, rtf, task="transcribe") + 1
    saved = value(after, "whisperd_openai_cost_saved_dollars_total") - value(
        before, "whisperd_openai_cost_saved_dollars_total"
    )
    assert saved == pytest.approx(result.duration / 60 * 0.006, rel=1e-6)


def test_errors_and_other_routes_are_counted_with_bounded_labels(server: RunningServer) -> None:
    before = scrape(server)
    bad = httpx.post(
        f"{server.api_url}/audio/transcriptions",
        files={"file": ("x.wav", b"not audio at all")},
        data={"model": "whisper-1", "response_format": "text"},
        timeout=30,
    )
    assert bad.status_code == 400
    assert httpx.get(f"{server.url}/no/such/{'x' * 20}", timeout=10).status_code == 404
    assert httpx.get(f"{server.api_url}/models/whisper-1", timeout=10).status_code == 200
    after = scrape(server)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("whisperd_requests_total", endpoint=TRANSCRIPTIONS, format="text", status="400") == 1
    assert moved("whisperd_requests_total", endpoint="unmatched", format="", status="404") == 1
    assert (
        moved("whisperd_requests_total", endpoint="/v1/models/{model_id:path}", format="", status="200") == 1
    )
    assert moved("whisperd_audio_seconds_total", task="transcribe") == 0
    assert not any("x" * 20 in str(labels) for _, labels in after)


def test_state_gauges(server: RunningServer) -> None:
    samples = scrape(server)
    assert value(samples, "whisperd_queue_depth") == 0
    assert value(samples, "whisperd_jobs_in_flight") == 0
    assert value(samples, "whisperd_job_slots") >= 1
    assert value(samples, "whisperd_model_ready") == 1
    assert value(samples, "whisperd_model_load_seconds", model="tiny.en") > 0
    assert any(name == "whisperd_build_info" for name, _ in samples)


def test_health_stays_outside_the_keys_while_metrics_need_one(tmp_path: Path, jfk: Path) -> None:
    server = start_server(
        tmp_path,
        extra_env={"WHISPERD_API_KEYS": "secret", "WHISPERD_OPENAI_PRICE_PER_MINUTE": "1.5"},
    )
    try:
        assert httpx.get(f"{server.url}/metrics", timeout=10).status_code == 401
        assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
        before = scrape(server, key="secret")
        response = httpx.post(
            f"{server.api_url}/audio/transcriptions",
            files={"file": upload(jfk)},
            data={"model": "whisper-1", "response_format": "verbose_json"},
            headers={"Authorization": "Bearer secret"},
            timeout=60,
        )
        duration = response.json()["duration"]
        after = scrape(server, key="secret")
        assert value(after, "whisperd_requests_total", endpoint="/metrics", format="", status="401") == 1
        saved = value(after, "whisperd_openai_cost_saved_dollars_total") - value(
            before, "whisperd_openai_cost_saved_dollars_total"
        )
        assert saved == pytest.approx(duration / 60 * 1.5, rel=1e-6)
    finally:
        server.stop(signal.SIGTERM)


def test_a_streamed_transcription_is_counted_when_the_stream_ends(server: RunningServer, jfk: Path) -> None:
    before = scrape(server)
    with httpx.stream(
        "POST",
        f"{server.api_url}/audio/transcriptions",
        files={"file": upload(jfk)},
        data={"model": "whisper-1", "stream": "true"},
        timeout=60,
    ) as response:
        assert response.status_code == 200
        events = "".join(response.iter_text())
    assert "transcript.text.done" in events
    after = scrape(server)
    audio = value(after, "whisperd_audio_seconds_total", task="transcribe") - value(
        before, "whisperd_audio_seconds_total", task="transcribe"
    )
    assert audio == pytest.approx(11.0, abs=0.1)
