"""Fuzzing: random and mutated uploads, broken multipart bodies and schema-driven requests.

The contract for every input: a response below 500 (bad input is the client's fault, and says so), no
upload left on disk, and a server that stays healthy. Inputs are derandomized so that CI is repeatable;
the generation still covers thousands of distinct byte patterns across the strategies.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok

from tests.support.media import encode, long_speech
from tests.support.servers import RunningServer

Operation = schemathesis.APIOperation[Any, Any, Any, Any]
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FIELDS = [
    "model",
    "language",
    "prompt",
    "response_format",
    "temperature",
    "timestamp_granularities[]",
    "stream",
]


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.api_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def short_mp3(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 2-second MP3 of real speech: mutations of it reach deep into the decoder yet stay cheap."""
    folder = tmp_path_factory.mktemp("fuzz")
    wav = long_speech(folder / "jfk.wav", 1)
    cut = folder / "cut.wav"
    cut.write_bytes(wav.read_bytes()[: 44 + 2 * 16_000 * 2])
    return encode(cut, folder / "cut.mp3", "libmp3lame", container="mp3").read_bytes()


@pytest.fixture(autouse=True)
def _still_healthy_and_clean(server: RunningServer) -> Iterator[None]:
    yield
    assert httpx.get(f"{server.url}/health").status_code == 200
    assert server.upload_files() == []


def _wav_header(declared_bytes: int, rate: int, channels: int) -> bytes:
    """A WAV header that may lie: a declared length of hours over a file of a few bytes."""
    return (
        b"RIFF" + struct.pack("<I", min(declared_bytes + 36, 0xFFFFFFFF)) + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16)
        + b"data" + struct.pack("<I", min(declared_bytes, 0xFFFFFFFF))
    )  # fmt: skip


def _mutate(data: bytes, flips: list[tuple[int, int]], cut: int | None) -> bytes:
    buffer = bytearray(data)
    for position, value in flips:
        buffer[position % len(buffer)] = value
    return bytes(buffer[:cut] if cut is not None else buffer)


@FUZZ
@given(
    kind=st.sampled_from(["random", "mutated", "lying-wav"]),
    payload=st.binary(max_size=4096),
    flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=40),
    cut=st.one_of(st.none(), st.integers(0, 40_000)),
    declared=st.integers(0, 0xFFFFFFFF),
    fields=st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=30), max_size=4),
)
def test_uploads_never_cause_a_server_error(
    http: httpx.Client,
    short_mp3: bytes,
    kind: str,
    payload: bytes,
    flips: list[tuple[int, int]],
    cut: int | None,
    declared: int,
    fields: dict[str, str],
) -> None:
    if kind == "random":
        data = payload
    elif kind == "mutated":
        data = _mutate(short_mp3, flips, cut)
    else:
        data = _wav_header(declared, 16_000, 1) + payload  # e.g. 10 h declared, a few bytes present
    response = http.post("/audio/transcriptions", files={"file": ("f.bin", data)}, data=fields)
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}


@FUZZ
@given(body=st.binary(max_size=2048), boundary=st.sampled_from(["b", "x", "", "b; charset=utf-8"]))
def test_broken_multipart_bodies(
    server: RunningServer, http: httpx.Client, body: bytes, boundary: str
) -> None:
    prefix = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    for content in (body, prefix + body):
        response = http.post(
            "/audio/transcriptions",
            content=content,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert response.status_code < 500, response.text
    assert server.deleted_open_files() == [], "a broken body kept its upload file open"


def _raw_request(server: RunningServer, head: bytes, body: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


# Just over the whole body's bound: the 25 MiB file, four 4 MiB speaker references, 1 MiB of framing.
_JUST_OVER = 25 * 2**20 + 4 * 4 * 2**20 + 2**20 + 1


@pytest.mark.parametrize("declared", [10**12, 2**63, _JUST_OVER])
def test_huge_declared_length_is_413_at_once(server: RunningServer, declared: int) -> None:
    head = (
        b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: "
        + str(declared).encode()
        + b"\r\n\r\n"
    )
    answer = _raw_request(server, head, b"--b\r\n")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_body_shorter_than_declared_leaves_nothing(server: RunningServer) -> None:
    """The client stops sending (and half-closes) long before its declared length: nothing stays held."""
    before = server.open_fds()
    head = (
        b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 500000\r\n\r\n"
    )
    _raw_request(server, head, b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc')
    deadline = time.monotonic() + 10
    while server.upload_files() or server.deleted_open_files() or server.open_fds() > before:
        assert time.monotonic() < deadline, (server.upload_files(), server.deleted_open_files())
        time.sleep(0.05)
    assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200


@pytest.fixture(scope="module")
def operations(server: RunningServer) -> list[Operation]:
    """Every operation of the server's own OpenAPI document."""
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    return operations


def test_schema_driven_requests_never_cause_a_server_error(
    operations: list[Operation],
) -> None:
    """Schemathesis generates requests from ``/openapi.json`` (its pytest plugin predates pytest 9, so
    its strategies are driven by plain hypothesis here)."""
    assert len(operations) >= 5
    for operation in operations:

        @settings(max_examples=25, deadline=None, derandomize=True, database=None)
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case[Any]) -> None:
            response = case.call(timeout=60)
            assert response.status_code < 500, f"{case.operation.label}: {response.text}"

        check()
