"""Metrics from request records, in a registry of their own (pure: no server)."""

from __future__ import annotations

from whisperd.observability.metrics import Gauges, Metrics, ModelGauge
from whisperd.observability.record import RequestRecord


def test_each_runtime_has_its_own_registry() -> None:
    first, second = Metrics(0.006), Metrics(0.006)
    assert first.registry is not second.registry
    first.observe(RequestRecord("a", route="/health", status=200, elapsed=0.01))
    assert b'endpoint="/health"' in first.render()
    assert b'endpoint="/health"' not in second.render()


def test_audio_counts_only_for_answered_requests() -> None:
    metrics = Metrics(0.006)
    done = RequestRecord(
        "a", route="/v1/audio/transcriptions", status=200, task="transcribe", audio_seconds=60.0, elapsed=6.0
    )
    left = RequestRecord(
        "b",
        route="/v1/audio/transcriptions",
        status=499,
        task="transcribe",
        audio_seconds=60.0,
        cancelled=True,
    )
    metrics.observe(done)
    metrics.observe(left)
    text = metrics.render().decode()
    assert 'whisperd_audio_seconds_total{task="transcribe"} 60.0' in text
    assert "whisperd_openai_cost_saved_dollars_total 0.006" in text


def test_gauges_report_every_resident_model() -> None:
    state = Gauges(
        queue_depth=1, in_flight=2, slots=8, ready=True, uploads_in_flight=3,
        models=[ModelGauge("tiny.en", 0.5, 1, 75_000_000), ModelGauge("base", 0.9, 0, 145_000_000)],
        model_loads=2, model_unloads={"idle": 1},
    )  # fmt: skip
    text = Metrics(0.006, lambda: state).render().decode()
    assert 'whisperd_model_leases{model="tiny.en"} 1.0' in text
    assert 'whisperd_model_size_bytes{model="base"} 1.45e+08' in text
    assert "whisperd_models_loaded 2.0" in text
    assert 'whisperd_model_unloads_total{reason="idle"} 1.0' in text
    assert "whisperd_uploads_in_flight 3.0" in text
