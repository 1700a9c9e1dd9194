"""Run the installed ``whisperd`` command as a user would: piped, or on a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WHISPERD", "Result", "clean_env", "on_terminal", "whisperd"]

WHISPERD = Path(sys.executable).parent / "whisperd"
_CLIENT_VARIABLES = ("WHISPER_API_URL", "WHISPER_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_KEY")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any server address or key that the developer may have set."""
    env = {
        k: v for k, v in os.environ.items() if k not in _CLIENT_VARIABLES and not k.startswith("WHISPERD_")
    }
    cache = os.environ.get("WHISPERD_TEST_CACHE_DIR")
    if cache:
        env["WHISPERD_CACHE_DIR"] = cache
    env.update(extra)
    return env


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: bytes
    stderr: bytes


def whisperd(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300
) -> Result:
    done = subprocess.run(
        [str(WHISPERD), *map(str, args)],
        env=env or clean_env(),
        cwd=cwd,
        capture_output=True,
        timeout=timeout,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def on_terminal(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 300) -> Result:
    """Like :func:`whisperd`, with standard error on a pseudo-terminal (stdout still piped)."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [str(WHISPERD), *map(str, args)], env=env or clean_env(), stdout=subprocess.PIPE, stderr=slave
    )
    os.close(slave)
    chunks: list[bytes] = []
    while True:  # read as it comes, or a full terminal buffer would block the command
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the command closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert process.stdout is not None
    stdout = process.stdout.read()
    process.stdout.close()
    process.wait(timeout)
    return Result(process.returncode, stdout, b"".join(chunks))
