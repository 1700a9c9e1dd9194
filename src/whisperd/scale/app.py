"""The Serve application: the ingress deployment in front of the worker deployment, and its (un)deployment.

The HTTP proxy runs on the head node only (``proxy_location="HeadOnly"``), bound to the same host and port
as ``whisperd serve`` (loopback unless asked), so the bind rules of one process hold for the cluster. The
ingress reserves no CPU (it moves bytes and renders text); each worker reserves its slice or its GPU.
"""

from __future__ import annotations

from typing import Any

from whisperd.config import Settings
from whisperd.scale.ingress import Ingress
from whisperd.scale.plan import ReplicaPlan, worker_settings
from whisperd.scale.worker import Worker

__all__ = ["APP_NAME", "INGRESS_MAX_ONGOING", "WORKER_NAME", "application", "deploy", "undeploy"]

APP_NAME = "whisperd"
WORKER_NAME = "Worker"
INGRESS_MAX_ONGOING = 1024
"""Requests the ingress holds at once: far above its own bounds (uploads in flight, the workers' slots and
queue, live sessions), which answer first and in OpenAI's shape; Serve's bare 503 only beyond this."""


def application(settings: Settings, plan: ReplicaPlan) -> Any:
    """The bound application: ``Ingress(workers=Worker x N)``."""
    from ray import serve

    worker = (
        serve.deployment(Worker, name=WORKER_NAME)
        .options(**plan.worker_options())
        .bind(worker_settings(settings, plan), plan.placement)
    )
    ingress = serve.deployment(serve.ingress()(Ingress), name="Ingress").options(
        num_replicas=1,
        ray_actor_options={"num_cpus": 0},
        max_ongoing_requests=INGRESS_MAX_ONGOING,
    )
    return ingress.bind(worker, settings, plan.placement, plan.queue, plan.slots * plan.replicas)


def deploy(settings: Settings, plan: ReplicaPlan) -> None:
    """Start Serve's proxy on ``settings.host:port`` and run the application; returns once every replica
    runs (each worker has loaded the default model)."""
    from ray import serve

    serve.start(
        proxy_location="HeadOnly",
        http_options={"host": settings.host, "port": settings.port},
    )
    serve.run(application(settings, plan), name=APP_NAME, route_prefix="/", blocking=False)


def undeploy(*, whole_serve: bool) -> None:
    """Remove the application (and Serve itself when this process started the cluster)."""
    from ray import serve

    if whole_serve:
        serve.shutdown()
    else:
        serve.delete(APP_NAME)
