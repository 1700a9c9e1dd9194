"""Joining or starting the Ray cluster, safely by default, and leaving it with nothing behind.

* ``address=None`` starts a private local cluster for this process: its files under a fresh temporary
  folder (``RAY_TMPDIR`` when set), its node on 127.0.0.1, no dashboard, Ray's token authentication on
  with a random token kept in this process's environment (nothing is written to the home folder), and
  all of it stopped (every Ray process, the folder) by :meth:`Cluster.close`.
* ``address="auto"`` or ``HOST:PORT`` joins a running cluster (started with ``ray start``); its token comes
  from ``RAY_AUTH_TOKEN`` as Ray reads it; leaving it disconnects and stops nothing of it.

Either way Ray's usage reporting is off (``RAY_USAGE_STATS_ENABLED=0``) unless the operator set it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from whisperd.scale.plan import ClusterShape

__all__ = ["Cluster", "connect"]


@dataclass
class Cluster:
    """A connection to a Ray cluster; ``owned`` when this process started it."""

    address: str
    owned: bool
    temp_dir: Path | None

    def shape(self) -> ClusterShape:
        """The CPUs of each live node and the GPUs of all of them, as Ray counts them."""
        import ray

        nodes = [node for node in ray.nodes() if node.get("Alive")]
        cpus = tuple(int(node["Resources"].get("CPU", 0)) for node in nodes)
        gpus = sum(int(node["Resources"].get("GPU", 0)) for node in nodes)
        return ClusterShape(cpus, gpus)

    def close(self) -> None:
        """Disconnect; a cluster this process started stops with it (and its folder goes)."""
        import ray

        ray.shutdown()
        if self.owned and self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


def connect(address: str | None) -> Cluster:
    """Join the cluster at ``address`` (``auto`` finds the local one), or start a private one (None)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address is None:  # before Ray is imported: it reads its configuration once
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    import ray

    if address is not None:
        ray.init(address=address, include_dashboard=False, log_to_driver=True)
        return Cluster(_gcs_address(), owned=False, temp_dir=None)
    base = os.environ.get("RAY_TMPDIR")
    temp_dir = Path(base) / "ray" if base else Path(tempfile.mkdtemp(prefix="whisperd-ray-"))
    ray.init(
        include_dashboard=False,
        _temp_dir=str(temp_dir),
        _node_ip_address="127.0.0.1",
        log_to_driver=True,
    )
    return Cluster(_gcs_address(), owned=True, temp_dir=None if base else temp_dir)


def _gcs_address() -> str:
    import ray

    address: str = ray.get_runtime_context().gcs_address
    return address
