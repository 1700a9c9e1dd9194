"""The ingress's admission: the workers' slots plus the queue, then 429 with the single process's estimate."""

from __future__ import annotations

import pytest

from whisperd.errors import QueueFull
from whisperd.scale.backlog import Backlog


def test_admits_slots_plus_queue_then_refuses() -> None:
    backlog = Backlog(queue_limit=1)
    with backlog.call(slots=2), backlog.call(slots=2):
        assert backlog.would_wait(slots=2)  # both slots are taken
        assert backlog.would_refuse(slots=2) is None  # one may still wait
        with backlog.call(slots=2):
            refusal = backlog.would_refuse(slots=2)
            assert isinstance(refusal, QueueFull)
            assert refusal.status == 429
            assert refusal.retry_after is not None
            assert refusal.retry_after >= 1
            with pytest.raises(QueueFull), backlog.call(slots=2):
                pass
    assert backlog.in_flight == 0
    assert backlog.would_refuse(slots=2) is None


def test_a_failed_call_is_counted_out() -> None:
    backlog = Backlog(queue_limit=0)
    with pytest.raises(RuntimeError), backlog.call(slots=1):
        raise RuntimeError
    assert backlog.in_flight == 0


def test_more_slots_admit_more() -> None:
    backlog = Backlog(queue_limit=0)
    with backlog.call(slots=1):
        assert backlog.would_refuse(slots=1) is not None
        assert backlog.would_refuse(slots=2) is None  # a replica was added meanwhile
