"""What is announced on the LAN, and how a browser reads it back: TXT records, names, addresses."""

from __future__ import annotations

from typing import Any

import pytest

from whisperd.config import Settings
from whisperd.discovery.records import (
    WHISPERD_TYPE,
    WYOMING_TYPE,
    announcements,
    api_properties,
    default_name,
    found_server,
)


def _plan(**settings: Any) -> list[tuple[str, str, int, dict[str, str]]]:
    found = announcements(
        Settings(**settings),
        models=["base", "tiny.en"],
        version="1.0",
        hostname="box.lan",
        wyoming_port=10300,
    )
    return [(a.service_type, a.host, a.port, a.properties) for a in found]


def test_the_api_is_announced_with_what_a_client_needs() -> None:
    assert api_properties(keys=True, version="1.0", models=["base", "tiny.en"]) == {
        "path": "/v1", "auth": "keys", "version": "1.0", "models": "base,tiny.en",
    }  # fmt: skip
    assert api_properties(keys=False, version="1.0", models=[])["auth"] == "none"


def test_the_model_list_is_cut_at_a_whole_name_to_fit_one_txt_string() -> None:
    names = [f"model-number-{n:03d}" for n in range(40)]
    kept = api_properties(keys=False, version="1", models=names)["models"]
    assert len(("models=" + kept).encode()) <= 255
    assert kept.split(",") == names[: len(kept.split(","))]


def test_only_what_listens_beyond_loopback_is_announced() -> None:
    assert _plan() == []  # the defaults: 127.0.0.1
    assert _plan(wyoming_uri="tcp://127.0.0.1:10300") == []
    assert _plan(advertise=True) == []  # asked for, but nothing on the LAN could reach it
    lan = _plan(host="0.0.0.0", api_keys="k", wyoming_uri="tcp://0.0.0.0:10300")
    assert [(kind, host, port) for kind, host, port, _ in lan] == [
        (WHISPERD_TYPE, "0.0.0.0", 5000), (WYOMING_TYPE, "0.0.0.0", 10300),
    ]  # fmt: skip
    assert lan[0][3]["auth"] == "keys"
    assert lan[1][3] == {}
    only_wyoming = _plan(wyoming_uri="tcp://192.168.1.5:10300")
    assert [kind for kind, *_ in only_wyoming] == [WYOMING_TYPE]
    assert _plan(host="0.0.0.0", advertise=False, wyoming_uri="tcp://0.0.0.0:10300") == []
    assert _plan(host="0.0.0.0", advertise="auto") == _plan(host="0.0.0.0", advertise=True) != []


def test_names() -> None:
    assert default_name("box.lan") == "whisperd on box"
    assert len(default_name("x" * 100).encode()) == 63
    found = announcements(Settings(host="0.0.0.0", advertise_name="kitchen"), models=[], version="1",
                          hostname="box", wyoming_port=None)  # fmt: skip
    assert found[0].instance == f"kitchen.{WHISPERD_TYPE}"


@pytest.mark.parametrize(
    ("addresses", "url"),
    [
        (["10.99.0.1"], "http://10.99.0.1:5000"),
        (["fe80::1%eth0", "2001:db8::5", "192.168.1.10"], "http://192.168.1.10:5000"),
        (["fe80::1%eth0", "2001:db8::5"], "http://[2001:db8::5]:5000"),
        (["169.254.3.3", "192.168.1.10"], "http://192.168.1.10:5000"),
    ],
)
def test_a_browser_reads_an_announcement_back(addresses: list[str], url: str) -> None:
    properties = api_properties(keys=True, version="1.0", models=["base", "tiny.en"])
    txt = {key.encode(): value.encode() for key, value in properties.items()}
    server = found_server(f"whisperd on box.{WHISPERD_TYPE}", addresses, 5000, txt)
    assert server is not None
    assert (server.name, server.url, server.auth, server.models, server.version, server.path) == (
        "whisperd on box", url, "keys", ["base", "tiny.en"], "1.0", "/v1",
    )  # fmt: skip


def test_a_strange_announcement_is_read_safely() -> None:
    server = found_server(
        f"odd.{WHISPERD_TYPE}", ["10.0.0.1"], 80, {b"auth": b"maybe", b"path": b"v1", b"x": None}
    )
    assert server is not None
    assert (server.auth, server.path, server.models, server.version) == ("unknown", "/v1", [], None)
    assert found_server(f"odd.{WHISPERD_TYPE}", ["fe80::1%eth0", "nonsense"], 80, {}) is None
