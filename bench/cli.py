"""``python -m bench`` (``make bench``): the reference design and whisperd on the same machine, one table.

Three kinds of system answer the same audio in the same run: the reference design (Flask, one model,
``beam_size=5``; :mod:`bench.reference_server`), ``whisperd serve`` once per decoding profile, and the
in-process floor (the same decoding with no server; :mod:`bench.inprocess`). Requests alternate between
them (reference, whisperd, floor, reference, ...) so that a busy spell on a shared machine hurts all of
them alike; the load average is printed at the start and the end to show how busy it was.

Scenarios: a 5 s voice note (OGG/Opus) alone; each of four one-minute clips alone; 4 and 8 clients
sending one-minute clips at once; a ten-minute file; start-up time to ``/health`` 200. Every row
carries the word error rate of each system's text against the truth of the clip.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench.clients import Burst, Result, burst, transcribe
from bench.corpus import Clip, Corpus, build_corpus
from bench.machine import Machine, describe, load_average
from bench.report import Measure, Row, Target, median, percentile, render
from bench.servers import Server, start_reference, start_whisperd
from whisperd.wer import wer

__all__ = ["main"]

PROFILES = ("accurate", "fast")
REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


class InProcess:
    """A :mod:`bench.inprocess` worker: one model loaded in a subprocess, fed jobs one line at a time."""

    def __init__(self, name: str, recipe: str, device: str, model_dir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.inprocess", recipe, device, str(model_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO,
        )  # fmt: skip
        self.peak_rss_mib = 0.0
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        stdout: IO[str] | None = self.process.stdout
        line = stdout.readline() if stdout is not None else ""
        if not line:
            raise RuntimeError(f"in-process worker {self.name} exited with {self.process.wait()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, clips: list[Clip], stream: bool = False) -> tuple[list[Result], float]:
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
class Systems:
    reference: Server
    whisperd: dict[str, Server]
    floor: dict[str, InProcess]
    batched: InProcess | None = None
    log: list[str] = field(default_factory=list)


def _mean_wer(results: list[Result]) -> float:
    return sum(wer(r.clip.text, r.text) for r in results) / len(results)


def _latency(results: list[Result]) -> Measure:
    return Measure(median([r.seconds for r in results]), _mean_wer(results))


def _progress(message: str) -> None:
    print(f"[bench {dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def single(systems: Systems, name: str, clips: list[Clip], repeats: int) -> list[Row]:
    """Each clip alone, ``repeats`` times, alternating reference / whisperd / floor per request."""
    ref: list[Result] = []
    ours: dict[str, list[Result]] = {p: [] for p in systems.whisperd}
    floor: dict[str, list[Result]] = {p: [] for p in systems.floor}
    for _ in range(repeats):
        for clip in clips:
            ref.append(transcribe(systems.reference.transcriptions_url, clip))
            for profile, server in systems.whisperd.items():
                ours[profile].append(transcribe(server.transcriptions_url, clip))
                if profile in systems.floor:
                    floor[profile] += systems.floor[profile].run([clip])[0]
    rows = []
    for profile, server in systems.whisperd.items():
        streamed = transcribe(server.transcriptions_url, clips[0], stream=True)
        mine = _latency(ours[profile])
        rows.append(
            Row(
                name,
                "latency",
                profile,
                median([c.seconds for c in clips]),
                Measure(mine.seconds, mine.wer, first_text=streamed.first_text_seconds),
                _latency(ref),
                _latency(floor[profile]) if floor.get(profile) else None,
            )
        )
    return rows


def _burst_measure(result: Burst) -> Measure:
    seconds = [r.seconds for r in result.results]
    return Measure(
        result.wall_seconds,
        _mean_wer(result.results),
        throughput=result.throughput,
        p50=percentile(seconds, 50),
        p95=percentile(seconds, 95),
    )


def concurrent(systems: Systems, corpus: Corpus, clients: int, with_floor: bool) -> list[Row]:
    """``clients`` requests of one-minute clips sent at the same moment: throughput and latency spread."""
    clips = [corpus.minute[i % len(corpus.minute)] for i in range(clients)]
    reference = _burst_measure(burst(systems.reference.transcriptions_url, clips))
    rows = []
    for profile, server in systems.whisperd.items():
        ours = _burst_measure(burst(server.transcriptions_url, clips))
        floor = None
        if with_floor and profile in systems.floor:
            results, wall = systems.floor[profile].run(clips)
            floor = _burst_measure(Burst(results, wall))
        audio = sum(c.seconds for c in clips)
        rows.append(
            Row(f"{clients} clients x 1 min at once", "throughput", profile, audio, ours, reference, floor)
        )
    return rows


def long_file(systems: Systems, corpus: Corpus) -> list[Row]:
    """The ten-minute file once each; whisperd and the floor stream it (time to first text)."""
    clip = corpus.long
    reference = _latency([transcribe(systems.reference.transcriptions_url, clip)])
    rows = []
    for profile, server in systems.whisperd.items():
        streamed = transcribe(server.transcriptions_url, clip, stream=True)
        ours = Measure(
            streamed.seconds, wer(clip.text, streamed.text), first_text=streamed.first_text_seconds
        )
        floor = None
        if profile in systems.floor:
            results, _ = systems.floor[profile].run([clip], stream=True)
            floor = Measure(
                results[0].seconds, wer(clip.text, results[0].text), first_text=results[0].first_text_seconds
            )
        rows.append(
            Row(f"{clip.seconds / 60:.0f} min file", "latency", profile, clip.seconds, ours, reference, floor)
        )
    if systems.batched is not None:
        results, _ = systems.batched.run([clip])
        library = Measure(results[0].seconds, wer(clip.text, results[0].text))
        rows.append(
            Row(
                f"{clip.seconds / 60:.0f} min file",
                "latency",
                "faster-whisper BatchedInferencePipeline (in-process, beam 5, batch 8)",
                clip.seconds,
                library,
                reference,
            )
        )
    return rows


def check_targets(rows: list[Row]) -> None:
    """Attach the issue's goals to the rows they concern."""
    for row in rows:
        if row.profile not in PROFILES:
            continue
        over = row.vs_in_process()
        faster = row.vs_reference()
        if row.kind == "startup":
            row.targets.append(Target("health 200 < 3 s", row.whisperd.seconds < 3.0))
        elif row.kind == "throughput" and faster is not None:
            row.targets.append(Target(">= 1.5x reference throughput", faster >= 1.5))
        elif "min file" in row.scenario and faster is not None and row.reference is not None:
            no_worse = (row.whisperd.wer or 0.0) <= (row.reference.wer or 0.0) + 1e-9
            row.targets.append(Target(">= 2x reference, WER <= reference", faster >= 2.0 and no_worse))
            if row.whisperd.first_text is not None:
                early = row.whisperd.first_text <= 0.25 * row.whisperd.seconds
                row.targets.append(
                    Target("first text long before the end", early, f"{row.whisperd.first_text:.1f} s")
                )
        elif row.kind == "latency" and over is not None:
            row.targets.append(Target("<= 5 % over in-process", over <= 1.05))


