"""The webhook sender: delivers the events the store holds, retries the failures, across restarts.

Events are written to the store in the same step that ends their job, so an event is never lost between
a job's end and its delivery, and a server that restarts picks up where it stopped (its schedule is in
the store, not in memory). Each attempt is recorded on the job, with its status or error and how long it
took; a 2xx answer delivers the event, anything else (or nothing within ``WHISPERD_WEBHOOK_TIMEOUT``) is
retried on the schedule of :func:`~whisperd.jobs.webhooks.retry_delay`, and after the last attempt the
event is marked failed. Redirects are not followed (a redirect could lead outside the allow-list), and
the answer's body is never read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx

from whisperd.config import WebhookPolicy
from whisperd.errors import InvalidParameter
from whisperd.jobs.model import Attempt, Delivery, DeliveryStatus
from whisperd.jobs.store import JobStore
from whisperd.jobs.webhooks import Targets, check_target, parse_secret, retry_delay, signed_headers
from whisperd.observability.logs import LOGGER_NAME

__all__ = ["WebhookSender"]

logger = logging.getLogger(LOGGER_NAME)

_AT_ONCE = 8
"""Deliveries in flight at once (each holds a connection for up to the timeout)."""
_IDLE_CHECK = 60.0


class WebhookSender:
    """One background task that sends what is due, then sleeps until the next is due or it is woken."""

    def __init__(
        self, store: JobStore, policy: WebhookPolicy, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.policy = policy
        self.targets = Targets.parse(policy.allow)
        self.key = parse_secret(policy.secret) if policy.secret else None
        self._clock = clock
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A new event is in the store: look now rather than at the next scheduled time."""
        self._wake.set()

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=_AT_ONCE, max_keepalive_connections=0)
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False, limits=limits) as client:
            while True:
                self._wake.clear()
                try:
                    due = await self.store.due(self._clock(), _AT_ONCE)
                    if due:
                        await asyncio.gather(*(self._attempt(client, delivery) for delivery in due))
                        continue
                    upcoming = await self.store.next_due()
                except Exception:
                    logger.exception("webhook deliveries failed")
                    upcoming = None
                wait = _IDLE_CHECK if upcoming is None else max(0.0, upcoming - self._clock())
                try:
                    async with asyncio.timeout(min(wait, _IDLE_CHECK)):
                        await self._wake.wait()
                except TimeoutError:
                    pass

    async def _attempt(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        started = time.perf_counter()
        now = self._clock()
        status_code: int | None = None
        error: str | None = None
        try:
            if self.key is None:
                raise InvalidParameter("WHISPERD_WEBHOOK_SECRET is no longer set", param="webhook_url")
            await check_target(delivery.url, self.targets)
            headers = signed_headers(self.key, delivery.id, int(now), delivery.payload)
            async with client.stream(
                "POST",
                delivery.url,
                content=delivery.payload.encode(),
                headers=headers,
                timeout=self.policy.timeout_seconds,
            ) as response:
                status_code = response.status_code
        except InvalidParameter as exc:
            error = f"not sent: {exc.message}"
        except httpx.TimeoutException:
            error = f"no answer within {self.policy.timeout_seconds:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        attempts = delivery.attempts + 1
        status: DeliveryStatus
        if status_code is not None and 200 <= status_code < 300:
            status, next_at = "delivered", now
        elif attempts >= self.policy.max_attempts:
            status, next_at = "failed", now
        else:
            status, next_at = "pending", now + retry_delay(attempts, self.policy.retry_seconds)
        attempt = Attempt(now, status_code, error, time.perf_counter() - started)
        await self.store.attempted(delivery.id, attempt, status, next_at)
        logger.info(
            "webhook %s for %s (%s): attempt %d, %s -> %s",
            delivery.id, delivery.job_id, delivery.event, attempts, status_code or error, status,
        )  # fmt: skip
