"""Memory per request is bounded by what the audio holds, not by how long it lasts.

Measured in review: a 5.3 MB Opus file of 3.9 hours of silence (under both the 25 MiB and the 4-hour
limits) was decoded whole into memory and scanned; three at once took the server from 256 MB to
10.3 GB RSS. The documented budget (README, "Bounds"): the decoder keeps only the audio near speech.
"""

from __future__ import annotations

import concurrent.futures
import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.media import upload
from tests.support.servers import start_server

HOURS = 3.9
UPLOADS = 3
BUDGET_MIB = 250
"""Peak RSS growth allowed for the three uploads together (README, "Bounds")."""


@pytest.fixture(scope="module")
def long_silence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is needed to make the long silent recording (make setup installs it)")
    path = tmp_path_factory.mktemp("silence") / "silence.opus"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", f"anullsrc=r=16000:cl=mono:d={HOURS * 3600}",
         "-c:a", "libopus", "-b:a", "6k", "-application", "voip", str(path)],
        check=True,
    )  # fmt: skip
    assert path.stat().st_size < 25 * 1024 * 1024
    return path


@pytest.mark.slow
def test_long_silent_uploads_at_once_stay_within_the_budget(
    tmp_path: Path, cache_dir: Path, long_silence: Path
) -> None:
    server = start_server(tmp_path)
    try:
        before = server.memory_mib("VmRSS")

        def send() -> httpx.Response:
            return httpx.post(
                f"{server.api_url}/audio/transcriptions",
                files={"file": upload(long_silence)},
                data={"response_format": "verbose_json"},
                timeout=900,
            )

        with concurrent.futures.ThreadPoolExecutor(UPLOADS) as pool:
            responses = list(pool.map(lambda _: send(), range(UPLOADS)))
        for response in responses:
            assert response.status_code == 200, response.text
            assert response.json()["text"] == ""
            assert response.json()["duration"] == pytest.approx(HOURS * 3600, abs=1)
        growth = server.memory_mib("VmHWM") - before
        print(
            f"\nmemory bound: RSS {before:.0f} MiB before, peak +{growth:.0f} MiB for {UPLOADS} x {HOURS} h"
        )
        assert growth < BUDGET_MIB, f"peak RSS grew by {growth:.0f} MiB"
        assert server.upload_files() == []
    finally:
        server.stop(signal.SIGTERM)
