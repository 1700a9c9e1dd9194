"""How many workers, how big, and the Serve options they get: pure, checked for every branch."""

from __future__ import annotations

import pytest

from whisperd.config import Settings
from whisperd.scale.plan import ClusterShape, plan_replicas, worker_settings


def test_cpu_cluster_defaults_to_one_replica_per_node_of_the_smallest_node() -> None:
    plan = plan_replicas(Settings(), ClusterShape((8, 4)))
    assert (plan.replicas, plan.num_cpus, plan.num_gpus) == (2, 4, 0)
    assert plan.placement.device == "cpu"
    assert plan.placement.cpu_threads == 4  # placed as one process on a 4-core machine
    assert plan.worker_options()["num_replicas"] == 2


def test_replicas_split_the_cores() -> None:
    plan = plan_replicas(Settings(), ClusterShape((2,)), replicas=2)
    assert (plan.replicas, plan.num_cpus) == (2, 1)
    assert plan.placement.cpu_threads == 1


def test_one_replica_per_gpu() -> None:
    plan = plan_replicas(Settings(), ClusterShape((16, 16), gpus=4))
    assert (plan.replicas, plan.num_gpus, plan.num_cpus) == (4, 1, 1)
    assert plan.placement.device == "cuda"
    assert plan.worker_options()["ray_actor_options"] == {"num_cpus": 1, "num_gpus": 1}


def test_device_cpu_ignores_the_gpus() -> None:
    plan = plan_replicas(Settings(device="cpu"), ClusterShape((4,), gpus=1))
    assert (plan.num_gpus, plan.placement.device) == (0, "cpu")


def test_slots_and_queue_follow_the_settings() -> None:
    plan = plan_replicas(Settings(max_concurrent_jobs=3, max_queued_jobs=7), ClusterShape((4,)))
    assert (plan.slots, plan.queue) == (3, 7)
    options = plan.worker_options()
    assert options["max_ongoing_requests"] == 3
    assert options["max_queued_requests"] == -1  # the ingress bounds the queue


def test_autoscaling_between_bounds() -> None:
    plan = plan_replicas(Settings(), ClusterShape((4, 4)), min_replicas=1, max_replicas=4)
    assert plan.autoscaled
    assert plan.num_cpus == 2  # a slice sized for the most replicas
    config = plan.worker_options()["autoscaling_config"]
    assert config == {
        "min_replicas": 1,
        "max_replicas": 4,
        "initial_replicas": 1,
        "target_ongoing_requests": plan.slots,
    }
    assert "num_replicas" not in plan.worker_options()


@pytest.mark.parametrize(
    ("replicas", "low", "high"),
    [(None, 1, None), (None, None, 2), (2, 1, 3), (None, 3, 2), (None, 0, 2), (0, None, None)],
)
def test_impossible_bounds_are_refused(replicas: int | None, low: int | None, high: int | None) -> None:
    with pytest.raises(ValueError, match="replicas"):
        plan_replicas(Settings(), ClusterShape((4,)), replicas=replicas, min_replicas=low, max_replicas=high)


def test_workers_get_no_keys_and_no_companions() -> None:
    settings = Settings(api_keys=["secret"], wyoming_uri="tcp://127.0.0.1:10300", advertise=True)
    plan = plan_replicas(settings, ClusterShape((2,)))
    worker = worker_settings(settings, plan)
    assert (worker.api_keys, worker.api_keys_file, worker.wyoming_uri, worker.advertise) == (
        [],
        None,
        None,
        False,
    )
    assert worker.max_concurrent_jobs == plan.slots
    assert settings.api_keys == ["secret"]  # the operator's settings are left as they were
