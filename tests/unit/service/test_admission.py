"""The slot policy on plain counts: interactive work first, background work within its share."""

from __future__ import annotations

import pytest

from whisperd.service.admission import SlotState, background_limit, may_start, next_to_start


@pytest.mark.parametrize(
    ("slots", "share", "limit"),
    [(1, 1, 1), (1, 4, 1), (2, 1, 1), (2, 5, 1), (8, 1, 1), (8, 3, 3), (8, 8, 7), (8, 0, 1)],
)
def test_background_work_never_holds_the_last_slot(slots: int, share: int, limit: int) -> None:
    assert background_limit(slots, share) == limit


def _state(
    free: int, background: int = 0, interactive_waiting: int = 0, background_waiting: int = 0
) -> SlotState:
    return SlotState(
        free=free,
        background_running=background,
        background_limit=1,
        interactive_waiting=interactive_waiting,
        background_waiting=background_waiting,
    )


def test_interactive_work_starts_whenever_a_slot_is_free() -> None:
    assert may_start("interactive", _state(free=1, background=1))
    assert not may_start("interactive", _state(free=0))


def test_background_work_waits_behind_interactive_work_and_its_share() -> None:
    assert may_start("background", _state(free=2))
    assert not may_start("background", _state(free=2, background=1)), "over its share"
    assert not may_start("background", _state(free=1, interactive_waiting=1)), "someone is waiting"
    assert not may_start("background", _state(free=0))


def test_a_free_slot_goes_to_the_interactive_queue_first() -> None:
    assert next_to_start(_state(free=1, interactive_waiting=1, background_waiting=3)) == "interactive"
    assert next_to_start(_state(free=1, background_waiting=3)) == "background"
    assert next_to_start(_state(free=1, background=1, background_waiting=3)) is None
    assert next_to_start(_state(free=0, interactive_waiting=1)) is None
    assert next_to_start(_state(free=2)) is None
