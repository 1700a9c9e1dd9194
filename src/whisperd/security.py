"""Pure decisions about exposure: may the server bind where it was asked to, with the keys it has?"""

from __future__ import annotations

import ipaddress

__all__ = ["bind_refusal", "is_loopback"]


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost`` reach only this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
        "or pass --allow-unauthenticated if that exposure is intended."
    )
