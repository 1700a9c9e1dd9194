"""Found by name across a real network: a server in one network namespace, clients in another.

Two namespaces of the test's own, joined by a veth pair (10.99.0.1 and 10.99.0.2), stand for two
machines on a LAN: mDNS multicast really crosses the link, and nothing reaches any other network. The
server listens on its link address with API keys (HTTP) and the allow flag (Wyoming), so it announces
itself by default; from the other side ``whisperd discover``, ``doctor --server auto``, ``transcribe
--server auto``, the client script fed by ``discover --url`` and a Home Assistant-style browse for
``_wyoming._tcp`` must all find it, and a browser watching while it stops must see it withdrawn.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.wer import wer

from tests.support.commands import WHISPERD, clean_env
from tests.support.media import AUDIO_DIR, JFK_TEXT
from tests.support.servers import RunningServer, start_server

SERVER_IP, CLIENT_IP = "10.99.0.1", "10.99.0.2"
HTTP_PORT, WYOMING_PORT = 5000, 10300
REPO = Path(__file__).resolve().parents[3]

# What Home Assistant does with a _wyoming._tcp announcement: resolve it, connect, ask for info.
_HOME_ASSISTANT = """
import asyncio, time
from zeroconf import ServiceBrowser, Zeroconf
from tests.support.wyoming import describe

zc = Zeroconf()
names = []

def found(zeroconf, service_type, name, state_change):
    names.append(name)

browser = ServiceBrowser(zc, "_wyoming._tcp.local.", handlers=[found])
deadline = time.monotonic() + 10
while not names and time.monotonic() < deadline:
    time.sleep(0.05)
info = zc.get_service_info("_wyoming._tcp.local.", names[0], timeout=5000)
browser.cancel()
zc.close()
address, port = info.parsed_addresses()[0], info.port
program = asyncio.run(describe(port, address))[0].asr[0]
print(address, port, program.name, ",".join(m.name for m in program.models))
"""

# A browser that stays up while the server stops: it must see the goodbye, not a time-out.
_WATCH = """
import sys, time
from zeroconf import ServiceBrowser, ServiceStateChange, Zeroconf

def changed(zeroconf, service_type, name, state_change):
    print(state_change.name, name, flush=True)

zc = Zeroconf()
browser = ServiceBrowser(zc, "_whisperd._tcp.local.", handlers=[changed])
time.sleep(float(sys.argv[1]))
browser.cancel()
zc.close()
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def lan() -> Iterator[tuple[str, str]]:
    """Two network namespaces joined by a veth pair; removed (with the link) whatever happens."""
    if shutil.which("ip") is None:
        pytest.skip("no `ip` command (iproute2): network namespaces cannot be made here")
    tag = str(os.getpid() % 100_000)
    server_ns, client_ns = f"whisperd-srv-{tag}", f"whisperd-cli-{tag}"
    try:
        _ip("netns", "add", server_ns)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"network namespaces cannot be made here: {exc.stderr.decode().strip()}")
    try:
        _ip("netns", "add", client_ns)
        _ip("link", "add", f"wyd{tag}s", "type", "veth", "peer", "name", f"wyd{tag}c")
        _ip("link", "set", f"wyd{tag}s", "netns", server_ns)
        _ip("link", "set", f"wyd{tag}c", "netns", client_ns)
        for ns, link, address in ((server_ns, f"wyd{tag}s", SERVER_IP), (client_ns, f"wyd{tag}c", CLIENT_IP)):
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", link)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", link, "up")
        yield server_ns, client_ns
    finally:
        for ns in (server_ns, client_ns):  # deleting a namespace deletes its end of the veth pair too
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30, check=False)


