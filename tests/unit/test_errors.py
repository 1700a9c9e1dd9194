"""Errors are values that cross processes: each pickles back to its class, status, fields and headers."""

from __future__ import annotations

import pickle

import pytest

from whisperd import errors
from whisperd.errors import WhisperdError

_SAMPLES: list[WhisperdError] = [
    errors.MissingFile(),
    errors.InvalidAudio("no audio stream"),
    errors.AudioTooLong(14400),
    errors.DecodeTimeout(60),
    errors.InvalidParameter("bad", param="language"),
    errors.AuthenticationFailed(key_given=True),
    errors.ModelNotFound("nope", "Pull it first."),
    errors.PayloadTooLarge(1024),
    errors.QueueFull("busy", retry_after=7),
    errors.NotReady("loading", retry_after=2),
    errors.InternalError(),
]


@pytest.mark.parametrize("error", _SAMPLES, ids=lambda e: type(e).__name__)
def test_errors_survive_pickling(error: WhisperdError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.body() == error.body()
    assert copy.headers() == error.headers()
    assert copy.status == error.status
