"""The bound on live sessions (realtime sockets): each holds a buffer, a VAD state and a worker's attention.

One counter, taken on the event loop: a session beyond the bound is refused before it opens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from whisperd.errors import QueueFull

__all__ = ["SessionLimit"]


class SessionLimit:
    """At most ``limit`` sessions open at once."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.open = 0

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Hold one place for the ``with`` body; 429 (QueueFull) when every place is taken."""
        if self.open >= self.limit:
            raise QueueFull(
                f"Too many live sessions ({self.open} of {self.limit}). Retry later.", retry_after=5
            )
        self.open += 1
        try:
            yield
        finally:
            self.open -= 1
