"""Speed and memory of streaming_vad against faster-whisper's whole-array VAD.

    .venv/bin/python -m bench.streaming_vad

Speed: seconds of VAD per minute of audio, best of 3, on 10 minutes of real speech and quiet gaps.
Memory: a fresh process per mode on one hour of digital silence (as a silent Opus upload decodes),
peak RSS above the process's state after loading the model and scoring 1 s, and the tracemalloc peak
(NumPy buffers only; onnxruntime's own allocations show in RSS alone).
"""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
from faster_whisper.audio import decode_audio
from faster_whisper.vad import VadOptions, get_speech_timestamps, get_vad_model

from whisperd.engine.faster_whisper.vad import (
    WINDOW,
    FloatArray,
    SpeechKeeper,
    SpeechProbabilities,
    speech_timestamps,
    to_int16,
)

SR = 16000
AUDIO_DIR = Path(__file__).resolve().parents[2] / "shared" / "audio"


def recording(minutes: int) -> FloatArray:
    speech = [
        decode_audio(str(p), sampling_rate=SR) for p in sorted(AUDIO_DIR.iterdir()) if p.suffix != ".md"
    ]
    rng = np.random.default_rng(0)
    parts: list[FloatArray] = []
    total = 0
    k = 0
    while total < minutes * 60 * SR:
        piece = speech[k % len(speech)]
        hiss = np.rint(rng.standard_normal(20 * SR) * 0.001 * 32768).astype(np.int16)
        parts += [piece, hiss.astype(np.float32) / np.float32(32768.0)]
        total += len(piece) + 20 * SR
        k += 1
    return np.concatenate(parts)[: minutes * 60 * SR]


def best(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def speed() -> None:
    audio = recording(10)
    minutes = len(audio) / SR / 60
    model = get_vad_model()

    def whole() -> FloatArray:
        probs: FloatArray = model(np.pad(audio, (0, WINDOW - len(audio) % WINDOW)))
        return probs

    def streamed(block: int) -> Callable[[], object]:
        def run() -> object:
            vad = SpeechProbabilities()
            for lo in range(0, len(audio), block):
                vad.feed(audio[lo : lo + block])
            return vad.finish()

        return run

    samples16 = to_int16(audio)

    def keeper() -> object:
        keep = SpeechKeeper()
        for lo in range(0, len(samples16), 30 * SR):
            keep.feed(samples16[lo : lo + 30 * SR])
        return keep.finish()

    probs = streamed(30 * SR)()
    assert isinstance(probs, np.ndarray)
    assert np.array_equal(probs, whole())
    rows = [
        ("faster-whisper get_vad_model()(whole padded array)", best(whole)),
        ("SpeechProbabilities, 30 s blocks", best(streamed(30 * SR))),
        ("SpeechProbabilities, 1 s blocks", best(streamed(SR))),
        ("SpeechProbabilities, 12345-sample blocks", best(streamed(12345))),
        ("SpeechKeeper, int16 30 s blocks (VAD + keeping)", best(keeper)),
        ("faster-whisper get_speech_timestamps (model + loop)", best(lambda: get_speech_timestamps(audio))),
        (
            "speech_timestamps on the probabilities (loop only)",
            best(lambda: speech_timestamps(probs, len(audio))),
        ),
        (
            "speech_timestamps, chunking options",
            best(lambda: speech_timestamps(probs, len(audio), VadOptions(max_speech_duration_s=30))),
        ),
    ]
    print(f"speed on {minutes:.1f} min of audio (ms per minute of audio, best of 3):")
    for name, seconds in rows:
        print(f"  {name:55s} {1000 * seconds / minutes:7.1f}")


def rss_peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def memory_child(mode: str, traced: bool) -> None:
    """One hour of silence through ``mode``, in this fresh process."""
    hour = 3600 * SR
    block = 30 * SR
    model = get_vad_model()
    SpeechProbabilities().feed(np.zeros(SR, dtype=np.float32))  # load and warm onnxruntime
    model(np.zeros(32 * WINDOW, dtype=np.float32))
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    base = rss_peak_kib()
    if traced:
        tracemalloc.start()
    if mode == "faster-whisper":
        audio = np.full(hour, 0.0, dtype=np.float32)  # what decode_audio hands over (written, resident)
        get_speech_timestamps(audio, VadOptions())
    elif mode == "probabilities":
        vad = SpeechProbabilities()
        for _ in range(hour // block):
            vad.feed(np.full(block, 0.0, dtype=np.float32))  # a fresh block, as from a decoder
        speech_timestamps(vad.finish(), hour)
    elif mode == "keeper":
        keeper = SpeechKeeper()
        for _ in range(hour // block):
            keeper.feed(np.full(block, 0, dtype=np.int16))
        kept = keeper.finish()
        kept.timestamps(VadOptions())
        assert kept.samples.size == 0
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    print(f"{rss_peak_kib() - base} {peak}")


def memory() -> None:
    print("peak extra memory, 1 hour of silence (30 s blocks for the streaming modes):")
    for mode in ("faster-whisper", "probabilities", "keeper"):
        figures = []
        for traced in (False, True):
            out = subprocess.run(
                [sys.executable, "-m", "bench.streaming_vad", "--child", mode, str(int(traced))],
                check=True,
                capture_output=True,
                text=True,
                cwd=Path(__file__).parents[1],
            ).stdout.split()
            figures.append(int(out[0]) / 1024 if not traced else int(out[1]) / 2**20)
        print(f"  {mode:15s} RSS +{figures[0]:8.1f} MiB   tracemalloc peak {figures[1]:8.1f} MiB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        memory_child(sys.argv[2], bool(int(sys.argv[3])))
    else:
        speed()
        memory()
