"""With API keys on, a key sees only the jobs it created: another key's job does not exist for it."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.jobs import submit, wait_for
from tests.support.servers import RunningServer, start_server


@pytest.fixture(scope="module")
def two_keys(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("keys"), extra_env={"WHISPERD_API_KEYS": "alpha,beta"})
    yield running
    running.stop(signal.SIGTERM)


def _as(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def test_a_key_sees_only_its_own_jobs(two_keys: RunningServer, jfk: Path) -> None:
    jobs = f"{two_keys.api_url}/audio/jobs"
    assert submit(two_keys, jfk).status_code == 401
    mine = submit(two_keys, jfk, key="alpha", headers={"Idempotency-Key": "same"}).json()
    theirs = submit(two_keys, jfk, key="beta", headers={"Idempotency-Key": "same"}).json()
    assert mine["id"] != theirs["id"], "idempotency keys are per API key too"
    done = wait_for(two_keys, mine["id"], key="alpha")
    assert done["status"] == "succeeded"
    wait_for(two_keys, theirs["id"], key="beta")
    assert [job["id"] for job in httpx.get(jobs, headers=_as("alpha")).json()["data"]] == [mine["id"]]
    assert [job["id"] for job in httpx.get(jobs, headers=_as("beta")).json()["data"]] == [theirs["id"]]
    for path in ("", "/result", "/events"):
        answer = httpx.get(f"{jobs}/{mine['id']}{path}", headers=_as("beta"))
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "job_not_found"
    refused = httpx.delete(f"{jobs}/{mine['id']}", headers=_as("beta"))
    assert refused.status_code == 404
    assert httpx.get(f"{jobs}/{mine['id']}", headers=_as("alpha")).json()["status"] == "succeeded"
    assert httpx.get(f"{jobs}/{mine['id']}").status_code == 401
    assert httpx.get(
        f"{jobs}/{mine['id']}/result", headers=_as("alpha"), params={"response_format": "text"}
    ).text
