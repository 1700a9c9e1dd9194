"""One exposition for the cluster: every sample labelled with its process; it parses back as Prometheus text."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from whisperd.observability.metrics import Gauges, Metrics
from whisperd.observability.record import RequestRecord
from whisperd.scale.exposition import merge_expositions


def _worker(slots: int) -> bytes:
    return Metrics(
        0.006, lambda: Gauges(queue_depth=0, in_flight=1, slots=slots, ready=True, uploads_in_flight=0)
    ).render()


def test_every_process_appears_once_per_family_with_its_label() -> None:
    ingress = Metrics(0.006)
    ingress.observe(
        RequestRecord(
            "r",
            route="/v1/audio/transcriptions",
            status=200,
            response_format="json",
            task="transcribe",
            audio_seconds=3.0,
            elapsed=1.0,
        )
    )
    text = merge_expositions({"ingress": ingress.render(), "a:1": _worker(2), "b:2": _worker(3)}).decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    slots = {sample.labels["replica"]: sample.value for sample in families["whisperd_job_slots"].samples}
    assert slots == {"a:1": 2.0, "b:2": 3.0}
    requests = families["whisperd_requests"].samples
    assert [
        (s.labels["replica"], s.labels["status"], s.value) for s in requests if s.name.endswith("_total")
    ] == [("ingress", "200", 1.0)]
    assert text.count("# TYPE whisperd_job_slots gauge") == 1  # one family, not one per process
    builds = {sample.labels["replica"] for sample in families["whisperd_build_info"].samples}
    assert builds == {"ingress", "a:1", "b:2"}
