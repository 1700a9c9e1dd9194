"""Pure decisions about hardware: which device, which compute type, how many threads and replicas.

They take plain values so that tests can check every branch without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ResolvedDevice = Literal["cpu", "cuda"]


@dataclass(frozen=True, slots=True)
class Placement:
    """Where and how a model runs."""

    device: ResolvedDevice
    compute_type: str
    cpu_threads: int
    num_workers: int


def choose_device(requested: str, cuda_devices: int) -> ResolvedDevice:
    """``auto`` means CUDA when CTranslate2 counts at least one GPU."""
    if requested == "auto":
        return "cuda" if cuda_devices > 0 else "cpu"
    if requested == "cuda" and cuda_devices == 0:
        raise ValueError("device 'cuda' was asked for, but CTranslate2 sees no CUDA device")
    return "cuda" if requested == "cuda" else "cpu"


def choose_compute_type(requested: str, device: ResolvedDevice) -> str:
    """``auto`` means float16 on a GPU and int8 on the CPU (the reference design's choice)."""
    if requested != "auto":
        return requested
    return "float16" if device == "cuda" else "int8"


def choose_parallelism(cpu_count: int, device: ResolvedDevice, threads: int, workers: int) -> tuple[int, int]:
    """Threads per replica and number of replicas.

    Measured on 2 cores with tiny.en, 4 concurrent requests: 1 thread x 2 replicas ran twice as fast as
    2 threads x 1 replica, while a lone request is fastest with every core. Two replicas that each may
    use every core give both: a lone request gets all cores, two requests run side by side.
    """
    cores = max(1, cpu_count)
    if device == "cuda":
        return (threads or 1, workers or 2)
    return (threads or cores, workers or min(4, max(2, cores // 2)))


def place(
    requested_device: str,
    requested_compute: str,
    cuda_devices: int,
    cpu_count: int,
    threads: int = 0,
    workers: int = 0,
) -> Placement:
    """All of the above in one call."""
    device = choose_device(requested_device, cuda_devices)
    cpu_threads, num_workers = choose_parallelism(cpu_count, device, threads, workers)
    return Placement(device, choose_compute_type(requested_compute, device), cpu_threads, num_workers)
