"""Pure exposure decisions: which addresses are loopback, when binding is refused."""

from __future__ import annotations

import pytest

from whisperd.security import bind_refusal, is_loopback


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
    assert "WHISPERD_ALLOW_UNAUTHENTICATED=true" in message  # what a container (no flags, only env) can set
