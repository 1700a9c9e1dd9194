"""Pure hardware decisions: device, compute type, threads and replicas."""

from __future__ import annotations

import pytest

from whisperd.engine.tuning import choose_compute_type, choose_device, choose_parallelism, place


def test_auto_device_follows_cuda() -> None:
    assert choose_device("auto", 0) == "cpu"
    assert choose_device("auto", 1) == "cuda"
    assert choose_device("cpu", 4) == "cpu"
    with pytest.raises(ValueError, match="CUDA"):
        choose_device("cuda", 0)


def test_compute_type() -> None:
    assert choose_compute_type("auto", "cuda") == "float16"
    assert choose_compute_type("auto", "cpu") == "int8"
    assert choose_compute_type("int8_float16", "cuda") == "int8_float16"


def test_parallelism_defaults_and_overrides() -> None:
    threads, workers = choose_parallelism(2, "cpu", 0, 0)
    assert threads == 2
    assert workers >= 2
    assert choose_parallelism(2, "cpu", 3, 5) == (3, 5)
    assert place("auto", "auto", 0, 8).device == "cpu"
