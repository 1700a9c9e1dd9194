"""The HTTP routes: each maps a protocol to the runtime's service and renders what comes back."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from whisperd.runtime import Runtime

__all__ = ["runtime_of"]


def runtime_of(connection: HTTPConnection) -> Runtime:
    """The runtime the app serves (set by ``create_app``)."""
    runtime: Runtime = connection.app.state.runtime
    return runtime
