"""Finding whisperd servers on the LAN: browse ``_whisperd._tcp.local.`` for a while, resolve what answers.

Blocking, for the command line (``whisperd discover``, ``--server auto``): python-zeroconf browses in its
own thread and reports names as they appear; each name is then resolved (addresses, port, TXT) and
read with :func:`~whisperd.discovery.records.found_server`. ``first=True`` returns as soon as one
server is resolved, so a script pays only for the time the nearest server takes to answer.
"""

from __future__ import annotations

import queue
import time

from whisperd.discovery.records import WHISPERD_TYPE, FoundServer, found_server

__all__ = ["browse"]


def browse(timeout: float, *, first: bool = False) -> list[FoundServer]:
    """The whisperd servers that answer within ``timeout`` seconds, in the order they answered."""
    from zeroconf import ServiceBrowser, ServiceStateChange, Zeroconf

    names: queue.Queue[str] = queue.Queue()

    def on_change(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is not ServiceStateChange.Removed:
            names.put(name)

    deadline = time.monotonic() + timeout
    found: list[FoundServer] = []
    seen: set[str] = set()
    zeroconf = Zeroconf()
    try:
        browser = ServiceBrowser(zeroconf, WHISPERD_TYPE, handlers=[on_change])
        try:
            while (left := deadline - time.monotonic()) > 0:
                try:
                    name = names.get(timeout=left)
                except queue.Empty:
                    break
                if name in seen:
                    continue
                info = zeroconf.get_service_info(WHISPERD_TYPE, name, timeout=max(1, int(left * 1000)))
                if info is None or info.port is None:
                    continue
                seen.add(name)
                server = found_server(name, info.parsed_scoped_addresses(), info.port, info.properties)
                if server is not None:
                    found.append(server)
                    if first:
                        break
        finally:
            browser.cancel()
    finally:
        zeroconf.close()
    return found
