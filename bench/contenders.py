"""The systems under test behind one interface: send clips, get texts, times and the CPU time they used.

A contender is the reference design's server, a whisperd server, or an in-process worker
(:mod:`bench.inprocess`). Each is measured the same way: a short pause first, so that the threads of
the previous contender have gone to sleep (CTranslate2's OpenMP threads spin for a while after work),
then the wall time of the request(s) and the CPU time the contender's process spent on them. CPU time
is what a busy shared machine distorts least: when other work steals the cores, wall times stretch
but the work done stays the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from bench.clients import Result, burst, transcribe
from bench.corpus import Clip
from bench.servers import Server, peak_rss_mib

__all__ = ["COOL_DOWN_SECONDS", "Contender", "InProcessWorker", "Sample", "cpu_seconds"]

COOL_DOWN_SECONDS = 0.3
Role = Literal["reference", "whisperd", "floor", "library"]


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and all its threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Sample:
    """One measurement: the results of the clips sent together, the wall time and the CPU time."""

    results: list[Result]
    wall_seconds: float
    cpu_seconds: float


class InProcessWorker:
    """A :mod:`bench.inprocess` subprocess: one model, fed one JSON job per line."""

    def __init__(self, recipe: str, device: str, model_dir: Path, env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.inprocess", recipe, device, str(model_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=cwd,
        )  # fmt: skip
        self.peak_rss_mib = 0.0
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        stdout: IO[str] | None = self.process.stdout
        line = stdout.readline() if stdout is not None else ""
        if not line:
            raise RuntimeError(f"in-process worker exited with {self.process.wait()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, clips: list[Clip], stream: bool) -> tuple[list[Result], float]:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(json.dumps({"paths": [str(c.path) for c in clips], "stream": stream}) + "\n")
        stdin.flush()
        answer = self._read()
        self.peak_rss_mib = max(self.peak_rss_mib, float(answer["peak_rss_mib"]))
        results = [
            Result(clip, f["text"], f["seconds"], f["first_text_seconds"])
            for clip, f in zip(clips, answer["files"], strict=True)
        ]
        return results, float(answer["wall_seconds"])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Contender:
    """One system under test: a server reached over HTTP, or an in-process worker."""

    label: str
    role: Role
    profile: str | None
    server: Server | None = None
    worker: InProcessWorker | None = None

    @property
    def pid(self) -> int:
        if self.server is not None:
            return self.server.process.pid
        assert self.worker is not None
        return self.worker.process.pid

    def peak_rss_mib(self) -> float:
        if self.worker is not None:
            return max(self.worker.peak_rss_mib, peak_rss_mib(self.pid))
        return peak_rss_mib(self.pid)

    def measure(self, clips: list[Clip], *, stream: bool = False) -> Sample:
        """Send ``clips`` at once (one client each) after a cool-down; streaming where it is offered."""
        time.sleep(COOL_DOWN_SECONDS)
        stream = stream and self.role in ("whisperd", "floor")
        before = cpu_seconds(self.pid)
        if self.worker is not None:
            results, wall = self.worker.run(clips, stream)
        else:
            assert self.server is not None
            if len(clips) == 1:
                result = transcribe(self.server.transcriptions_url, clips[0], stream=stream)
                results, wall = [result], result.seconds
            else:
                outcome = burst(self.server.transcriptions_url, clips, stream=stream)
                results, wall = outcome.results, outcome.wall_seconds
        return Sample(results, wall, cpu_seconds(self.pid) - before)
