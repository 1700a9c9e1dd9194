"""The diarization scenario: synthetic conversations with an exact truth of who spoke when.

Each conversation is built from the benchmark's passages, sentence by sentence, each sentence said by
one espeak-ng voice, with pauses of varied length between turns: two voices on one channel, three voices
on one channel, and a call with each of two voices on its own channel. Every one is sent to whisperd
twice, as a plain ``whisper-1`` request and as ``gpt-4o-transcribe-diarize`` with ``diarized_json``, one
after the other, so that the row shows what telling voices apart costs beside what it gives:

* the diarization error rate (missed speech + false alarm + speaker confusion over the reference speech,
  with a 0.25 s collar around each reference turn boundary, speakers mapped one to one for the least
  error), and the speaker confusion alone;
* the number of speakers found against the truth;
* the word error rate of the diarized text;
* the wall time of both requests and their ratio.

The DER is reported, not asserted: the tests check that each turn gets its voice.
"""

from __future__ import annotations

import io
import itertools
import re
import subprocess
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import av
import httpx
import numpy as np

from bench.passages import PASSAGES
from bench.servers import Server
from bench.wer import wer

__all__ = ["DiarizationRow", "diarization_rows", "render_diarization"]

RATE = 16_000
COLLAR = 0.25
FRAME = 0.01
VOICES = ("en-us", "en+f3", "en-us+m7")
PAUSES = (0.3, 0.7, 0.5, 1.0, 0.4)


@dataclass(frozen=True, slots=True)
class Conversation:
    name: str
    path: Path
    turns: tuple[tuple[float, float, str, str], ...]
    """(start, end, speaker, text) of each turn."""

    @property
    def text(self) -> str:
        return " ".join(turn[3] for turn in self.turns)

    @property
    def speakers(self) -> int:
        return len({turn[2] for turn in self.turns})


@dataclass(frozen=True, slots=True)
class DiarizationRow:
    name: str
    seconds: float
    speakers: int
    found: int
    der: float
    confusion: float
    wer: float
    plain_seconds: float
    diarized_seconds: float


def _say(text: str, voice: str) -> np.ndarray:
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", "160", "--stdout", text], check=True, capture_output=True
    ).stdout
    with av.open(io.BytesIO(wav), mode="r") as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        parts = [o.to_ndarray().reshape(-1) for f in container.decode(audio=0) for o in resampler.resample(f)]
        parts += [o.to_ndarray().reshape(-1) for o in resampler.resample(None)]
    samples = np.concatenate(parts).astype(np.float32)
    scaled: np.ndarray = samples * np.float32(0.8 / max(float(np.abs(samples).max()), 1e-6))
    return scaled


def _write(path: Path, channels: list[np.ndarray]) -> None:
    data = np.stack(channels, axis=1) if len(channels) > 1 else channels[0][:, None]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(data.shape[1])
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(data, -1, 1) * 32767).astype("<i2").tobytes())


def _sentences(count: int, offset: int) -> list[str]:
    text = " ".join(PASSAGES[offset : offset + 4])
    return [s.strip() for s in re.split(r"(?<=\.)\s+", text) if s.strip()][:count]


def _conversation(
    folder: Path, name: str, order: list[int], offset: int, *, by_channel: bool = False
) -> Conversation:
    path = folder / (re.sub(r"[^a-z]+", "-", name).strip("-") + ".wav")
    texts = _sentences(len(order), offset)
    pieces = [(_say(text, VOICES[who]), who, text) for who, text in zip(order, texts, strict=True)]
    voices = max(order) + 1
    tracks = [[] for _ in range(voices if by_channel else 1)]  # type: list[list[np.ndarray]]
    turns = []
    position = int(0.5 * RATE)
    for track in tracks:
        track.append(np.zeros(position, np.float32))
    for index, (samples, who, text) in enumerate(pieces):
        pause = np.zeros(int(PAUSES[index % len(PAUSES)] * RATE), np.float32)
        for channel, track in enumerate(tracks):
            heard = samples if (not by_channel or channel == who) else np.zeros_like(samples)
            track += [heard, pause]
        turns.append((position / RATE, (position + len(samples)) / RATE, chr(ord("A") + who), text))
        position += len(samples) + len(pause)
    _write(path, [np.concatenate(track) for track in tracks])
    return Conversation(name, path, tuple(turns))