@pytest.fixture(scope="module")
def announced(
    lan: tuple[str, str], tmp_path_factory: pytest.TempPathFactory, cache_dir: Path
) -> Iterator[RunningServer]:
    """whisperd in the server namespace, on its LAN address, announcing itself as it does by default."""
    server_ns, _ = lan
    running = start_server(
        tmp_path_factory.mktemp("lan-server"),
        port=HTTP_PORT,
        wait=False,
        advertise=True,
        prefix=["ip", "netns", "exec", server_ns],
        args=["--wyoming", f"tcp://{SERVER_IP}:{WYOMING_PORT}", "--allow-unauthenticated"],
        extra_env={"WHISPERD_HOST": SERVER_IP, "WHISPERD_API_KEYS": "secret"},
    )
    try:
        running.wait_for_log("model ready", timeout=120)
        running.wait_for_log("announced on the LAN", "_whisperd._tcp", timeout=30)
        running.wait_for_log("announced on the LAN", "_wyoming._tcp", timeout=30)
        yield running
    finally:
        running.stop(signal.SIGTERM)


def _in(
    ns: str, *command: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *command],
        env=env or clean_env(), capture_output=True, text=True, timeout=timeout, cwd=REPO,
    )  # fmt: skip


def test_discover_lists_the_server_from_another_machine(
    lan: tuple[str, str], announced: RunningServer
) -> None:
    _, client_ns = lan
    listed = _in(client_ns, str(WHISPERD), "discover", "--timeout", "5")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["NAME", "URL", "AUTH", "MODELS"]
    [row] = rows
    assert row.startswith("whisperd on ")
    assert f"http://{SERVER_IP}:{HTTP_PORT}  keys  " in row
    assert "tiny.en" in row
    assert "want an API key" in listed.stderr
    url = _in(client_ns, str(WHISPERD), "discover", "--url", "--timeout", "10")
    assert (url.returncode, url.stdout) == (0, f"http://{SERVER_IP}:{HTTP_PORT}\n")


def test_clients_find_the_server_by_themselves(lan: tuple[str, str], announced: RunningServer) -> None:
    _, client_ns = lan
    keyed = clean_env(WHISPER_API_KEY="secret")
    doctor = _in(client_ns, str(WHISPERD), "doctor", "--server", "auto", env=keyed)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert f"[ ok ] discovery: found http://{SERVER_IP}:{HTTP_PORT} on the LAN" in doctor.stdout
    assert "[ ok ] 1-second clip" in doctor.stdout
    jfk = str(AUDIO_DIR / "jfk.flac")
    transcribed = _in(client_ns, str(WHISPERD), "transcribe", "--server", "auto", jfk, env=keyed)
    assert transcribed.returncode == 0, transcribed.stderr
    assert wer(JFK_TEXT, transcribed.stdout) < 0.1
    # the README's line: the drop-in client script, pointed at whatever server discovery finds
    url = f'$("{WHISPERD}" discover --url)/v1/audio/transcriptions'
    script = f'WHISPER_API_URL={url} clients/transcribe.sh "{jfk}"'
    scripted = _in(client_ns, "sh", "-c", script, env=keyed)
    assert scripted.returncode == 0, scripted.stderr
    assert wer(JFK_TEXT, scripted.stdout) < 0.1


def test_home_assistant_finds_the_wyoming_server(lan: tuple[str, str], announced: RunningServer) -> None:
    _, client_ns = lan
    found = _in(client_ns, sys.executable, "-c", _HOME_ASSISTANT)
    assert found.returncode == 0, found.stderr
    address, port, program, models = found.stdout.split()
    assert (address, int(port), program) == (SERVER_IP, WYOMING_PORT, "whisperd")
    assert "tiny.en" in models.split(",")


def test_a_stopping_server_withdraws_its_announcement(lan: tuple[str, str], announced: RunningServer) -> None:
    """Runs last in this module: it stops the server."""
    _, client_ns = lan
    watcher = subprocess.Popen(
        ["ip", "netns", "exec", client_ns, sys.executable, "-c", _WATCH, "15"],
        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert watcher.stdout is not None
        first = watcher.stdout.readline()
        assert first.startswith("Added "), first
        assert announced.stop(signal.SIGTERM, timeout=30) == 0
        second = watcher.stdout.readline()  # the goodbye arrives long before the record's TTL
        assert second.startswith("Removed "), second
    finally:
        watcher.kill()
        watcher.communicate(timeout=30)
    after = _in(client_ns, str(WHISPERD), "discover", "--timeout", "2")
    assert after.returncode == 1
    assert "no whisperd server answered" in after.stderr
