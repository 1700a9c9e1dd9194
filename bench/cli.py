"""``python -m bench`` (``make bench``): the reference design and whisperd on the same machine, one table.

Three kinds of system answer the same audio in the same run: the reference design (Flask, one model,
``beam_size=5``; :mod:`bench.reference_server`), ``whisperd serve`` once per decoding profile, and the
in-process floor (the same decoding with no server; :mod:`bench.inprocess`). Requests alternate between
them, each turn starting with the next one (reference, whisperd, floor; then whisperd, floor,
reference; ...), so that a busy spell on a shared machine hurts all of them alike; the CPU time each
spent is recorded beside the wall time, and the load average is printed at the start and the end.

Scenarios: a 5 s voice note (OGG/Opus) alone; each of four one-minute clips alone; 4 and 8 clients
sending one-minute clips at once; a ten-minute file; start-up time to ``/health`` 200. Every row
carries the word error rate of each system's text against the truth of the clip. Then whisperd alone:
live sessions over the Realtime socket (:mod:`bench.live`) and diarization (:mod:`bench.diarization`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.clients import Result
from bench.contenders import Contender, InProcessWorker, Sample
from bench.corpus import Clip, Corpus, build_corpus
from bench.diarization import diarization_rows, render_diarization
from bench.live import live_rows, render_live
from bench.machine import Machine, describe, load_average
from bench.report import Measure, Row, check_targets, median, percentile, render, summary
from bench.servers import start_reference, start_whisperd
from bench.wer import wer

__all__ = ["main"]

PROFILES = ("accurate", "fast")
REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


@dataclass
class Contenders:
    """Everything under test, started once for the whole run."""

    reference: Contender
    whisperd: dict[str, Contender]
    floor: dict[str, Contender]
    library: Contender | None = None

    def alternating(self, with_floor: bool = True) -> list[Contender]:
        rotation = [self.reference]
        for profile, server in self.whisperd.items():
            rotation.append(server)
            if with_floor and profile in self.floor:
                rotation.append(self.floor[profile])
        return rotation

    def all(self) -> list[Contender]:
        return [*self.alternating(), *([self.library] if self.library else [])]


def _progress(message: str) -> None:
    print(f"[bench {dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _mean_wer(results: list[Result]) -> float:
    return sum(wer(r.clip.text, r.text) for r in results) / len(results)


def _latency(samples: list[Sample], first_text: float | None = None) -> Measure:
    results = [r for s in samples for r in s.results]
    return Measure(
        median([r.seconds for r in results]),
        _mean_wer(results),
        first_text=first_text if first_text is not None else median([r.first_text_seconds for r in results]),
        cpu_seconds=median([s.cpu_seconds for s in samples]),
    )


def _burst(sample: Sample) -> Measure:
    seconds = [r.seconds for r in sample.results]
    return Measure(
        sample.wall_seconds,
        _mean_wer(sample.results),
        throughput=sum(r.clip.seconds for r in sample.results) / sample.wall_seconds,
        p50=percentile(seconds, 50),
        p95=percentile(seconds, 95),
        cpu_seconds=sample.cpu_seconds,
    )


def _rotated(contenders: list[Contender], turn: int) -> list[Contender]:
    """Each turn starts with the next contender, so that none always follows the same one."""
    turn %= len(contenders)
    return contenders[turn:] + contenders[:turn]


def single(everyone: Contenders, name: str, clips: list[Clip], repeats: int) -> list[Row]:
    """Each clip alone, ``repeats`` times, the contenders taking turns request by request."""
    samples: dict[str, list[Sample]] = {c.label: [] for c in everyone.alternating()}
    turn = 0
    for _ in range(repeats):
        for clip in clips:
            for contender in _rotated(everyone.alternating(), turn):
                samples[contender.label].append(contender.measure([clip]))
            turn += 1
    rows = []
    for profile, server in everyone.whisperd.items():
        streamed = server.measure([clips[0]], stream=True).results[0]
        floor = everyone.floor.get(profile)
        rows.append(
            Row(
                name,
                "latency",
                profile,
                median([c.seconds for c in clips]),
                _latency(samples[server.label], first_text=streamed.first_text_seconds),
                _latency(samples[everyone.reference.label]),
                _latency(samples[floor.label]) if floor else None,
            )
        )
    return rows


def concurrent(everyone: Contenders, corpus: Corpus, clients: int, with_floor: bool, turn: int) -> list[Row]:
    """``clients`` requests of one-minute clips sent at the same moment: throughput and latency spread."""
    clips = [corpus.minute[i % len(corpus.minute)] for i in range(clients)]
    measured = {c.label: _burst(c.measure(clips)) for c in _rotated(everyone.alternating(with_floor), turn)}
    audio = sum(c.seconds for c in clips)
    return [
        Row(
            f"{clients} clients x 1 min at once",
            "throughput",
            profile,
            audio,
            measured[server.label],
            measured[everyone.reference.label],
            measured.get(everyone.floor[profile].label) if profile in everyone.floor else None,
        )
        for profile, server in everyone.whisperd.items()
    ]


def long_file(everyone: Contenders, clip: Clip, kind: str) -> list[Row]:
    """A long file once each; whisperd and the floor stream it (time to first text)."""
    name = f"{clip.seconds / 60:.0f} min {kind}"
    measured = {c.label: _latency([c.measure([clip], stream=True)]) for c in everyone.all()}
    reference = measured[everyone.reference.label]
    rows = [
        Row(
            name,
            "latency",
            profile,
            clip.seconds,
            measured[server.label],
            reference,
            measured.get(everyone.floor[profile].label) if profile in everyone.floor else None,
        )
        for profile, server in everyone.whisperd.items()
    ]
    if everyone.library is not None:
        library = measured[everyone.library.label]
        rows.append(Row(name, "latency", everyone.library.label, clip.seconds, library, reference))
    return rows


@contextmanager
def _contenders(
    args: argparse.Namespace, model_dir: Path, cache_dir: Path, folder: Path
) -> Iterator[tuple[Contenders, list[Row]]]:
    """Start everything (one at a time, so start-up is timed on an idle machine); stop it all after."""
    compute_type = "float16" if args.device == "cuda" else "int8"
    with ExitStack() as stack:
        _progress("starting the reference design (Flask)")
        reference = start_reference(model_dir, folder, args.device, compute_type)
        stack.callback(reference.stop)
        servers: dict[str, Contender] = {}
        startup: list[Row] = []
        for profile in args.profiles:
            _progress(f"starting whisperd --profile {profile}")
            server = start_whisperd(cache_dir, folder, args.device, profile)
            stack.callback(server.stop)
            servers[profile] = Contender(f"whisperd {profile}", "whisperd", profile, server=server)
            startup.append(
                Row("start-up to /health 200", "startup", profile, 0.0,
                    Measure(server.ready_seconds), Measure(reference.ready_seconds))
            )  # fmt: skip
        floors: dict[str, Contender] = {}
        env = {**os.environ, "PYTHONPATH": str(REPO), "WHISPERD_CACHE_DIR": str(cache_dir),
               "WHISPERD_DEVICE": args.device}  # fmt: skip
        if not args.no_floor:
            for profile in args.profiles:
                _progress(f"loading the in-process floor for {profile}")
                profile_env = {**env, "WHISPERD_PROFILE": profile}
                worker = InProcessWorker("whisperd", args.device, model_dir, profile_env, REPO)
                stack.callback(worker.close)
                floors[profile] = Contender(f"in-process {profile}", "floor", profile, worker=worker)
        library = None
        if not args.quick and not args.no_floor:
            worker = InProcessWorker("batched", args.device, model_dir, env, REPO)
            stack.callback(worker.close)
            label = "faster-whisper BatchedInferencePipeline (in-process, beam 5, batch 8)"
            library = Contender(label, "library", None, worker=worker)
        reference_contender = Contender("reference", "reference", None, server=reference)
        yield Contenders(reference_contender, servers, floors, library), startup


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
            f"{settings.chunk_seconds:.0f} s decoded as sections of speech side by side; "
            f"default profile `{settings.profile}`",
            f"- mode: {'quick (development)' if args.quick else 'full'}; requests alternate reference / "
            "whisperd / in-process; latencies are medians; WER is the mean over the clips of a row",
        ]
    )


def _memory(everyone: Contenders) -> str:
    lines = ["| process | peak RSS |", "| --- | --- |"]
    lines += [f"| {c.label} | {c.peak_rss_mib():.0f} MiB |" for c in everyone.all()]
    return "\n".join(lines)


NOTES = """Reading the table: "x vs reference" is how many times faster whisperd is than the reference design
(time ratio; throughput ratio for the bursts), higher is better. "whisperd / in-process" is whisperd's time
over the same decoding in-process without a server, 1.00 being zero overhead. RTF is whisperd's processing
time over the audio's duration. "CPU s" is the CPU time the system's process spent on the request (median)
or on the whole burst: it is what a busy shared machine distorts least, so compare it when the load average
above is high. "first text" is when the first streamed words reached the client
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
    parser.add_argument(
        "--ray", action="store_true", help="only one process vs 2 Ray Serve replicas with the cores split"
    )
    args = parser.parse_args(argv)

    started = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    machine = describe()
    if args.device == "cuda" and not machine.gpus:
        return _cuda_unavailable(machine, started)
    load_start = load_average()

    from whisperd.config import Settings
    from whisperd.engine.catalog import ModelCatalog

    cache_dir = Settings().cache_dir
    entry = ModelCatalog(cache_dir, []).resolve("base")
    assert entry.path is not None
    _progress("building the audio corpus")
    corpus = build_corpus(cache_dir / "bench")
    if args.ray:
        from bench.ray_rows import ray_report

        _progress("one process vs Ray Serve")
        text = ray_report(corpus, cache_dir, machine, args.quick)
        print(text)
        path = args.output or RESULTS / f"{dt.date.today():%Y-%m-%d}-ray-{machine.slug}.md"
        path.write_text(text + "\n")
        print(f"\nwritten to {path}", file=sys.stderr)
        return 0

    rows: list[Row] = []
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="whisperd-bench-"))
        everyone, startup = stack.enter_context(_contenders(args, entry.path, cache_dir, Path(tmp)))
        steps: list[tuple[str, Callable[[], list[Row]]]] = [
            ("voice note", lambda: single(everyone, "voice note 5 s (OGG/Opus)", [corpus.voice_note], 3)),
            ("one-minute clips", lambda: single(everyone, "1 min clip", list(corpus.minute[: 1 if args.quick else 4]), 1)),
            ("4 clients at once", lambda: concurrent(everyone, corpus, 4, with_floor=True, turn=1)),
        ]  # fmt: skip
        if not args.quick:
            steps += [
                ("8 clients at once", lambda: concurrent(everyone, corpus, 8, with_floor=False, turn=2)),
                ("ten-minute file", lambda: long_file(everyone, corpus.long, "file")),
                ("six-minute conversation", lambda: long_file(everyone, corpus.conversation, "conversation")),
            ]
        for label, step in steps:
            _progress(label)
            rows += step()
        rows += startup
        live = ""
        if "accurate" in everyone.whisperd:
            _progress("live sessions")
            server = everyone.whisperd["accurate"].server
            assert server is not None
            live = render_live("accurate", live_rows(server, corpus.minute, 2 if args.quick else 4))
            _progress("diarization")
            live += "\n\n" + render_diarization(
                "accurate", diarization_rows(server, cache_dir / "bench" / "dialogues")
            )
        memory = _memory(everyone)
    check_targets(rows)
    text = "\n\n".join(
        [
            _header(machine, args, entry.path, started, (load_start, load_average())),
            render(rows),
            summary(rows),
            live,
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
