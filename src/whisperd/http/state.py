"""What the app builds once at start-up and every handler reads from ``app.state.whisperd``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from starlette.requests import Request

from whisperd.config import Settings
from whisperd.engine.manager import ModelRegistry
from whisperd.service.scheduler import JobRunner
from whisperd.service.uploads import UploadArea

__all__ = ["AppState", "app_state"]


@dataclass(slots=True)
class AppState:
    settings: Settings
    registry: ModelRegistry
    runner: JobRunner
    uploads: UploadArea
    started: float = field(default_factory=time.monotonic)
    ready: bool = False
    load_error: str | None = None

    @property
    def uptime(self) -> float:
        return time.monotonic() - self.started


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.whisperd
    return state
