"""Announcing a running server on the LAN with mDNS (python-zeroconf), and withdrawing it at shutdown.

:class:`Advertiser` is a companion of the HTTP app (started after the runtime, stopped before it
closes). It asks for its announcements when it starts (so the model list is the one present then),
registers them in the background (mDNS probing takes about a second, which start-up does not wait for),
and at stop sends the goodbye packets that make browsers forget the server at once.

A listener bound to one address is announced with that address, on that interface only; one bound to
a wildcard (0.0.0.0, ::) with every address of the machine except loopback and link-local ones. The
host name in the announcement is this machine's, under ``.local.``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from whisperd.discovery.records import Announcement
from whisperd.observability.logs import LOGGER_NAME

if TYPE_CHECKING:  # zeroconf loads only when something is announced
    from zeroconf.asyncio import AsyncZeroconf

__all__ = ["Advertiser", "addresses_of"]

logger = logging.getLogger(LOGGER_NAME)


def addresses_of(host: str) -> list[str]:
    """Where a listener bound to ``host`` can be reached, as announced (no loopback, no link-local)."""
    if host in ("", "0.0.0.0", "::"):
        import ifaddr

        found = [
            str(ip.ip[0] if isinstance(ip.ip, tuple) else ip.ip)
            for adapter in ifaddr.get_adapters()
            for ip in adapter.ips
        ]
        if host == "0.0.0.0":
            found = [address for address in found if ":" not in address]
    else:
        try:
            found = [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:  # a host name: what it resolves to
            found = sorted(
                {str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)}
            )
    usable = []
    for address in found:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified):
            usable.append(str(ip))
    return usable


class Advertiser:
    """Registers the announcements ``plan`` returns while the server runs."""

    def __init__(self, plan: Callable[[], list[Announcement]]) -> None:
        self._plan = plan
        self._zeroconf: AsyncZeroconf | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        announcements = await asyncio.to_thread(self._plan)
        if announcements:
            self._task = asyncio.create_task(self._register(announcements))

    async def stop(self) -> None:
        """Withdraw every announcement (goodbye packets) and close the mDNS sockets."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        zeroconf, self._zeroconf = self._zeroconf, None
        if zeroconf is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(zeroconf.async_close(), 5.0)

    async def _register(self, announcements: list[Announcement]) -> None:
        from zeroconf import InterfaceChoice, IPVersion
        from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

        addresses = {a.instance: await asyncio.to_thread(addresses_of, a.host) for a in announcements}
        every = sorted({address for found in addresses.values() for address in found})
        if not every:
            logger.warning("not announced on the LAN: no address other than loopback to announce")
            return
        wildcard = any(a.host in ("", "0.0.0.0", "::") for a in announcements)
        version = IPVersion.V4Only if all(":" not in address for address in every) else IPVersion.All
        try:
            zeroconf = AsyncZeroconf(
                interfaces=InterfaceChoice.All if wildcard else every, ip_version=version
            )
        except OSError as exc:
            logger.warning("not announced on the LAN: mDNS is not available (%s)", exc)
            return
        self._zeroconf = zeroconf
        server = f"{socket.gethostname().split('.')[0] or 'whisperd'}.local."

        async def register(announcement: Announcement) -> None:
            found = addresses[announcement.instance]
            info = AsyncServiceInfo(
                announcement.service_type,
                announcement.instance,
                parsed_addresses=found,
                port=announcement.port,
                properties=dict(announcement.properties),
                server=server,
            )
            try:
                await (await zeroconf.async_register_service(info, allow_name_change=True))
            except Exception as exc:
                logger.warning("could not announce %s on the LAN: %s", announcement.instance, exc)
                return
            logger.info(
                "announced on the LAN: %s at %s port %d", info.name, ", ".join(found), announcement.port
            )

        await asyncio.gather(*(register(announcement) for announcement in announcements))
