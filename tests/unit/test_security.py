"""Pure exposure decisions: which addresses are loopback, when binding is refused, who may connect."""

from __future__ import annotations

import pytest

from whisperd.security import ClientNetworks, bind_refusal, is_loopback, wyoming_bind_refusal


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


def test_wyoming_needs_the_allow_flag_whatever_the_keys() -> None:
    assert wyoming_bind_refusal("127.0.0.1", False) is None
    assert wyoming_bind_refusal("::1", False) is None
    assert wyoming_bind_refusal("0.0.0.0", True) is None
    message = wyoming_bind_refusal("0.0.0.0", False)
    assert message is not None
    assert "no authentication" in message
    assert "--allow-unauthenticated" in message
    assert "WHISPERD_ALLOW_UNAUTHENTICATED=true" in message


def test_client_networks() -> None:
    anyone = ClientNetworks()
    assert not anyone.restricted
    assert anyone.allows("203.0.113.9")
    lan = ClientNetworks(["192.168.1.0/24", "10.0.0.5", "fd00::/8"])
    assert lan.restricted
    assert lan.allows("192.168.1.77")
    assert lan.allows("10.0.0.5")
    assert lan.allows("::ffff:192.168.1.3")  # an IPv4 client on a dual-stack socket
    assert lan.allows("fd00::1")
    assert not lan.allows("10.0.0.6")
    assert not lan.allows("127.0.0.1")
    assert not lan.allows("not an address")
    assert not lan.allows("")
