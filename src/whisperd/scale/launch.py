"""``whisperd serve --ray``: join or start the cluster, deploy, serve until SIGTERM or Ctrl-C, then leave
nothing behind (the application; and the whole cluster when this command started it)."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from whisperd.config import Settings
from whisperd.observability.logs import LOGGER_NAME
from whisperd.scale.plan import plan_replicas

__all__ = ["serve_cluster"]

logger = logging.getLogger(LOGGER_NAME)


def serve_cluster(
    settings: Settings,
    address: str | None,
    *,
    replicas: int | None = None,
    min_replicas: int | None = None,
    max_replicas: int | None = None,
) -> int:
    """Serve ``settings`` on the cluster at ``address`` (None: a private local one); the exit status."""
    from whisperd.scale.app import deploy, undeploy
    from whisperd.scale.cluster import connect

    cluster = connect(address)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # after Ray's own (ray.init sets one): ours stop cleanly
        signal.signal(signum, lambda *_: stop.set())
    try:
        try:
            plan = plan_replicas(
                settings,
                cluster.shape(),
                replicas=replicas,
                min_replicas=min_replicas,
                max_replicas=max_replicas,
            )
        except ValueError as exc:
            print(f"whisperd: {exc}", file=sys.stderr)
            return 2
        where = "a local Ray cluster" if cluster.owned else f"the Ray cluster at {cluster.address}"
        scale = (
            f"{plan.min_replicas}-{plan.max_replicas} replicas (autoscaled)"
            if plan.autoscaled
            else f"{plan.replicas} replica(s)"
        )
        logger.info(
            "deploying on %s (GCS %s): %s of %d CPU / %d GPU, %d slot(s) each, %d queued at most",
            where, cluster.address, scale, plan.num_cpus, plan.num_gpus, plan.slots, plan.queue,
        )  # fmt: skip
        try:
            deploy(settings, plan)
            logger.info("whisperd listening on http://%s:%d (Ray Serve)", settings.host, settings.port)
            stop.wait()
            logger.info("stopping: removing the application%s", " and the cluster" if cluster.owned else "")
        finally:
            undeploy(whole_serve=cluster.owned)
    finally:
        cluster.close()
    return 0
