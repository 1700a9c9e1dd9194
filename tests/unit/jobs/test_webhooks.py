"""Webhook signatures (checked by the standardwebhooks package), the allow-list and the retry schedule."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from whisperd.errors import InvalidParameter
from whisperd.jobs.webhooks import (
    Targets,
    check_target,
    event_body,
    parse_secret,
    retry_delay,
    signed_headers,
)

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def test_a_signed_event_verifies_with_the_standard_webhooks_library() -> None:
    body = event_body(
        "evt_1", "audio.job.succeeded", 1_700_000_000, {"id": "job_1", "status": "succeeded"}, "1\n"
    )
    now = int(time.time())
    headers = signed_headers(parse_secret(SECRET), "evt_1", now, body)
    payload = Webhook(SECRET).verify(body, headers)
    assert payload["type"] == "audio.job.succeeded"
    assert payload["object"] == "event"
    assert payload["data"]["id"] == "job_1"
    assert payload["data"]["result"] == "1\n"
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace("succeeded", "failed"), headers)
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)


def test_secrets_are_checked() -> None:
    assert parse_secret(SECRET) == b"0123456789abcdef0123456789abcdef"
    for bad in ("whsec_!!!", "whsec_" + base64.b64encode(b"short").decode(), ""):
        with pytest.raises(ValueError, match="webhook secret"):
            parse_secret(bad)


def test_retries_double_up_to_an_hour() -> None:
    assert [retry_delay(n, 10) for n in range(1, 6)] == [10, 20, 40, 80, 160]
    assert retry_delay(20, 10) == 3600


def test_the_allow_list_takes_hosts_and_networks() -> None:
    targets = Targets.parse(["127.0.0.0/8", "10.1.2.3", "::1", "Hooks.Example.com"])
    assert targets.allows("hooks.example.com", [])
    assert targets.allows("127.0.0.1", ["127.0.0.1"])
    assert targets.allows("10.1.2.3", ["10.1.2.3"])
    assert targets.allows("localhost", ["127.0.0.1", "::1"])
    assert not targets.allows("10.1.2.4", ["10.1.2.4"])
    assert not targets.allows("mixed", ["127.0.0.1", "192.168.1.1"]), "every address must be allowed"
    assert not targets.allows("unresolved", [])
    with pytest.raises(ValueError, match="not a host name"):
        Targets.parse(["http://x/"])


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://127.0.0.1/x", "http"),
        ("http://user:pw@127.0.0.1/x", "credentials"),
        ("http://192.168.7.7/x", "may not point"),
        ("http://169.254.169.254/latest", "may not point"),
        ("http://127.0.0.1:99999/x", "port"),
    ],
)
def test_a_target_outside_the_allow_list_is_a_clear_400(url: str, reason: str) -> None:
    targets = Targets.parse(["127.0.0.0/8"])
    with pytest.raises(InvalidParameter, match=reason) as caught:
        asyncio.run(check_target(url, targets))
    assert caught.value.param == "webhook_url"
    assert caught.value.status == 400


def test_allowed_targets_pass() -> None:
    targets = Targets.parse(["127.0.0.0/8", "::1"])
    assert asyncio.run(check_target("http://127.0.0.1:8080/hook", targets)) == "http://127.0.0.1:8080/hook"
    assert asyncio.run(check_target("http://localhost:8080/hook", targets))
    with pytest.raises(InvalidParameter, match="allowed no targets"):
        asyncio.run(check_target("http://127.0.0.1/", Targets()))


def test_the_event_body_is_compact_json() -> None:
    body = event_body("evt_2", "audio.job.failed", 1.9, {"id": "job_2", "error": {"message": "é"}}, None)
    assert json.loads(body) == {
        "id": "evt_2",
        "object": "event",
        "type": "audio.job.failed",
        "created_at": 1,
        "data": {"id": "job_2", "error": {"message": "é"}, "result": None},
    }
