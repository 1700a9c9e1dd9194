"""One Prometheus exposition for a cluster: the ingress's and every worker's, each sample labelled with its
process, so that ``/metrics`` covers every replica and ``sum(...)`` gives the cluster's totals.

Each process keeps its own registry, as a single process does: the ingress counts the requests (it
serves HTTP), each worker reports its slots, queue, jobs and models. Families of the same name are merged
into one (one ``# HELP``/``# TYPE``), which Prometheus requires.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

__all__ = ["REPLICA_LABEL", "merge_expositions"]

REPLICA_LABEL = "replica"


class _Merged:
    """A collector over already collected families."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def merge_expositions(texts: Mapping[str, bytes]) -> bytes:
    """The expositions of ``texts`` (process name -> Prometheus text) as one, each sample labelled with
    ``replica="<process name>"``, in the order given."""
    merged: dict[str, Metric] = {}
    for replica, text in texts.items():
        for family in text_string_to_metric_families(text.decode()):
            target = merged.get(family.name)
            if target is None:
                target = merged[family.name] = Metric(
                    family.name, family.documentation, family.type, family.unit
                )
            for sample in family.samples:
                labels = {REPLICA_LABEL: replica, **sample.labels}
                target.samples.append(
                    Sample(sample.name, labels, sample.value, sample.timestamp, sample.exemplar)
                )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged(list(merged.values())))
    return generate_latest(registry)