@contextmanager
def _systems(
    args: argparse.Namespace, model_dir: Path, cache_dir: Path, folder: Path
) -> Iterator[tuple[Systems, list[Row]]]:
    """Start everything (one at a time, so start-up is timed on an idle machine); stop it all after."""
    compute_type = "float16" if args.device == "cuda" else "int8"
    profiles = args.profiles
    with ExitStack() as stack:
        _progress("starting the reference design (Flask)")
        reference = start_reference(model_dir, folder, args.device, compute_type)
        stack.callback(reference.stop)
        servers: dict[str, Server] = {}
        startup: list[Row] = []
        for profile in profiles:
            _progress(f"starting whisperd --profile {profile}")
            server = start_whisperd(cache_dir, folder, args.device, profile)
            stack.callback(server.stop)
            servers[profile] = server
            startup.append(
                Row(
                    "start-up to /health 200",
                    "startup",
                    profile,
                    0.0,
                    Measure(server.ready_seconds),
                    Measure(reference.ready_seconds),
                )
            )
        floors: dict[str, InProcess] = {}
        env = {**os.environ, "PYTHONPATH": str(REPO), "WHISPERD_CACHE_DIR": str(cache_dir),
               "WHISPERD_DEVICE": args.device, "WHISPERD_ALLOW_DOWNLOAD": "false"}  # fmt: skip
        if not args.no_floor:
            for profile in profiles:
                _progress(f"loading the in-process floor for {profile}")
                worker = InProcess(
                    profile, "whisperd", args.device, model_dir, {**env, "WHISPERD_PROFILE": profile}
                )
                stack.callback(worker.close)
                floors[profile] = worker
        batched = None
        if not args.quick and not args.no_floor:
            batched = InProcess("faster-whisper batched", "batched", args.device, model_dir, env)
            stack.callback(batched.close)
        yield Systems(reference, servers, floors, batched), startup


def _header(
    machine: Machine, args: argparse.Namespace, model_dir: Path, started: str, load: tuple[str, str]
) -> str:
    from whisperd.config import Settings

    settings = Settings()
    batch = settings.batch_size or ("16 on CUDA" if args.device == "cuda" else "8")
    return "\n".join(
        [
            f"# whisperd benchmark, {started}",
            "",
            *machine.lines(),
            f"- load average (1/5/15 min) at the start: {load[0]}; at the end: {load[1]}",
            f"- device: {args.device} ({'float16' if args.device == 'cuda' else 'int8'}), model `base` from "
            f"`{model_dir}` (the same folder for every system)",
            "- reference design: Flask threaded dev server, `WhisperModel(base, compute_type=int8)`, "
            "`beam_size=5`, one request -> one `model.transcribe` (no VAD)",
            f"- whisperd: profiles {', '.join(args.profiles)} (accurate: beam 5; fast: greedy; both VAD on); "
            f"batching {'on' if settings.batching else 'off'}, batch {batch}, audio over "
            f"{settings.chunk_seconds:.0f} s decoded as VAD chunks side by side; "
            f"default profile `{settings.profile}`",
            f"- mode: {'quick (development)' if args.quick else 'full'}; requests alternate reference / "
            "whisperd / in-process; latencies are medians; WER is the mean over the clips of a row",
        ]
    )


