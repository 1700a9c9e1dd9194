"""Pure decisions about hardware: which device, which compute type, how many threads and replicas.

They take plain values so that tests can check every branch without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Placement",
    "ResolvedDevice",
    "choose_batch_size",
    "choose_compute_type",
    "choose_device",
    "choose_parallelism",
    "place",
]

ResolvedDevice = Literal["cpu", "cuda"]


@dataclass(frozen=True, slots=True)
class Placement:
    """Where and how a model runs."""

    device: ResolvedDevice
    compute_type: str
    cpu_threads: int
    num_workers: int
    batch_size: int = 1
    """Most windows in one batched model call; 1 turns cross-request batching off."""
    chunk_seconds: float = 0.0
    """With batching, audio longer than this is cut at pauses into sections decoded side by side; 0: never."""
    sections: int = 0
    """Sections a long file is cut into; 0: one per batch row (:attr:`section_count`)."""

    @property
    def section_count(self) -> int:
        return self.sections or self.batch_size

    @property
    def job_slots(self) -> int:
        """Requests worth running at once: one per replica, or enough to fill a batch when batching."""
        return self.num_workers if self.batch_size <= 1 else max(self.num_workers, self.batch_size)


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

    Concurrent requests ran faster on one thread per replica than on one replica with every thread,
    while a lone request is fastest with every core (figures in ``bench/results/2026-11-24-tuning.md``).
    Two replicas that each may use every core give both: a lone request gets all cores, two requests
    run side by side.
    """
    cores = max(1, cpu_count)
    if device == "cuda":
        return (threads or 1, workers or 2)
    return (threads or cores, workers or min(4, max(2, cores // 2)))


def choose_batch_size(requested: int, device: ResolvedDevice, batching: bool) -> int:
    """Windows per batched call: 8 on the CPU, 16 on a GPU, unless set; 1 when batching is off.

    A batch of windows costs far less per window than one window at a time on the CPU until the decoder
    stops being starved for memory bandwidth, around 4-8 windows; a GPU keeps gaining well beyond that
    (figures in ``bench/results/2026-11-24-tuning.md``).
    """
    if not batching:
        return 1
    if requested > 0:
        return requested
    return 16 if device == "cuda" else 8


def place(
    requested_device: str,
    requested_compute: str,
    cuda_devices: int,
    cpu_count: int,
    threads: int = 0,
    workers: int = 0,
    batch_size: int = 0,
    batching: bool = False,
    chunk_seconds: float = 0.0,
    sections: int = 0,
) -> Placement:
    """All of the above in one call."""
    device = choose_device(requested_device, cuda_devices)
    cpu_threads, num_workers = choose_parallelism(cpu_count, device, threads, workers)
    return Placement(
        device,
        choose_compute_type(requested_compute, device),
        cpu_threads,
        num_workers,
        choose_batch_size(batch_size, device, batching),
        chunk_seconds if batching else 0.0,
        sections,
    )
