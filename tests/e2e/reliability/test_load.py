"""A bounded load test: 8 clients, 500 requests on loopback, no errors but documented 429s, no leak."""

from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.media import long_speech
from tests.support.servers import start_server

CLIENTS = 8
REQUESTS = 500
STEP = 50
"""Requests between two readings of the server's RSS: ten readings, each once the server is idle."""


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_eight_clients_five_hundred_requests(
    tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # greedy decoding: this test is about holding load without errors or leaks, not about accuracy
    server = start_server(tmp_path / "server", extra_env={"WHISPERD_PROFILE": "fast"})
    clip = long_speech(tmp_path / "one.wav", 1).read_bytes()[: 44 + 3 * 16_000 * 2]  # the first 3 s
    lock = threading.Lock()
    statuses: list[int] = []
    latencies: list[float] = []
    issued = [0]

    def client(limit: int) -> None:
        with httpx.Client(base_url=server.api_url, timeout=120) as http:
            while True:
                with lock:
                    if issued[0] >= limit:
                        return
                    issued[0] += 1
                started = time.perf_counter()
                response = http.post("/audio/transcriptions", files={"file": ("clip.wav", clip)})
                elapsed = time.perf_counter() - started
                with lock:
                    statuses.append(response.status_code)
                    if response.status_code == 200:
                        latencies.append(elapsed)

    def burst(limit: int) -> None:
        """The clients together, until ``limit`` requests have been sent in all."""
        threads = [threading.Thread(target=client, args=(limit,)) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def settled_rss() -> int:
        """RSS once the server is idle: mid-burst readings swing with the size of the batch in flight."""
        time.sleep(1.0)
        return _rss(server.process.pid)

    try:
        wall = 0.0
        readings: list[int] = []
        for limit in range(STEP, REQUESTS + 1, STEP):
            started = time.perf_counter()
            burst(limit)
            wall += time.perf_counter() - started
            readings.append(settled_rss())
    finally:
        server.stop()
    errors = [s for s in statuses if s not in (200, 429)]
    p95 = statistics.quantiles(latencies, n=20)[-1]
    # A leak grows with the requests; what glibc and the model runtime keep from the last batches does
    # not, but it moves a single reading by up to 10-15 % either way (seen: 301-349 MB across ten
    # bursts with no trend). So the first three readings (after 50-150 requests) are compared with the
    # last three (after 400-500) by their medians: 100 kB kept per request would still show as +13 %.
    early, late = statistics.median(readings[:3]), statistics.median(readings[-3:])
    drift = late / early - 1
    report = {
        "clients": CLIENTS, "requests": len(statuses), "ok": statuses.count(200), "429": statuses.count(429),
        "errors": len(errors), "p50_s": round(statistics.median(latencies), 3), "p95_s": round(p95, 3),
        "wall_s": round(wall, 1), "rss_mb_every_50": [round(r / 2**20) for r in readings],
        "rss_drift_pct": round(100 * drift, 1),
    }  # fmt: skip
    with capsys.disabled():
        print(f"\nload test: {json.dumps(report)}")
    assert len(statuses) == REQUESTS
    assert errors == []
    assert statuses.count(200) >= REQUESTS * 0.9
    assert drift < 0.10, report
    assert server.upload_files() == []
