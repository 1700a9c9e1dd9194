"""HTTP clients of the benchmark: one request timed to its first text and to its end, or N at once."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import httpx

from bench.corpus import Clip

__all__ = ["Burst", "Result", "burst", "transcribe"]


@dataclass(frozen=True, slots=True)
class Result:
    """One transcription: its text, its latency, and when the first text arrived (the end if unstreamed)."""

    clip: Clip
    text: str
    seconds: float
    first_text_seconds: float


@dataclass(frozen=True, slots=True)
class Burst:
    """N requests sent at the same moment."""

    results: list[Result]
    wall_seconds: float

    @property
    def audio_seconds(self) -> float:
        return sum(r.clip.seconds for r in self.results)

    @property
    def throughput(self) -> float:
        """Audio seconds transcribed per wall-clock second."""
        return self.audio_seconds / self.wall_seconds


def transcribe(url: str, clip: Clip, *, stream: bool = False, timeout: float = 3600) -> Result:
    """POST ``clip`` as the OpenAI SDK would (multipart ``file`` + ``model``); ``stream`` asks for SSE."""
    body = clip.path.read_bytes()
    files = {"file": (clip.path.name, body)}
    data = {"model": "whisper-1", **({"stream": "true"} if stream else {})}
    started = time.perf_counter()
    if not stream:
        response = httpx.post(url, files=files, data=data, timeout=timeout)
        response.raise_for_status()
        elapsed = time.perf_counter() - started
        return Result(clip, str(response.json()["text"]), elapsed, elapsed)
    first: float | None = None
    text = ""
    with httpx.stream("POST", url, files=files, data=data, timeout=timeout) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[len("data: ") :])
            if event.get("type") == "transcript.text.delta" and first is None:
                first = time.perf_counter() - started
            elif event.get("type") == "transcript.text.done":
                text = str(event["text"])
            elif event.get("type") == "error":
                raise RuntimeError(f"stream failed: {event}")
    elapsed = time.perf_counter() - started
    return Result(clip, text, elapsed, elapsed if first is None else first)


def burst(url: str, clips: list[Clip], *, stream: bool = False) -> Burst:
    """Send every clip at once, one client thread each, and wait for all the answers."""
    results: list[Result | None] = [None] * len(clips)
    errors: list[BaseException] = []
    start = threading.Barrier(len(clips) + 1)

    def client(index: int) -> None:
        start.wait()
        try:
            results[index] = transcribe(url, clips[index], stream=stream)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(clips))]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    if errors:
        raise errors[0]
    return Burst([r for r in results if r is not None], wall)
