"""What crosses between the ingress and a worker, besides the request and the upload's bytes.

A worker's answer to one transcription is a stream of events: :class:`Served` first (who does the work),
:class:`Decoded` once the audio is decoded, every :class:`~whisperd.engine.types.Segment` as it comes,
then the :class:`~whisperd.engine.types.Transcript`, or a :class:`~whisperd.errors.WhisperdError` as a
value (errors pickle as their class and fields). Control calls answer a :class:`ReplicaStatus`. Plain
frozen dataclasses: Ray pickles them as they are.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from whisperd.engine.manager import ModelState

__all__ = ["Decoded", "ReplicaStatus", "Served", "replica_name"]


def replica_name() -> str:
    """This process as an operator finds it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class Served:
    """The first event of every answer: the replica that does the work."""

    replica: str


@dataclass(frozen=True, slots=True)
class Decoded:
    """The audio is decoded: ``seconds`` of it; refusals and bad audio would have come before."""

    seconds: float


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    """One worker's state, as the ingress's health, readiness and model listing read it."""

    replica: str
    ready: bool
    load_error: str | None
    running: int
    waiting: int
    slots: int
    device: str
    compute_type: str
    models: list[ModelState] = field(default_factory=list)
