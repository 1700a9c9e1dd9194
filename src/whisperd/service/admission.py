"""Which waiting work gets a free worker slot: interactive requests first, background jobs within a share.

Interactive work (an upload, a live turn, a CLI file) has a person or a program waiting on the line;
background work (an asynchronous job) has a client that comes back later. So a free slot always goes
to the oldest interactive waiter first, and background work takes a slot only when no interactive work
waits and fewer than its share of slots already run background work. Background work never holds the
last slot of a server that has more than one, so however many jobs are queued, an interactive request
finds a slot as soon as one piece of interactive work ends. (A server with one slot has no slot to
spare: a running job then delays interactive requests, which still go before any other job.)

A slot cannot be taken back from running work (a thread cannot be pre-empted), so these rules decide
who starts next, not who stops. Pure functions of plain counts, so that the policy is tested without
threads or an event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Priority", "SlotState", "background_limit", "may_start", "next_to_start"]

Priority = Literal["interactive", "background"]


def background_limit(slots: int, share: int) -> int:
    """How many of ``slots`` background work may hold at once: ``share``, but never every slot (unless
    there is only one), and at least one so that jobs always progress."""
    if slots <= 1:
        return 1
    return max(1, min(share, slots - 1))


@dataclass(frozen=True, slots=True)
class SlotState:
    """The scheduler's counts at one moment."""

    free: int
    background_running: int
    background_limit: int
    interactive_waiting: int
    background_waiting: int = 0


def may_start(priority: Priority, state: SlotState) -> bool:
    """Whether work of ``priority`` arriving now may take a slot at once (it is not behind anyone of its
    own class: the caller checks that its queue is empty)."""
    if state.free <= 0:
        return False
    if priority == "interactive":
        return True
    return state.interactive_waiting == 0 and state.background_running < state.background_limit


def next_to_start(state: SlotState) -> Priority | None:
    """Which queue a free slot goes to now: the interactive one if anyone waits there, else the background
    one within its limit; None when no slot is free or nobody may have it."""
    if state.free <= 0:
        return None
    if state.interactive_waiting > 0:
        return "interactive"
    if state.background_waiting > 0 and state.background_running < state.background_limit:
        return "background"
    return None
