"""The floor: the same decoding in-process, without a server, in a subprocess of its own.

``--recipe whisperd`` builds the runtime exactly as ``whisperd serve`` would with the same environment
(settings, placement, batching) and calls its transcription service on the files: what whisperd's
latency would be with no HTTP and no upload. For audio of one window the engine is plain
faster-whisper (``WhisperModel.transcribe``), so this is the "in-process faster-whisper" floor.
``--recipe faster-whisper-batched`` is faster-whisper's own ``BatchedInferencePipeline`` (VAD chunks,
batch 8), the library's answer for long files, to compare recipes on speed and WER.

It is a worker, so that the benchmark can alternate it with the servers: it prints ``{"ready": ...}``
once the model is loaded, then reads one JSON job per line from standard input,
``{"paths": [...], "stream": false}`` (the files of a job are transcribed concurrently, one thread
each), and answers each with one JSON line: the wall time, per file the text, latency and time to the
first segment, and the process's peak RSS so far. With ``stream`` the engine is given a segment
callback and asks for early text, as the server's streaming answer does (the engine then decodes a
long file's first chunk before the others).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["main"]


Runner = Callable[[Path, Callable[[], None] | None], str]


def _whisperd(device: str) -> Runner:
    """The server's runtime and transcription service, driven from this process's threads.

    The service is asynchronous, so one event loop runs in a thread of its own and each request thread
    hands it a coroutine: the same path as a server request, minus HTTP and the upload.
    """
    from whisperd.config import Settings
    from whisperd.engine.types import CancelToken
    from whisperd.runtime import Runtime
    from whisperd.service.transcription import AudioFile, TranscriptionRequest

    settings = Settings(model="base", device=device, max_queued_jobs=64, jobs=False)  # type: ignore[arg-type]
    runtime = Runtime(settings)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True, name="bench-loop").start()
    asyncio.run_coroutine_threadsafe(runtime.start(load_default=False), loop).result()
    asyncio.run_coroutine_threadsafe(runtime.models.load_default(), loop).result()

    def run(path: Path, first_text: Callable[[], None] | None) -> str:
        request = TranscriptionRequest(stream=first_text is not None)  # streaming asks for early text
        work = runtime.service.transcribe(
            AudioFile(path),
            request,
            cancel=CancelToken(),
            on_segment=None if first_text is None else lambda _: first_text(),
        )
        return asyncio.run_coroutine_threadsafe(work, loop).result().text

    return run


def _faster_whisper_batched(device: str, model_dir: str) -> Runner:
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    compute_type = "float16" if device == "cuda" else "int8"
    pipeline = BatchedInferencePipeline(WhisperModel(model_dir, device=device, compute_type=compute_type))

    def run(path: Path, first_text: Callable[[], None] | None) -> str:
        segments, _ = pipeline.transcribe(str(path), beam_size=5, batch_size=8, without_timestamps=False)
        texts = []
        for segment in segments:
            if first_text is not None:
                first_text()
            texts.append(segment.text)
        return "".join(texts).strip()

    return run


def _transcribe_all(run: Runner, paths: list[Path], stream: bool) -> dict[str, Any]:
    files: list[dict[str, Any]] = [{} for _ in paths]
    barrier = threading.Barrier(len(paths) + 1)

    def one(index: int) -> None:
        barrier.wait()
        started = time.perf_counter()
        first: list[float] = []

        def first_text() -> None:
            if not first:
                first.append(time.perf_counter() - started)

        text = run(paths[index], first_text if stream else None)
        elapsed = time.perf_counter() - started
        files[index] = {"path": str(paths[index]), "text": text, "seconds": elapsed,
                        "first_text_seconds": first[0] if first else elapsed}  # fmt: skip

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(paths))]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return {"wall_seconds": time.perf_counter() - began, "files": files}


def main() -> None:
    from bench.servers import peak_rss_mib

    recipe, device, model_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    started = time.perf_counter()
    run = _whisperd(device) if recipe == "whisperd" else _faster_whisper_batched(device, model_dir)
    print(json.dumps({"ready": True, "load_seconds": time.perf_counter() - started}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        result = _transcribe_all(run, [Path(p) for p in job["paths"]], bool(job.get("stream")))
        result["peak_rss_mib"] = peak_rss_mib(os.getpid())
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
