"""Overloading a server on purpose: requests started together, and what OpenAI's refusal looks like."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

__all__ = ["assert_some_refused", "at_once"]


def at_once(send: Callable[[], httpx.Response], count: int) -> list[httpx.Response]:
    """``count`` calls of ``send`` started together, each on its own thread; their answers."""
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: send(), range(count)))


def assert_some_refused(responses: list[httpx.Response], served: int) -> None:
    """At least ``served`` answered, at least one refused, nothing else; each refusal is OpenAI's 429
    (``rate_limit_exceeded``, type ``requests``) with a ``Retry-After`` and ``x-should-retry: true``."""
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= served, statuses
    assert 429 in statuses, statuses
    assert set(statuses) <= {200, 429}, statuses
    for response in responses:
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1
            assert response.headers["x-should-retry"] == "true"
            assert response.json()["error"]["code"] == "rate_limit_exceeded"
            assert response.json()["error"]["type"] == "requests"
