"""What the benchmark ran on: written at the top of every result, since figures mean nothing without it."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["Machine", "describe", "load_average"]


@dataclass(frozen=True, slots=True)
class Machine:
    host: str
    cpu: str
    cores: int
    memory_gib: float
    gpus: tuple[str, ...]
    python: str
    packages: dict[str, str]

    @property
    def slug(self) -> str:
        """A file-name-safe label: the host name and the core count or GPU."""
        label = self.gpus[0] if self.gpus else f"{self.cores}cpu"
        raw = f"{self.host}-{label}"
        return "".join(c if c.isalnum() or c in "-." else "-" for c in raw).strip("-").lower()[:60]

    def lines(self) -> list[str]:
        gpu = ", ".join(self.gpus) if self.gpus else "none visible to CTranslate2"
        packages = ", ".join(f"{name} {v}" for name, v in self.packages.items())
        return [
            f"- machine: `{self.host}`, {self.cpu}, {self.cores} cores, {self.memory_gib:.0f} GiB RAM",
            f"- GPU: {gpu}",
            f"- software: Python {self.python}, {packages}",
        ]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def _gpus() -> tuple[str, ...]:
    try:
        import ctranslate2

        if ctranslate2.get_cuda_device_count() == 0:
            return ()
    except Exception:
        return ()
    if shutil.which("nvidia-smi"):
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True
        )
        names = tuple(line.strip() for line in out.stdout.splitlines() if line.strip())
        if names:
            return names
    return ("CUDA device",)


def _versions(names: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found


def describe() -> Machine:
    return Machine(
        host=socket.gethostname(),
        cpu=_cpu_model(),
        cores=os.cpu_count() or 1,
        memory_gib=_memory_gib(),
        gpus=_gpus(),
        python=platform.python_version(),
        packages=_versions(("whisperd", "faster-whisper", "ctranslate2", "flask", "uvicorn")),
    )


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: how busy the machine was with other work."""
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"
