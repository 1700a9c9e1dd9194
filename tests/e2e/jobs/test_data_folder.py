"""One server per data folder, a database from a newer whisperd refused: said plainly, before listening."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

from tests.support.servers import start_server


def test_a_second_server_on_the_same_data_folder_refuses_to_start(tmp_path: Path, cache_dir: Path) -> None:
    first = start_server(tmp_path / "first")
    try:
        second = start_server(
            tmp_path / "second", extra_env={"WHISPERD_DATA_DIR": str(first.data_dir)}, wait=False
        )
        assert second.process.wait(60) == 2
        assert "another whisperd serves jobs from" in second.output()
        assert "Traceback" not in second.output()
    finally:
        first.stop(signal.SIGTERM)
    db = sqlite3.connect(first.data_dir / "jobs.sqlite3")
    db.execute("UPDATE schema_version SET version = 999")
    db.commit()
    db.close()
    newer = start_server(tmp_path / "third", extra_env={"WHISPERD_DATA_DIR": str(first.data_dir)}, wait=False)
    assert newer.process.wait(60) == 2
    assert "newer than this whisperd knows" in newer.output()
