"""Webhooks to a receiver on 127.0.0.1, verified with the standardwebhooks package; retries that outlive a
restart; targets outside the allow-list refused at submission."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import srt
from bench.wer import wer
from standardwebhooks.webhooks import Webhook

from tests.support.jobs import SECRET, Receiver, submit, wait_for, wait_until
from tests.support.media import JFK_TEXT, undecodable
from tests.support.servers import RunningServer, start_server

ENV = {
    "WHISPERD_WEBHOOK_SECRET": SECRET,
    "WHISPERD_WEBHOOK_ALLOW": "127.0.0.0/8",
    "WHISPERD_WEBHOOK_TIMEOUT": "5",
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def hooks_server(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("hooks"), extra_env={**ENV, "WHISPERD_WEBHOOK_RETRY_SECONDS": "1"}
    )
    yield running
    running.stop(signal.SIGTERM)


def test_a_succeeded_job_arrives_signed_with_its_srt(
    hooks_server: RunningServer, receiver: Receiver, jfk: Path
) -> None:
    job = submit(hooks_server, jfk, response_format="srt", webhook_url=receiver.url).json()
    assert job["webhook"] == {"url": receiver.url, "status": None, "attempts": []}
    delivery = wait_until(lambda: next(receiver.deliveries(), None), "the webhook", 120)
    event = Webhook(SECRET).verify(delivery.body, delivery.headers)
    assert delivery.headers["webhook-id"] == event["id"]
    assert event["type"] == "audio.job.succeeded"
    assert event["object"] == "event"
    assert event["data"]["id"] == job["id"]
    assert event["data"]["status"] == "succeeded"
    cues = list(srt.parse(event["data"]["result"]))
    assert wer(JFK_TEXT, " ".join(cue.content for cue in cues)) < 0.1
    done = wait_until(
        lambda: (j := wait_for(hooks_server, job["id"]))["webhook"]["status"] == "delivered" and j,
        "the delivery to be recorded",
    )
    (attempt,) = done["webhook"]["attempts"]
    assert attempt["status_code"] == 200
    assert attempt["error"] is None


def test_a_failed_job_and_a_failing_receiver(
    hooks_server: RunningServer, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.statuses = [500, 503]
    broken = undecodable(tmp_path / "broken.flac")  # its header passes the submit; its frames fail the run
    job = submit(hooks_server, broken, webhook_url=receiver.url).json()
    wait_until(lambda: len(list(receiver.deliveries())) == 3, "three attempts", 120)
    bodies = [d.body for d in receiver.deliveries()]
    assert len(set(bodies)) == 1, "every attempt sends the same event"
    assert len({d.headers["webhook-id"] for d in receiver.deliveries()}) == 1
    event = Webhook(SECRET).verify(bodies[-1], list(receiver.deliveries())[-1].headers)
    assert event["type"] == "audio.job.failed"
    assert event["data"]["error"]["param"] == "file"
    assert event["data"]["result"] is None
    done = wait_until(
        lambda: (j := wait_for(hooks_server, job["id"]))["webhook"]["status"] == "delivered" and j,
        "the delivery to be recorded",
    )
    assert done["status"] == "failed"
    assert [a["status_code"] for a in done["webhook"]["attempts"]] == [500, 503, 200]


def test_targets_outside_the_allow_list_are_refused(hooks_server: RunningServer, jfk: Path) -> None:
    for url in ("http://10.9.8.7/hook", "http://169.254.169.254/latest/meta-data", "file:///etc/passwd"):
        refused = submit(hooks_server, jfk, webhook_url=url)
        assert refused.status_code == 400, url
        assert refused.json()["error"]["param"] == "webhook_url"
    assert hooks_server.job_files() == []


def test_a_failing_receiver_is_retried_after_a_restart(tmp_path: Path, cache_dir: Path, jfk: Path) -> None:
    receiver = Receiver(statuses=[503]).start()
    env = {**ENV, "WHISPERD_WEBHOOK_RETRY_SECONDS": "8"}
    first = start_server(tmp_path / "server", extra_env=env)
    try:
        job = submit(first, jfk, webhook_url=receiver.url).json()
        wait_until(lambda: list(receiver.deliveries()), "the first attempt", 120)
        failed = wait_until(
            lambda: (j := wait_for(first, job["id"]))["webhook"]["attempts"] and j,
            "the attempt to be recorded",
        )
        assert failed["webhook"]["status"] == "pending"
        assert failed["webhook"]["attempts"][0]["status_code"] == 503
    finally:
        first.stop(signal.SIGKILL)
    second = start_server(tmp_path / "server", port=first.port, extra_env=env)
    try:
        wait_until(lambda: len(list(receiver.deliveries())) == 2, "the retry after the restart", 120)
        one, two = receiver.deliveries()
        assert (one.answered, two.answered) == (503, 200)
        assert one.headers["webhook-id"] == two.headers["webhook-id"]
        assert one.body == two.body
        assert (
            json.loads(Webhook(SECRET).verify(two.body, two.headers) and two.body)["data"]["id"] == job["id"]
        )
        done = wait_until(
            lambda: (j := wait_for(second, job["id"]))["webhook"]["status"] == "delivered" and j, "delivered"
        )
        assert [a["status_code"] for a in done["webhook"]["attempts"]] == [503, 200]
        assert httpx.get(f"{second.url}/health").status_code == 200
    finally:
        second.stop(signal.SIGTERM)
        receiver.stop()
