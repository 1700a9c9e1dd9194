"""``whisperd doctor`` run for real: healthy set-ups pass, broken ones fail with the right fix."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from tests.support.commands import clean_env, whisperd
from tests.support.servers import RunningServer, free_port
from whisperd.cli.doctor import server_key
from whisperd.engine.faster_whisper.adapter import cuda_device_count


def lines(output: bytes) -> dict[str, str]:
    """``{"[ ok ] Python": "3.11.7", ...}``: the report, keyed by mark and check name."""
    found = {}
    for line in output.decode().splitlines():
        match = re.match(r"^(\[[ a-zA-Z]{4}\] .+?): (.*)$", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def machine(tmp_path: Path, **settings: str) -> dict[str, str]:
    """A user with no unit installed, and the given WHISPERD_* settings."""
    return clean_env(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"), **settings)


def test_from_a_client_a_healthy_server_passes(server: RunningServer) -> None:
    result = whisperd("doctor", "--server", server.api_url, env=clean_env())
    assert result.returncode == 0, result.stdout
    report = lines(result.stdout)
    assert "[ ok ] Python" in report
    assert "[ ok ] packages" in report
    assert report[f"[ ok ] server {server.url}"].startswith("healthy: whisper-tiny.en on cpu/")
    assert re.fullmatch(r"transcribed in \d+ ms \(round trip\)", report["[ ok ] 1-second clip"])
    assert result.stdout.decode().rstrip().endswith("All needed checks passed.")


def test_from_a_client_a_server_that_is_down(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = whisperd("doctor", "--server", url, env=clean_env())
    assert result.returncode == 1
    out = result.stdout.decode()
    assert f"[FAIL] server {url}: does not answer" in out
    assert "fix: start it (`systemctl --user start whisperd`" in out


def test_from_a_client_the_key_is_checked(keyed_server: RunningServer) -> None:
    without = whisperd("doctor", "--server", keyed_server.url, env=clean_env())
    assert without.returncode == 1
    assert "[FAIL] 1-second clip: refused: You didn't provide an API key" in without.stdout.decode()
    assert "fix: set WHISPER_API_KEY" in without.stdout.decode()
    keyed = whisperd("doctor", "--server", keyed_server.url, env=clean_env(WHISPER_API_KEY="secret"))
    assert keyed.returncode == 0, keyed.stdout


def test_a_good_server_machine_passes(tmp_path: Path) -> None:
    env = machine(tmp_path, WHISPERD_MODEL="tiny.en", WHISPERD_PORT=str(free_port()))
    result = whisperd("doctor", env=env)
    assert result.returncode == 0, result.stdout
    report = lines(result.stdout)
    assert report["[ ok ] model tiny.en"].startswith("pack ")
    assert report[f"[ ok ] port {env['WHISPERD_PORT']} on 127.0.0.1"] == "free"
    assert any(key.endswith("] CUDA") for key in report)
    assert "[info] service" in report


def test_a_running_whisperd_on_the_port_is_checked_too(server: RunningServer, tmp_path: Path) -> None:
    env = machine(tmp_path, WHISPERD_MODEL="tiny.en", WHISPERD_PORT=str(server.port))
    result = whisperd("doctor", env=env)
    assert result.returncode == 0, result.stdout
    report = lines(result.stdout)
    assert (
        report[f"[ ok ] port {server.port} on 127.0.0.1"] == "in use by a running whisperd (whisper-tiny.en)"
    )
    assert "[ ok ] 1-second clip" in report


def test_a_broken_server_machine_fails_with_fixes(tmp_path: Path) -> None:
    """A port taken by another program, a model that is not here, CUDA demanded, a stale service unit."""
    env = machine(tmp_path)
    installed = whisperd("service", "install", "--model", "small", env=env)
    assert installed.returncode == 0, installed.stderr
    unit = tmp_path / "config" / "systemd" / "user" / "whisperd.service"
    unit.write_text(re.sub(r"ExecStart=\S+", "ExecStart=/old/venv/bin/whisperd", unit.read_text()))
    with socket.socket() as other_program:
        other_program.bind(("127.0.0.1", 0))
        other_program.listen()
        port = other_program.getsockname()[1]
        env.update(WHISPERD_PORT=str(port), WHISPERD_MODEL="small", WHISPERD_DEVICE="cuda")
        result = whisperd("doctor", env=env)
    assert result.returncode == 1
    out = result.stdout.decode()
    assert f"[FAIL] port {port} on 127.0.0.1: in use by another program\n       fix: stop it" in out
    assert "[FAIL] model small: not available" in out
    assert "fix: set WHISPERD_MODEL to an installed model (" in out
    assert "[FAIL] service: " in out
    assert "/old/venv/bin/whisperd, which is not an executable file" in out
    if cuda_device_count() == 0:
        assert "[FAIL] CUDA: WHISPERD_DEVICE=cuda, but CTranslate2 sees no CUDA device" in out
    assert re.search(r"\n\d check\(s\) failed; see the fixes above\.\n$", out)


def fake_nvidia_smi(folder: Path) -> None:
    """A driver that lists a GPU, as on a box where CUDA libraries are missing for CTranslate2."""
    folder.mkdir()
    script = folder / "nvidia-smi"
    script.write_text('#!/bin/sh\necho "NVIDIA GeForce RTX 3090, 550.54.14, 24576 MiB"\n')
    script.chmod(0o755)


@pytest.mark.skipif(cuda_device_count() > 0, reason="CTranslate2 sees a real GPU here")
def test_a_gpu_that_ctranslate2_cannot_use(tmp_path: Path) -> None:
    fake_nvidia_smi(tmp_path / "bin")
    env = machine(tmp_path, WHISPERD_MODEL="tiny.en", WHISPERD_PORT=str(free_port()))
    env["PATH"] = f"{tmp_path / 'bin'}:{env['PATH']}"
    auto = whisperd("doctor", env=env)
    assert auto.returncode == 0  # it still works, on the CPU: a warning, not a failure
    out = auto.stdout.decode()
    assert f"[ ok ] nvidia-smi: {tmp_path / 'bin' / 'nvidia-smi'}: NVIDIA GeForce RTX 3090" in out
    assert "[warn] CUDA: the driver lists a GPU but CTranslate2 sees none" in out
    assert "nvidia-cudnn-cu12" in out
    demanded = whisperd("doctor", env={**env, "WHISPERD_DEVICE": "cuda"})
    assert demanded.returncode == 1
    assert "nvidia-cudnn-cu12" in demanded.stdout.decode()


def test_on_the_server_machine_its_own_key_is_used(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("# rotated monthly\n\n  first-key  # laptop\nsecond-key\n")
    assert server_key(["from-env", "other"], keys) == "from-env"
    assert server_key([], keys) == "first-key"
    assert server_key([], tmp_path / "missing") is None
    assert server_key([], None) is None
