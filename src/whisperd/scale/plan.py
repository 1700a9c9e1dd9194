"""Pure decisions for a cluster: how many workers, how big each is, and what each replica's runtime uses.

A worker takes one GPU where the cluster has GPUs (one replica per GPU), else a slice of the CPUs: the
cores of the smallest node by default (one replica per node), or an equal share of all cores when the
operator asks for N replicas. Each replica's runtime is placed on its slice exactly as a single process is
placed on a machine of that size (:func:`whisperd.engine.tuning.place`), so one replica on a node behaves
as ``whisperd serve`` on that node. Serve sends a replica at most as many calls as it has job slots;
the rest wait at the ingress, which admits at most ``WHISPERD_MAX_QUEUED_JOBS`` of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from whisperd.config import Settings
from whisperd.engine.tuning import Placement, place

__all__ = ["ClusterShape", "ReplicaPlan", "plan_replicas", "worker_settings"]


@dataclass(frozen=True, slots=True)
class ClusterShape:
    """What the cluster offers: the CPUs of each live node and the GPUs of all of them."""

    node_cpus: tuple[int, ...]
    gpus: int = 0


@dataclass(frozen=True, slots=True)
class ReplicaPlan:
    """The workers' deployment: their number (fixed or autoscaled), resources, placement and bounds."""

    replicas: int
    """Fixed number of replicas, or the autoscaler's starting point."""
    min_replicas: int | None
    max_replicas: int | None
    num_cpus: int
    num_gpus: int
    placement: Placement
    slots: int
    """Calls one replica runs at once (Serve's ``max_ongoing_requests``): its job slots."""
    queue: int
    """Calls waiting at the ingress for a free slot (admitted by the ingress, :mod:`.backlog`); one more is a
    429."""

    @property
    def autoscaled(self) -> bool:
        return self.min_replicas is not None

    def worker_options(self) -> dict[str, Any]:
        """The worker deployment's Serve options."""
        options: dict[str, Any] = {
            "ray_actor_options": {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus},
            "max_ongoing_requests": self.slots,
            # the ingress bounds the queue itself (Serve's bound refuses calls in transit; see .backlog)
            "max_queued_requests": -1,
        }
        if self.autoscaled:
            options["autoscaling_config"] = {
                "min_replicas": self.min_replicas,
                "max_replicas": self.max_replicas,
                "initial_replicas": self.replicas,
                # a replica whose every slot is busy is as loaded as it should get
                "target_ongoing_requests": self.slots,
            }
        else:
            options["num_replicas"] = self.replicas
        return options


def plan_replicas(
    settings: Settings,
    shape: ClusterShape,
    *,
    replicas: int | None = None,
    min_replicas: int | None = None,
    max_replicas: int | None = None,
) -> ReplicaPlan:
    """The workers for ``shape``: ``replicas`` fixed, or autoscaled between the bounds, or the default
    (one per GPU; else one per node). Raises ValueError for bounds that cannot hold."""
    if (min_replicas is None) != (max_replicas is None):
        raise ValueError("autoscaling needs both --min-replicas and --max-replicas")
    if min_replicas is not None and max_replicas is not None:
        if replicas is not None:
            raise ValueError("--replicas is fixed; --min-replicas/--max-replicas autoscale: choose one")
        if not 0 < min_replicas <= max_replicas:
            raise ValueError("autoscaling needs 0 < --min-replicas <= --max-replicas")
    if replicas is not None and replicas < 1:
        raise ValueError("--replicas must be at least 1")
    cpus = [max(1, count) for count in shape.node_cpus] or [1]
    use_gpus = shape.gpus > 0 and settings.device != "cpu"
    default = shape.gpus if use_gpus else len(cpus)
    count = replicas or min_replicas or default
    most = max_replicas or count
    if use_gpus:
        num_cpus, num_gpus = 1, 1
    else:
        num_cpus, num_gpus = max(1, min(min(cpus), sum(cpus) // most)), 0
    placement = place(
        settings.device, settings.compute_type, num_gpus, num_cpus, settings.cpu_threads,
        settings.num_workers, batch_size=settings.batch_size, batching=settings.batching,
        chunk_seconds=settings.chunk_seconds,
    )  # fmt: skip
    return ReplicaPlan(
        replicas=count,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        placement=placement,
        slots=settings.max_concurrent_jobs or placement.job_slots,
        queue=settings.max_queued_jobs,
    )


def worker_settings(settings: Settings, plan: ReplicaPlan) -> Settings:
    """The settings a worker's runtime runs with: the operator's, without the API keys (the ingress checks
    them; a worker needs none), and no Wyoming listener or LAN announcement of its own."""
    return settings.model_copy(
        update={
            "api_keys": [],
            "api_keys_file": None,
            "wyoming_uri": None,
            "advertise": False,
            "max_concurrent_jobs": plan.slots,
        }
    )
