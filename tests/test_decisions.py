"""Pure decisions: device and threads, bind safety, languages, word error rate."""

from __future__ import annotations

import pytest
from bench.wer import wer

from whisperd.engine.tuning import choose_compute_type, choose_device, choose_parallelism, place
from whisperd.media.languages import language_code, language_name
from whisperd.security import bind_refusal, is_loopback


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


@pytest.mark.parametrize(
    ("host", "loopback"), [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("[::1]", True),
                           ("localhost", True), ("0.0.0.0", False), ("192.168.1.5", False), ("::", False),
                           ("myhost", False)],
)  # fmt: skip
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_bind_refusal() -> None:
    assert bind_refusal("127.0.0.1", False, False) is None
    assert bind_refusal("0.0.0.0", True, False) is None
    assert bind_refusal("0.0.0.0", False, True) is None
    message = bind_refusal("0.0.0.0", False, False)
    assert message is not None
    assert "WHISPERD_API_KEYS" in message


def test_languages() -> None:
    assert language_code("German") == "de"
    assert language_code("yue") == "yue"
    assert language_code("elvish") is None
    assert language_name("en") == "english"
    assert language_name("zz") == "zz"


def test_wer() -> None:
    assert wer("Ask not, what!", "ask not what") == 0.0
    assert wer("a b c d", "a x c") == 0.5
    assert wer("", "") == 0.0
