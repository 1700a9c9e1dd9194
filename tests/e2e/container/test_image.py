"""The container image as a user runs it: built from this source with ``scripts/container`` (what ``make
image`` runs), started with this machine's flags, called with the official SDK.

Runs wherever a container engine can run containers (on Debian/Ubuntu as root, ``scripts/container``
installs Podman when none answers); elsewhere the tests are skipped with the reason, and
``WHISPERD_REQUIRE_CONTAINER=1`` (set by CI) turns that skip into a failure. The image is tagged with a
digest of the build context, reused when it is already there, and removed at the end with every
container; the Debian base and the build cache stay, so a second run only rebuilds what changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from bench.wer import wer

from tests.support import containers
from tests.support.containers import ContainerEnv
from tests.support.media import JFK_TEXT, upload
from tests.support.servers import free_port

pytestmark = pytest.mark.slow

KEY = "container-key"
REFUSAL = "refusing to listen on 0.0.0.0 without API keys"


@pytest.fixture(scope="module")
def engine() -> Iterator[ContainerEnv]:
    try:
        found = containers.detect()
    except containers.Unavailable as exc:
        if os.environ.get("WHISPERD_REQUIRE_CONTAINER") == "1":
            pytest.fail(f"WHISPERD_REQUIRE_CONTAINER=1, but no container can run here: {exc}")
        pytest.skip(f"no container engine can run containers on this machine: {exc}")
    yield found
    found.remove_containers()


@pytest.fixture(scope="module")
def image(engine: ContainerEnv) -> Iterator[str]:
    tag = f"localhost/whisperd-test:{containers.source_hash()}"
    if not engine.image_exists(tag):
        engine.build("cpu", tag)
    yield tag
    engine.remove_containers()
    engine.remove_image(tag)


def test_keyless_on_loopback_serves_the_sdk_read_only_as_non_root(
    engine: ContainerEnv, image: str, jfk: Path
) -> None:
    """The README's local command: published on 127.0.0.1 only, keys off by the explicit flag."""
    container = engine.run(
        image,
        free_port(),
        env={"WHISPERD_ALLOW_UNAUTHENTICATED": "true"},
        options=("--read-only", "--tmpfs", "/tmp"),  # nothing to write but /data (a volume) and uploads
    )
    container.wait_healthy()
    health = httpx.get(f"{container.url}/health", timeout=10).json()
    assert (health["status"], health["model"], health["device"]) == ("ok", "whisper-base", "cpu")

    with openai.OpenAI(base_url=f"{container.url}/v1", api_key="unused", max_retries=0, timeout=120) as sdk:
        text = sdk.audio.transcriptions.create(model="whisper-1", file=upload(jfk)).text
        assert wer(JFK_TEXT, text) < 0.15, text
        listed = {model.id: model for model in sdk.models.list().data}
        for name in ("base", "tiny.en"):  # the packs' models are inside, nothing was downloaded
            assert (listed[name].model_extra or {})["source"] == "folder /opt/whisperd/models"
        english = sdk.audio.transcriptions.create(model="tiny.en", file=upload(jfk.with_suffix(".mp3")))
        assert wer(JFK_TEXT, english.text) < 0.15, english.text
        speakers = sdk.audio.transcriptions.create(  # the speaker model is inside too
            model="gpt-4o-transcribe-diarize", file=upload(jfk), response_format="diarized_json"
        )
        assert {segment.speaker for segment in speakers.segments} == {"A"}

    status = container.exec("cat", "/proc/1/status").stdout  # the server itself is process 1
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert uids == ["1000"] * 4, status
    assert container.exec("id", "-u").stdout.strip() == "1000"
    assert "API keys are off and the server listens on 0.0.0.0" in container.logs()
    assert "status=200" in container.exec("cat", "/data/logs/whisperd.log").stdout  # the volume is writable
    assert engine.configured_healthcheck(image), "the image has no HEALTHCHECK"
    assert engine.healthcheck(container) in {True, None}


def test_with_keys_the_sdk_needs_one(engine: ContainerEnv, image: str) -> None:
    """The LAN command: keys on, so no allow flag is needed; a missing key is the SDK's AuthenticationError."""
    container = engine.run(image, free_port(), env={"WHISPERD_API_KEYS": KEY, "WHISPERD_MODEL": "tiny.en"})
    container.wait_healthy()
    url = f"{container.url}/v1"
    with openai.OpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=60) as sdk:
        assert "tiny.en" in {model.id for model in sdk.models.list().data}
    with (
        openai.OpenAI(base_url=url, api_key="wrong", max_retries=0, timeout=60) as sdk,
        pytest.raises(openai.AuthenticationError),
    ):
        sdk.models.list()
    assert "API keys are off" not in container.logs()


def test_keyless_start_on_every_address_refuses(engine: ContainerEnv, image: str) -> None:
    """No keys and no allow flag: the image's 0.0.0.0 is refused, as on the host."""
    done = engine.run_once(image, env={})
    assert done.returncode == 2, done.stdout + done.stderr
    assert REFUSAL in done.stderr
    assert "WHISPERD_ALLOW_UNAUTHENTICATED=true" in done.stderr