def conversations(folder: Path) -> list[Conversation]:
    folder.mkdir(parents=True, exist_ok=True)
    return [
        _conversation(folder, "two voices, mono", [0, 1, 0, 1, 1, 0, 1, 0, 0, 1], 0),
        _conversation(folder, "three voices, mono", [0, 1, 2, 0, 2, 1, 0, 1, 2, 0, 1, 2], 3),
        _conversation(folder, "call, one voice per channel", [0, 1, 0, 1, 0, 1, 1, 0, 1, 0], 6, by_channel=True),
    ]  # fmt: skip


def _frames(spans: list[tuple[float, float, str]], total: int) -> list[set[str]]:
    frames: list[set[str]] = [set() for _ in range(total)]
    for start, end, speaker in spans:
        for i in range(max(0, int(start / FRAME)), min(total, int(end / FRAME))):
            frames[i].add(speaker)
    return frames


def der(
    truth: list[tuple[float, float, str]], found: list[tuple[float, float, str]], duration: float
) -> tuple[float, float]:
    """(diarization error rate, speaker confusion alone), with the collar and the best 1:1 mapping."""
    total = int(duration / FRAME) + 1
    scored = np.ones(total, dtype=bool)
    for start, end, _ in truth:
        for edge in (start, end):
            scored[max(0, int((edge - COLLAR) / FRAME)) : int((edge + COLLAR) / FRAME)] = False
    reference, hypothesis = _frames(truth, total), _frames(found, total)
    ref_names = sorted({s for _, _, s in truth})
    hyp_names = sorted({s for _, _, s in found})
    best = (float("inf"), 0.0)
    padded = hyp_names + [None] * max(0, len(ref_names) - len(hyp_names))
    speech = sum(len(reference[i]) for i in range(total) if scored[i])
    for order in itertools.permutations(padded, len(ref_names)):
        mapping = {h: r for h, r in zip(order, ref_names, strict=True) if h is not None}
        missed = false_alarm = confused = 0
        for i in range(total):
            if not scored[i]:
                continue
            ref = reference[i]
            hyp = {mapping.get(h, f"?{h}") for h in hypothesis[i]}
            missed += max(0, len(ref) - len(hyp))
            false_alarm += max(0, len(hyp) - len(ref))
            confused += min(len(ref), len(hyp)) - len(ref & hyp)
        error = (missed + false_alarm + confused) / max(speech, 1)
        if error < best[0]:
            best = (error, confused / max(speech, 1))
    return best


def _post(server: Server, path: Path, fields: dict[str, str]) -> tuple[dict[str, object], float]:
    started = time.perf_counter()
    response = httpx.post(
        server.transcriptions_url,
        files={"file": (path.name, path.read_bytes())},
        data=fields,
        timeout=600,
    )
    response.raise_for_status()
    return response.json(), time.perf_counter() - started


def diarization_rows(server: Server, folder: Path) -> list[DiarizationRow]:
    rows = []
    for conversation in conversations(folder):
        _, plain = _post(server, conversation.path, {"model": "whisper-1"})
        body, diarized = _post(
            server,
            conversation.path,
            {
                "model": "gpt-4o-transcribe-diarize",
                "response_format": "diarized_json",
                "chunking_strategy": "auto",
            },
        )
        segments = body["segments"]
        assert isinstance(segments, list)
        found = [(float(s["start"]), float(s["end"]), str(s["speaker"])) for s in segments]
        duration = float(body["duration"])  # type: ignore[arg-type]
        error, confusion = der([(a, b, s) for a, b, s, _ in conversation.turns], found, duration)
        text = " ".join(str(s["text"]) for s in segments)
        rows.append(
            DiarizationRow(
                conversation.name, duration, conversation.speakers, len({s for _, _, s in found}), error,
                confusion, wer(conversation.text, text), plain, diarized,
            )
        )  # fmt: skip
    return rows


def render_diarization(profile: str, rows: list[DiarizationRow]) -> str:
    lines = [
        f"Diarization (`{profile}`, `gpt-4o-transcribe-diarize` with `diarized_json`; espeak-ng voices, exact "
        f"truth; DER with a {COLLAR} s collar):",
        "",
        "| conversation | audio | speakers (found) | DER | confusion | WER | plain | diarized | cost |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row.name} | {row.seconds:.0f} s | {row.speakers} ({row.found}) | {100 * row.der:.1f} % "
            f"| {100 * row.confusion:.1f} % | {100 * row.wer:.1f} % | {row.plain_seconds:.2f} s "
            f"| {row.diarized_seconds:.2f} s | {row.diarized_seconds / row.plain_seconds:.2f}x |"
        )
    return "\n".join(lines)
