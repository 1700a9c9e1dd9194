"""The benchmark's table: one row per scenario and profile, ratios, WER beside every speed, targets.

Every speed figure carries the word error rate of the text that produced it, so that no speed-up can
come from worse text. Ratios read "higher is better" against the reference (times faster, or throughput
ratio) and "lower is better" against the in-process floor (time with the server / time without).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Measure", "Row", "Target", "check_targets", "median", "percentile", "render", "summary"]

Kind = Literal["latency", "throughput", "startup"]


@dataclass(frozen=True, slots=True)
class Measure:
    """What one system did in one scenario."""

    seconds: float
    """Median latency (latency rows), wall time of the burst (throughput rows) or time to health 200."""
    wer: float | None = None
    throughput: float | None = None
    """Audio seconds per wall second (throughput rows)."""
    first_text: float | None = None
    """Seconds until the first text reached the client (the whole latency when nothing streams)."""
    p50: float | None = None
    p95: float | None = None
    cpu_seconds: float | None = None
    """CPU time the system's process spent (median per request, or the whole burst)."""


@dataclass(frozen=True, slots=True)
class Target:
    """One goal of the issue, checked against the figures of a row."""

    goal: str
    met: bool
    detail: str = ""

    def cell(self) -> str:
        return f"{self.goal}: {'met' if self.met else 'NOT MET'}{f' ({self.detail})' if self.detail else ''}"


@dataclass
class Row:
    scenario: str
    kind: Kind
    profile: str
    audio_seconds: float
    whisperd: Measure
    reference: Measure | None = None
    in_process: Measure | None = None
    targets: list[Target] = field(default_factory=list)

    def vs_reference(self) -> float | None:
        """Times faster than the reference design (throughput ratio for bursts); higher is better."""
        if self.reference is None:
            return None
        if self.kind == "throughput" and self.whisperd.throughput and self.reference.throughput:
            return self.whisperd.throughput / self.reference.throughput
        return self.reference.seconds / self.whisperd.seconds

    def vs_in_process(self) -> float | None:
        """whisperd's time over the in-process time for the same work; 1.00 is zero overhead."""
        if self.in_process is None:
            return None
        return self.whisperd.seconds / self.in_process.seconds

    def rtf(self) -> float | None:
        """Real-time factor of whisperd: processing time over audio duration (lower is faster)."""
        if self.kind == "startup" or not self.audio_seconds:
            return None
        return self.whisperd.seconds / self.audio_seconds


def _value(row: Row, measure: Measure | None) -> str:
    if measure is None:
        return "-"
    if row.kind == "throughput" and measure.throughput is not None:
        return f"{measure.throughput:.1f} audio-s/s"
    return f"{measure.seconds:.2f} s"


def _wer(measure: Measure | None) -> str:
    return "-" if measure is None or measure.wer is None else f"{100 * measure.wer:.1f} %"


def _cpu(measure: Measure | None) -> str:
    return "-" if measure is None or measure.cpu_seconds is None else f"{measure.cpu_seconds:.1f}"


def _ratio(value: float | None, suffix: str = "x") -> str:
    return "-" if value is None else f"{value:.2f}{suffix}"


def _optional(value: float | None, unit: str = " s") -> str:
    return "-" if value is None else f"{value:.2f}{unit}"


PROFILES = ("accurate", "fast")
LONG_FILES = (" min file", " min conversation")
"""The scenarios of long files (bench.cli.long_file), held to the long-file goals."""


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
        elif row.scenario.endswith(LONG_FILES) and faster is not None and row.reference is not None:
            no_worse = (row.whisperd.wer or 0.0) <= (row.reference.wer or 0.0) + 1e-9
            row.targets.append(Target(">= 2x reference at WER <= reference", faster >= 2.0 and no_worse))
            if row.whisperd.first_text is not None:
                early = row.whisperd.first_text <= 0.25 * row.whisperd.seconds
                row.targets.append(Target("first text long before the end", early))
        elif row.kind == "latency" and over is not None:
            row.targets.append(Target("<= 5 % over in-process", over <= 1.05))


def summary(rows: list[Row]) -> str:
    """Every target with the profiles that meet it, one line each."""
    goals: dict[str, dict[str, list[bool]]] = {}
    for row in rows:
        for target in row.targets:
            goals.setdefault(f"{row.scenario}: {target.goal}", {}).setdefault(row.profile, []).append(
                target.met
            )
    lines = ["Targets:"]
    for goal, by_profile in goals.items():
        met = [p for p, results in by_profile.items() if all(results)]
        missed = [p for p in by_profile if p not in met]
        verdict = f"met by {', '.join(met)}" if met else "NOT MET"
        lines.append(f"- {goal}: {verdict}" + (f" (not by {', '.join(missed)})" if met and missed else ""))
    return "\n".join(lines)


def render(rows: list[Row]) -> str:
    """The main table, as Markdown."""
    lines = [
        "| scenario | profile | reference | whisperd | in-process | x vs reference | whisperd / in-process "
        "| WER ref / whisperd / in-process | CPU s ref / whisperd / in-process | RTF | first text | p50 / p95 "
        "| targets |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        w = row.whisperd
        percentiles = "-" if w.p50 is None else f"{w.p50:.1f} / {w.p95:.1f} s"
        if row.reference is not None and row.reference.p50 is not None:
            percentiles += f" (ref {row.reference.p50:.1f} / {row.reference.p95:.1f} s)"
        cells = [
            row.scenario,
            row.profile,
            _value(row, row.reference),
            _value(row, w),
            _value(row, row.in_process),
            _ratio(row.vs_reference()),
            _ratio(row.vs_in_process()),
            " / ".join((_wer(row.reference), _wer(w), _wer(row.in_process))),
            " / ".join(_cpu(m) for m in (row.reference, w, row.in_process)),
            _optional(row.rtf(), ""),
            _optional(w.first_text),
            percentiles,
            "; ".join(t.cell() for t in row.targets) or "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation, as numpy's default."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: list[float]) -> float:
    return statistics.median(values)
