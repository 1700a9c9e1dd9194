"""What whisperd announces on the LAN, and what a browser makes of an announcement: pure functions.

Two DNS-SD service types are announced:

* ``_whisperd._tcp.local.`` for the HTTP API, with TXT records that let a client use it without asking:
  ``path`` (``/v1``, the OpenAI base path), ``auth`` (``keys`` when API keys are required, else
  ``none``), ``version`` (whisperd's) and ``models`` (the models present, comma-separated, as many as
  fit in one 255-byte TXT string);
* ``_wyoming._tcp.local.`` for the Wyoming listener, which Home Assistant discovers and offers to add
  (it asks the server itself for the rest, with ``describe``).

Announcing is on by default only for a listener beyond loopback (one on 127.0.0.1 cannot be reached
from the LAN, so announcing it would only mislead); ``WHISPERD_ADVERTISE=false`` (``--no-advertise``)
turns it off, ``true`` asks for it, and a loopback listener is still left out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from whisperd.config import Settings
from whisperd.security import is_loopback

__all__ = [
    "API_PATH",
    "WHISPERD_TYPE",
    "WYOMING_TYPE",
    "Announcement",
    "FoundServer",
    "announcements",
    "api_properties",
    "default_name",
    "found_server",
]

WHISPERD_TYPE = "_whisperd._tcp.local."
WYOMING_TYPE = "_wyoming._tcp.local."
API_PATH = "/v1"

_TXT_BYTES = 255
"""A TXT record is a list of strings of at most 255 bytes each (RFC 6763 6.1), ``key=value`` included."""
_LABEL_BYTES = 63
"""A DNS-SD instance name is one DNS label: at most 63 bytes."""


@dataclass(frozen=True, slots=True)
class Announcement:
    """One service to announce: its type, its instance name, where it listens, its TXT properties."""

    service_type: str
    name: str
    host: str
    """The address the listener is bound to; a wildcard (0.0.0.0, ::) means every address of the machine."""
    port: int
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def instance(self) -> str:
        return f"{self.name}.{self.service_type}"


@dataclass(frozen=True, slots=True)
class FoundServer:
    """A whisperd server found on the LAN, as ``whisperd discover`` lists it."""

    name: str
    url: str
    """The server's root, e.g. ``http://192.168.1.10:5000`` (the API is at ``url + path``)."""
    auth: str
    """``keys`` (send an API key), ``none``, or ``unknown`` when the server did not say."""
    models: list[str]
    version: str | None = None
    path: str = API_PATH


def default_name(hostname: str) -> str:
    """``whisperd on HOST``, cut to one DNS label."""
    name = f"whisperd on {hostname.split('.')[0] or 'localhost'}"
    return name.encode()[:_LABEL_BYTES].decode(errors="ignore")


def api_properties(*, keys: bool, version: str, models: Sequence[str]) -> dict[str, str]:
    """The HTTP API's TXT properties; the model list is cut at a whole name to fit one TXT string."""
    budget = _TXT_BYTES - len("models=")
    kept: list[str] = []
    for name in models:
        if len(",".join([*kept, name]).encode()) > budget:
            break
        kept.append(name)
    return {
        "path": API_PATH,
        "auth": "keys" if keys else "none",
        "version": version,
        "models": ",".join(kept),
    }


def announcements(
    settings: Settings, *, models: Sequence[str], version: str, hostname: str, wyoming_port: int | None
) -> list[Announcement]:
    """What this server announces: each listener beyond loopback, unless announcing is off."""
    if settings.advertise is False:
        return []
    name = settings.advertise_name or default_name(hostname)
    found: list[Announcement] = []
    if not is_loopback(settings.host):
        keys = bool(settings.api_keys or settings.api_keys_file)
        properties = api_properties(keys=keys, version=version, models=models)
        found.append(Announcement(WHISPERD_TYPE, name, settings.host, settings.port, properties))
    endpoint = settings.wyoming_endpoint()
    if endpoint is not None and wyoming_port is not None and not is_loopback(endpoint.host):
        found.append(Announcement(WYOMING_TYPE, name, endpoint.host, wyoming_port))
    return found


def found_server(
    instance: str, addresses: Sequence[str], port: int, properties: Mapping[bytes, bytes | None]
) -> FoundServer | None:
    """A browser's view of one ``_whisperd._tcp`` announcement, or None when it has no usable address.

    IPv4 comes first (every client can use it), then global IPv6; link-local addresses are skipped
    because a URL cannot carry their interface.
    """
    text = {
        key.decode(errors="replace"): (value or b"").decode(errors="replace")
        for key, value in properties.items()
    }
    address = _best_address(addresses)
    if address is None:
        return None
    host = f"[{address}]" if ":" in address else address
    path = text.get("path") or API_PATH
    auth = text.get("auth", "unknown")
    return FoundServer(
        name=instance.removesuffix("." + WHISPERD_TYPE),
        url=f"http://{host}:{port}",
        auth=auth if auth in ("keys", "none") else "unknown",
        models=[name for name in text.get("models", "").split(",") if name],
        version=text.get("version") or None,
        path=path if path.startswith("/") else API_PATH,
    )


def _best_address(addresses: Sequence[str]) -> str | None:
    usable = []
    for text in addresses:
        try:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            continue
        if ip.is_link_local or ip.is_unspecified or ip.is_multicast:
            continue
        usable.append(ip)
    usable.sort(key=lambda ip: (ip.version, ip.is_loopback))
    return str(usable[0]) if usable else None
