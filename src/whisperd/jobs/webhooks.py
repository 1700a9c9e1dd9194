"""Webhooks as the Standard Webhooks spec (and OpenAI) send them: the event, its signature, where it may go.

* **Signature**: ``webhook-signature: v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">``
  with the secret of ``WHISPERD_WEBHOOK_SECRET`` (``whsec_<base64>``), so that any Standard Webhooks
  library verifies it. The id and the body stay the same on every retry; the timestamp is the attempt's.
* **Targets**: a webhook is a request this server makes on a client's behalf, so it may only go to the
  hosts and networks of ``WHISPERD_WEBHOOK_ALLOW``; a URL is checked when the job is submitted (a clear
  400) and again before each attempt (a name may resolve elsewhere by then). No proxy is used.
* **Retries**: a failed attempt is retried after ``WHISPERD_WEBHOOK_RETRY_SECONDS``, then twice as long
  each time, up to an hour between attempts, ``WHISPERD_WEBHOOK_MAX_ATTEMPTS`` times at most.

Pure functions, except :func:`check_target` (it resolves names, in the resolver's threads).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from whisperd.errors import InvalidParameter

__all__ = [
    "MAX_INLINE_RESULT",
    "Targets",
    "check_target",
    "event_body",
    "parse_secret",
    "retry_delay",
    "signature",
    "signed_headers",
]

MAX_INLINE_RESULT = 1024 * 1024
"""A succeeded job's event carries its result when the result is at most this size (an hour of SRT is
some 100 KB); a larger one is left to ``GET .../result``."""

_MAX_DELAY = 3600.0
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def parse_secret(secret: str) -> bytes:
    """The key of a ``whsec_<base64>`` secret; ValueError when it is not one."""
    encoded = secret.strip().removeprefix("whsec_")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is whsec_ followed by base64") from None
    if len(key) < 24:
        raise ValueError("a webhook secret holds at least 24 bytes (Standard Webhooks)")
    return key


def signature(key: bytes, message_id: str, timestamp: int, body: str) -> str:
    """``v1,<base64 HMAC-SHA256>`` over ``id.timestamp.body``."""
    digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(key: bytes, message_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, message_id, timestamp, body),
        "user-agent": "whisperd-webhooks",
    }


def event_body(event_id: str, event_type: str, created_at: float, job: dict[str, Any], result: Any) -> str:
    """The event as OpenAI shapes its webhook events (``object: "event"``, ``type``, ``data``), ``data``
    being the job object; a succeeded job's result rides along in its response format when it is small
    enough (``result``, else null: fetch it)."""
    data = {**job, "result": result}
    return json.dumps(
        {"id": event_id, "object": "event", "type": event_type, "created_at": int(created_at), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def retry_delay(attempts: int, base: float) -> float:
    """Seconds to wait after ``attempts`` failed attempts: ``base``, then doubling, up to an hour."""
    return float(min(_MAX_DELAY, base * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True, slots=True)
class Targets:
    """The allow-list: host names (exact) and IP networks. Empty: webhooks go nowhere."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, entries: tuple[str, ...] | list[str]) -> Targets:
        """``127.0.0.0/8``, ``10.1.2.3``, ``::1``, ``hooks.example.com``; ValueError for anything else."""
        hosts, networks = set(), []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            if not _HOST_NAME.fullmatch(entry.rstrip(".")):
                raise ValueError(f"not a host name or an IP network: {raw!r}")
            hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    @property
    def empty(self) -> bool:
        return not self.hosts and not self.networks

    def allows(self, host: str, addresses: list[str]) -> bool:
        """A listed host name, or a host whose every address lies in a listed network."""
        if host.lower().rstrip(".") in self.hosts:
            return True
        if not addresses:
            return False
        return all(any(ipaddress.ip_address(a) in net for net in self.networks) for a in addresses)


async def check_target(url: str, targets: Targets) -> str:
    """``url`` if a webhook may go there; else InvalidParameter naming ``webhook_url`` and why."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameter("webhook_url must be an http:// or https:// URL.", param="webhook_url")
    if parts.username or parts.password:
        raise InvalidParameter("webhook_url must not carry credentials.", param="webhook_url")
    if targets.empty:
        raise InvalidParameter(
            "This server sends no webhooks: its operator has allowed no targets (WHISPERD_WEBHOOK_ALLOW).",
            param="webhook_url",
        )
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidParameter("webhook_url has an invalid port.", param="webhook_url") from None
    addresses: list[str] = []
    if host.lower().rstrip(".") not in targets.hosts:
        addresses = await _addresses(host, port)
    if not targets.allows(host, addresses):
        raise InvalidParameter(
            f"webhook_url may not point to {host}: only the hosts and networks the server's operator "
            "allows (WHISPERD_WEBHOOK_ALLOW) receive webhooks.",
            param="webhook_url",
        )
    return url.strip()


async def _addresses(host: str, port: int) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return sorted({str(info[4][0]).split("%", 1)[0] for info in found})
