"""Long requests share one bounded pool for their chunks: threads do not multiply with requests.

Measured in review: each long request started its own thread pool, up to ~72 threads at once on this
machine (8 job slots x 8 chunk threads).
"""

from __future__ import annotations

import concurrent.futures
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.media import long_speech, upload
from tests.support.servers import start_server

REQUESTS = 4
SLOTS = 8
CHUNK_WORKERS = 8
"""The shared chunk pool's size: the batch size on the CPU (WHISPERD_BATCH_SIZE's default there)."""


@pytest.mark.slow
def test_concurrent_long_requests_share_one_chunk_pool(tmp_path: Path, cache_dir: Path) -> None:
    clip = long_speech(tmp_path / "jfk-x22.wav", 22)  # about 4 minutes: nine chunks of 30 s at most
    server = start_server(
        tmp_path / "server",
        extra_env={"WHISPERD_MAX_CONCURRENT_JOBS": str(SLOTS), "WHISPERD_BATCH_SIZE": str(CHUNK_WORKERS)},
    )
    try:
        warm = httpx.post(f"{server.api_url}/audio/transcriptions", files={"file": upload(clip)}, timeout=600)
        assert warm.status_code == 200  # every pool has grown to what one long request makes it
        idle = server.threads()
        peak = [idle]
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                peak.append(server.threads())
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            with concurrent.futures.ThreadPoolExecutor(REQUESTS) as pool:
                answers = list(
                    pool.map(
                        lambda _: httpx.post(
                            f"{server.api_url}/audio/transcriptions",
                            files={"file": upload(clip)},
                            timeout=600,
                        ),
                        range(REQUESTS),
                    )
                )
        finally:
            done.set()
            watcher.join()
        assert all(a.status_code == 200 for a in answers)
        # each request holds one job thread; chunk work shares one pool of CHUNK_WORKERS threads
        assert max(peak) <= idle + REQUESTS + CHUNK_WORKERS, f"{max(peak)} threads, {idle} idle"
    finally:
        server.stop(signal.SIGTERM)
