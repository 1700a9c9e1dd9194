"""whisperd's container image for tests: this machine's engine and flags (from ``scripts/container``), the
image built from the current source, and containers that are always removed."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["REPO", "SCRIPT", "Container", "ContainerEnv", "Unavailable", "detect", "source_hash"]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "container"
_UNAVAILABLE = 3  # scripts/container's exit status when no engine can run containers here


class Unavailable(Exception):
    """No container engine can run containers on this machine (the reason is the message)."""


@dataclass
class Container:
    """A running container, its published port on 127.0.0.1, and its engine."""

    env: ContainerEnv
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def running(self) -> bool:
        state = self.env.engine_run("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return state.stdout.strip() == "true"

    def logs(self) -> str:
        """What the container wrote to stdout and stderr (the engine hands each back on its own stream)."""
        done = self.env.engine_run("logs", self.name, check=False)
        return (done.stdout + done.stderr)[-8000:]

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return self.env.engine_run("exec", self.name, *command)

    def wait_healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if not self.running():
                raise RuntimeError(f"container {self.name} stopped: {self.logs()}")
            time.sleep(0.25)
        raise TimeoutError(f"container {self.name} not healthy after {timeout}s: {self.logs()}")


@dataclass
class ContainerEnv:
    """The engine (podman or docker) and the flags this machine needs, as ``scripts/container`` found them."""

    engine: str
    base_image: str
    run_flags: list[str]
    host_network: bool
    detected: dict[str, str]
    """``scripts/container env``'s lines, handed back to ``scripts/container build`` (no second probe)."""
    started: list[str] = field(default_factory=list)

    def engine_run(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.engine, *args], capture_output=True, text=True, check=check, timeout=timeout
        )

    def image_exists(self, image: str) -> bool:
        return self.engine_run("image", "inspect", image, check=False).returncode == 0

    def build(self, target: str, tag: str) -> None:
        """``scripts/container build``, exactly as ``make image`` runs it; its output shown on failure."""
        done = subprocess.run(
            [str(SCRIPT), "build", target, tag],
            env={**os.environ, **self.detected, "WHISPERD_CONTAINER_DETECTED": "1"},
            capture_output=True, text=True, timeout=1800, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(
                f"image build failed ({done.returncode}):\n{(done.stdout + done.stderr)[-6000:]}"
            )

    def remove_image(self, image: str) -> None:
        self.engine_run("rmi", "--force", image, check=False)

    def run(self, image: str, port: int, *, env: dict[str, str], options: tuple[str, ...] = ()) -> Container:
        """Start ``image`` detached with this machine's flags, its port 5000 published on 127.0.0.1:``port``.

        Where containers only run on the host's network, the server is told to listen on 127.0.0.1:``port``
        itself instead (still reachable only from this machine).
        """
        name = f"whisperd-test-{uuid.uuid4().hex[:12]}"
        network = ["--network", "host"] if self.host_network else ["--publish", f"127.0.0.1:{port}:5000"]
        if self.host_network:
            env = {**env, "WHISPERD_HOST": "127.0.0.1", "WHISPERD_PORT": str(port)}
        variables = [part for key, value in env.items() for part in ("--env", f"{key}={value}")]
        self.started.append(name)
        self.engine_run(
            "run", "--detach", "--name", name, *self.run_flags, *network, *variables, *options, image
        )
        return Container(self, name, port)

    def run_once(
        self, image: str, *, env: dict[str, str], timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``image`` in the foreground until it exits (removed afterwards, even when it must be killed)."""
        name = f"whisperd-test-{uuid.uuid4().hex[:12]}"
        self.started.append(name)
        variables = [part for key, value in env.items() for part in ("--env", f"{key}={value}")]
        return self.engine_run(
            "run", "--name", name, *self.run_flags, *variables, image, check=False, timeout=timeout
        )

    def remove_containers(self) -> None:
        """Every container started here, with its anonymous volumes."""
        for name in self.started:
            self.engine_run("rm", "--force", "--volumes", name, check=False)
        self.started.clear()

    def healthcheck(self, container: Container) -> bool | None:
        """The image's own HEALTHCHECK run once now (Podman), or None where it cannot be run on demand."""
        if self.engine != "podman":
            return None
        return self.engine_run("healthcheck", "run", container.name, check=False).returncode == 0

    def configured_healthcheck(self, image: str) -> list[str]:
        """The HEALTHCHECK command stored in the image (empty if it has none)."""
        raw = self.engine_run("image", "inspect", "--format", "{{json .Config.Healthcheck}}", image).stdout
        found = json.loads(raw) if raw.strip() not in {"", "null"} else None
        return list(found.get("Test", [])) if isinstance(found, dict) else []


def detect() -> ContainerEnv:
    """This machine's engine and flags; :class:`Unavailable` when it cannot run containers."""
    done = subprocess.run([str(SCRIPT), "env"], capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode == _UNAVAILABLE:
        why = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no engine"
        raise Unavailable(why.removeprefix("container: "))
    if done.returncode != 0:
        raise RuntimeError(f"scripts/container env failed ({done.returncode}): {done.stderr[-4000:]}")
    values: dict[str, str] = {}
    for line in done.stdout.splitlines():
        key, _, raw = line.partition("=")
        words = shlex.split(raw)
        values[key] = words[0] if words else ""
    return ContainerEnv(
        engine=values["ENGINE"],
        base_image=values["BASE_IMAGE"],
        run_flags=shlex.split(values["RUN_FLAGS"]),
        host_network=values["RUN_NETWORK"] == "host",
        detected=values,
    )


def _context_files() -> Iterator[Path]:
    """What the Containerfile's build context holds (see .dockerignore): the recipe and the source."""
    yield REPO / "Containerfile"
    yield REPO / "pyproject.toml"
    yield REPO / "requirements.lock"
    yield REPO / "README.md"
    for path in sorted((REPO / "src").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and ".egg-info" not in str(path):
            yield path


def source_hash() -> str:
    """A short digest of the build context: equal hashes build the same image."""
    digest = hashlib.sha256()
    for path in _context_files():
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
