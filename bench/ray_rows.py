"""``make bench ARGS=--ray``: one whisperd process against two Ray Serve replicas with the cores split.

Both serve ``base`` (``accurate``) on the same machine at the same time, from the same model files. Single
requests alternate between them (one process first, then the cluster, then the other way); the bursts of
one system run just before those of the other, so a busy spell on a shared machine can favour one of
them: the load average is printed with the figures. Rows: a one-minute clip alone (latency), then 4 and 8
clients sending one-minute clips at once (throughput in audio seconds per second, and p95 latency), each
with the word error rate of the text. The cluster is ``whisperd serve --ray --replicas 2``: each replica a
runtime on one core's slice, an ingress in front; on one machine it pays Ray's hops and gives up the
single process's sharing of all cores between requests, so it is not expected to win here: the point is
the overhead, measured, and what the capacity model makes of it for N machines.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.clients import Burst, Result, burst, transcribe
from bench.corpus import Clip, Corpus
from bench.machine import Machine, load_average
from bench.report import median, percentile
from bench.servers import Server, free_port, start_whisperd
from bench.wer import wer

__all__ = ["ray_report", "start_ray_whisperd"]


def start_ray_whisperd(cache_dir: Path, folder: Path, replicas: int) -> tuple[Server, Path]:
    """``whisperd serve --ray --replicas N`` on a private local cluster (its Ray folder returned)."""
    port = free_port()
    ray_dir = Path(tempfile.mkdtemp(prefix="wdb-"))
    env = {
        **os.environ,
        "WHISPERD_MODEL": "base",
        "WHISPERD_PORT": str(port),
        "WHISPERD_HOST": "127.0.0.1",
        "WHISPERD_DEVICE": "cpu",
        "WHISPERD_CACHE_DIR": str(cache_dir),
        "WHISPERD_LOG_DIR": str(folder / "logs-ray"),
        "WHISPERD_TEMP_DIR": str(folder),
        "WHISPERD_JOBS": "false",  # the bench sends no jobs, and a cluster serves none
        "RAY_TMPDIR": str(ray_dir),
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "whisperd.cli.main", "serve", "--ray", "--replicas", str(replicas)]
    log = folder / "whisperd-ray.out"
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server("whisperd-ray", process, port, log)
    try:
        server.wait_ready(started, timeout=300)
    except BaseException:
        _stop(server, ray_dir)
        raise
    return server, ray_dir


def _stop(server: Server, ray_dir: Path) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(120)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    shutil.rmtree(ray_dir, ignore_errors=True)


def _wer(results: list[Result]) -> float:
    return sum(wer(r.clip.text, r.text) for r in results) / len(results)


def _bursts(url: str, clips: list[Clip], rounds: int) -> list[Burst]:
    return [burst(url, clips) for _ in range(rounds)]


def _row(label: str, one: list[Burst], ray: list[Burst]) -> str:
    def figures(bursts: list[Burst]) -> tuple[float, float, float]:
        results = [r for b in bursts for r in b.results]
        throughput = median([b.throughput for b in bursts])
        return throughput, percentile([r.seconds for r in results], 0.95), _wer(results)

    (t1, p1, w1), (t2, p2, w2) = figures(one), figures(ray)
    return (
        f"| {label} | {t1:.1f} audio-s/s | {t2:.1f} audio-s/s | {t2 / t1:.2f}x | {p1:.1f} s | {p2:.1f} s | "
        f"{w1 * 100:.1f} % / {w2 * 100:.1f} % |"
    )


def ray_report(corpus: Corpus, cache_dir: Path, machine: Machine, quick: bool) -> str:
    """Start both systems, measure them alternately, return the Markdown table (and its context)."""
    load_start = load_average()
    started = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    rounds = 1 if quick else 2
    clip = corpus.minute[0]
    with tempfile.TemporaryDirectory(prefix="whisperd-bench-ray-") as tmp:
        folder = Path(tmp)
        one = start_whisperd(cache_dir, folder, "cpu", "accurate")
        ray, ray_dir = start_ray_whisperd(cache_dir, folder, replicas=2)
        try:
            startup = (one.ready_seconds, ray.ready_seconds)
            singles: dict[str, list[Result]] = {one.name: [], ray.name: []}
            for turn in range(2 * rounds):
                for server in (one, ray) if turn % 2 == 0 else (ray, one):
                    singles[server.name].append(transcribe(server.transcriptions_url, clip))
            rows = []
            s1, s2 = singles[one.name], singles[ray.name]
            m1, m2 = median([r.seconds for r in s1]), median([r.seconds for r in s2])
            rows.append(
                f"| 1 min clip alone (latency) | {m1:.2f} s | {m2:.2f} s | {m1 / m2:.2f}x | - | - | "
                f"{_wer(s1) * 100:.1f} % / {_wer(s2) * 100:.1f} % |"
            )
            for clients in (4,) if quick else (4, 8):
                clips = [corpus.minute[i % len(corpus.minute)] for i in range(clients)]
                first, second = (
                    _bursts(one.transcriptions_url, clips, rounds),
                    _bursts(ray.transcriptions_url, clips, rounds),
                )
                rows.append(_row(f"{clients} clients x 1 min at once", first, second))
        finally:
            one.stop()
            _stop(ray, ray_dir)
    header = [
        f"# whisperd: one process vs Ray Serve (2 replicas), {machine.slug}",
        "",
        f"- run: {started}, `make bench ARGS=--ray{' --quick' if quick else ''}`; {machine.cpu}, "
        f"{machine.cores} cores, {machine.memory_gib:.0f} GiB; `base` int8, `accurate` (beam 5)",
        f"- load average (1/5/15 min) at the start: {load_start}; at the end: {load_average()} "
        "(other engineers' tests share this machine)",
        "- one process: `whisperd serve` (all cores, its measured defaults); Ray: `whisperd serve --ray "
        "--replicas 2` (each replica one core's slice: 1 thread x 2 workers, 8 slots; one ingress)",
        f"- start-up to /health 200: one process {startup[0]:.1f} s, Ray {startup[1]:.1f} s (a local cluster "
        "started from nothing)",
        "",
        "| scenario | one process | Ray, 2 replicas | Ray / one | p95 one | p95 Ray | WER one / Ray |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    return "\n".join([*header, *rows])