def _memory(systems: Systems) -> str:
    lines = ["| process | peak RSS |", "| --- | --- |"]
    lines.append(f"| reference design (Flask) | {systems.reference.peak_rss_mib():.0f} MiB |")
    for profile, server in systems.whisperd.items():
        lines.append(f"| whisperd --profile {profile} | {server.peak_rss_mib():.0f} MiB |")
    for profile, worker in systems.floor.items():
        lines.append(f"| in-process floor ({profile}) | {worker.peak_rss_mib:.0f} MiB |")
    if systems.batched is not None:
        lines.append(f"| faster-whisper BatchedInferencePipeline | {systems.batched.peak_rss_mib:.0f} MiB |")
    return "\n".join(lines)


NOTES = """Reading the table: "x vs reference" is how many times faster whisperd is than the reference design
(time ratio; throughput ratio for the bursts), higher is better. "whisperd / in-process" is whisperd's time
over the same decoding in-process without a server, 1.00 being zero overhead. RTF is whisperd's processing
time over the audio's duration. "first text" is when the first streamed words reached the client
(`stream=true`); the reference design does not stream, so its first text is its whole latency. WER is
measured against the exact text of each clip (espeak-ng passages and public recordings) after lower-casing
and removing punctuation. Benchmarks are figures, not tests: nothing here fails a build."""


def _cuda_unavailable(machine: Machine, started: str) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{dt.date.today():%Y-%m-%d}-{machine.slug}-cuda.md"
    text = "\n".join(
        [f"# whisperd benchmark on CUDA, {started}", "", *machine.lines(), "",
         "No GPU run was possible: CTranslate2 sees no CUDA device on this machine. Run "
         "`python -m bench --device cuda` on a machine with an NVIDIA GPU to fill this table."]
    )  # fmt: skip
    path.write_text(text + "\n")
    print(text)
    print(f"\nwritten to {path}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where every system runs")
    parser.add_argument(
        "--quick", action="store_true", help="development run: fewer repeats, no 8-client burst or long file"
    )
    parser.add_argument("--profiles", nargs="+", choices=PROFILES, default=list(PROFILES))
    parser.add_argument("--no-floor", action="store_true", help="skip the in-process floor")
    parser.add_argument("--output", type=Path, help="result file (default bench/results/DATE-MACHINE.md)")
    args = parser.parse_args(argv)

    started = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    machine = describe()
    if args.device == "cuda" and not machine.gpus:
        return _cuda_unavailable(machine, started)
    load_start = load_average()

    from whisperd.config import Settings
    from whisperd.engine.catalog import ModelCatalog

    cache_dir = Settings().cache_dir
    entry = ModelCatalog(cache_dir, [], allow_download=False).resolve("base")
    assert entry.path is not None
    _progress("building the audio corpus")
    corpus = build_corpus(cache_dir / "bench")

    rows: list[Row] = []
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="whisperd-bench-"))
        systems, startup = stack.enter_context(_systems(args, entry.path, cache_dir, Path(tmp)))
        steps: list[tuple[str, Callable[[], list[Row]]]] = [
            ("voice note", lambda: single(systems, "voice note 5 s (OGG/Opus)", [corpus.voice_note], 3)),
            ("one-minute clips", lambda: single(systems, "1 min clip", list(corpus.minute[: 1 if args.quick else 4]), 1)),
            ("4 clients at once", lambda: concurrent(systems, corpus, 4, with_floor=True)),
        ]  # fmt: skip
        if not args.quick:
            steps += [
                ("8 clients at once", lambda: concurrent(systems, corpus, 8, with_floor=False)),
                ("ten-minute file", lambda: long_file(systems, corpus)),
            ]
        for label, step in steps:
            _progress(label)
            rows += step()
        rows += startup
        memory = _memory(systems)
    check_targets(rows)
    text = "\n\n".join(
        [
            _header(machine, args, entry.path, started, (load_start, load_average())),
            render(rows),
            memory,
            NOTES,
        ]
    )
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "-cuda" if args.device == "cuda" else ""
    path = args.output or RESULTS / f"{dt.date.today():%Y-%m-%d}-{machine.slug}{suffix}.md"
    path.write_text(text + "\n")
    print(f"\nwritten to {path}", file=sys.stderr)
    return 0
