"""Who may use the server, and where it may listen: API keys and the rules about exposure.

Framework-free, so that every front end applies the same keys and the same bind rules: the HTTP API
(``whisperd.http.middleware.auth``), and any listener that a later front end opens. Keys come from
``WHISPERD_API_KEYS`` and/or ``WHISPERD_API_KEYS_FILE`` (re-read on SIGHUP, so keys can be rotated without
a restart), are compared in constant time and are never logged.

The Wyoming protocol (Home Assistant) has no authentication at all, so keys cannot protect it: its
listener follows the same rule as an HTTP API without keys (:func:`wyoming_bind_refusal`), and the
operator can narrow who may connect to a list of client networks (:class:`ClientNetworks`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = [
    "ApiKeys",
    "ClientNetworks",
    "ClientSecrets",
    "bind_refusal",
    "is_loopback",
    "key_identity",
    "wyoming_bind_refusal",
]

logger = logging.getLogger("whisperd")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost`` reach only this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def key_identity(key: str) -> str:
    """Who a key is, for what it owns (its jobs): a digest, so that the key itself is never stored.

    A key rotated out loses sight of its jobs, as it should: the jobs were its holder's.
    """
    return "key_" + hashlib.sha256(key.encode()).hexdigest()[:24]


def bind_refusal(host: str, has_keys: bool, allow_unauthenticated: bool) -> str | None:
    """Why binding to ``host`` must be refused, or None when it is acceptable.

    Voice messages are private: an API reachable from a network without keys is refused unless the
    operator says so explicitly.
    """
    if is_loopback(host) or has_keys or allow_unauthenticated:
        return None
    return (
        f"refusing to listen on {host} without API keys: anyone on the network could use the server. "
        "Set WHISPERD_API_KEYS (or WHISPERD_API_KEYS_FILE), bind to 127.0.0.1, "
        "or pass --allow-unauthenticated (WHISPERD_ALLOW_UNAUTHENTICATED=true) if that exposure is intended."
    )


def wyoming_bind_refusal(host: str, allow_unauthenticated: bool) -> str | None:
    """Why the Wyoming listener may not bind ``host``, or None: :func:`bind_refusal` without keys.

    Wyoming has no way to send a key, so having API keys does not make a network address acceptable;
    only the explicit allow flag does.
    """
    if bind_refusal(host, False, allow_unauthenticated) is None:
        return None
    return (
        f"refusing to serve Wyoming on {host}: the Wyoming protocol has no authentication (API keys do "
        "not apply to it), so anyone on the network could use the server. Bind it to 127.0.0.1, or pass "
        "--allow-unauthenticated (WHISPERD_ALLOW_UNAUTHENTICATED=true) if that exposure is intended "
        "(WHISPERD_WYOMING_ALLOW_NETWORKS can then "
        "limit which clients may connect)."
    )


class ClientNetworks:
    """The client addresses a listener accepts: any, or those inside a list of networks (CIDRs)."""

    def __init__(self, networks: Iterable[str] = ()) -> None:
        self._networks = tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks)

    @property
    def restricted(self) -> bool:
        return bool(self._networks)

    def allows(self, address: str) -> bool:
        """Whether a client at ``address`` may connect (an IPv4-mapped IPv6 address counts as IPv4)."""
        if not self._networks:
            return True
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self._networks)


class ApiKeys:
    """The current set of accepted keys; thread-safe replacement on reload."""

    def __init__(self, keys: list[str], keys_file: Path | None = None) -> None:
        self._static = [k for k in keys if k]
        self._file = keys_file
        self._lock = threading.Lock()
        self._keys: tuple[bytes, ...] = ()
        self.reload()

    def reload(self) -> int:
        """Re-read the keys file (if any); returns how many keys are now accepted."""
        keys = list(self._static)
        if self._file is not None:
            try:
                for line in self._file.read_text().splitlines():
                    key = line.split("#", 1)[0].strip()
                    if key:
                        keys.append(key)
            except OSError as exc:
                logger.error("cannot read API keys file %s: %s", self._file, exc.strerror)
        with self._lock:
            self._keys = tuple(k.encode() for k in keys)
        return len(keys)

    @property
    def enabled(self) -> bool:
        return bool(self._keys) or self._file is not None

    def accepts(self, candidate: str) -> bool:
        """Constant-time comparison against every key (no early exit that would leak which matched)."""
        given = candidate.encode()
        with self._lock:
            keys = self._keys
        matched = False
        for key in keys:
            matched |= hmac.compare_digest(given, key)
        return matched


class ClientSecrets:
    """Short-lived keys that a page can hold instead of a real one (OpenAI's Realtime client secrets).

    A holder of an API key asks for one (``POST /v1/realtime/client_secrets``) and hands it to a browser,
    which opens the live socket with it; it is good for that socket only and expires on its own. At most
    ``limit`` live at once: the oldest goes first.
    """

    def __init__(self, limit: int = 1000, clock: Callable[[], float] = time.time) -> None:
        self._limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}

    def issue(self, seconds: int) -> tuple[str, int]:
        """A new secret and its expiry (Unix seconds)."""
        value = "ek_" + secrets.token_urlsafe(24)
        expires = int(self._clock()) + seconds
        with self._lock:
            self._sweep()
            while len(self._expiry) >= self._limit:
                del self._expiry[next(iter(self._expiry))]
            self._expiry[value] = expires
        return value, expires

    def accepts(self, candidate: str) -> bool:
        with self._lock:
            self._sweep()
            expires = self._expiry.get(candidate)
        return expires is not None and expires > self._clock()

    def _sweep(self) -> None:
        now = self._clock()
        for value in [v for v, expires in self._expiry.items() if expires <= now]:
            del self._expiry[value]
