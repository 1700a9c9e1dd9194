"""A new user's whole path, with the real commands: install the service, boot it as systemd would, call it
from the outside with ``transcribe.sh`` and ``whisperd transcribe``, watch ``/metrics`` move, restart it
(with a client waiting), and diagnose it with ``whisperd doctor`` up and down.

systemd does not run in the test sandbox, so "boot" means: start exactly the unit's ``ExecStart=`` with
exactly its ``Environment=`` lines, in the minimal environment and working folder a user manager gives.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
from bench.wer import wer
from prometheus_client.parser import text_string_to_metric_families

from tests.support.commands import clean_env, whisperd
from tests.support.media import JFK_TEXT
from tests.support.servers import RunningServer, free_port
from whisperd.cli.systemd_unit import parse_unit

KEY = "s3cret-key"
SCRIPT = Path(__file__).resolve().parents[3] / "clients" / "transcribe.sh"


def boot(unit: Path, home: Path, port: int) -> RunningServer:
    """What ``systemctl --user start whisperd`` does with the unit (less the cgroup)."""
    parsed = parse_unit(unit.read_text())
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", **parsed.environment}
    with (home / "server.out").open("ab") as out:
        process = subprocess.Popen(
            parsed.exec_start, env=env, cwd=home, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = RunningServer(process, port, home, env)
    server.wait_healthy(timeout=120)
    return server


def requests_served(server: RunningServer) -> float:
    response = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert response.status_code == 200
    return sum(
        sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "whisperd_requests_total"
        and sample.labels == {"endpoint": "/v1/audio/transcriptions", "format": "text", "status": "200"}
    )


def test_install_boot_call_watch_restart_diagnose(tmp_path: Path, jfk: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    user = clean_env(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    installed = whisperd(
        "service", "install", "--port", str(port), "--model", "tiny.en",
        "--env", f"WHISPERD_API_KEYS={KEY}", env=user,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    unit = home / ".config" / "systemd" / "user" / "whisperd.service"

    server = boot(unit, home, port)
    waiting: subprocess.Popen[bytes] | None = None
    try:
        url = f"http://127.0.0.1:{port}"
        client = {"PATH": os.environ["PATH"], "WHISPER_API_URL": f"{url}/v1/audio/transcriptions"}
        script = subprocess.run(
            ["sh", str(SCRIPT), str(jfk)],
            env={**client, "WHISPER_API_KEY": KEY},
            capture_output=True,
            timeout=120,
        )
        assert script.returncode == 0, script.stderr
        assert wer(JFK_TEXT, script.stdout.decode()) < 0.15
        cli = whisperd(
            "transcribe", "--server", url, jfk.with_suffix(".mp3"), env=clean_env(WHISPER_API_KEY=KEY)
        )
        assert cli.returncode == 0, cli.stderr
        assert wer(JFK_TEXT, cli.stdout.decode()) < 0.15
        assert requests_served(server) == 2
        doctor = whisperd("doctor", "--server", url, env=clean_env(WHISPER_API_KEY=KEY))
        assert doctor.returncode == 0, doctor.stdout

        assert server.stop(signal.SIGTERM) == 0  # systemctl stop: a clean exit
        waiting = subprocess.Popen(
            ["sh", str(SCRIPT), str(jfk)],
            env={**client, "WHISPER_API_KEY": KEY, "TRANSCRIBE_RETRY_SECONDS": "120"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        down = whisperd("doctor", "--server", url, env=clean_env(WHISPER_API_KEY=KEY))
        assert down.returncode == 1
        assert "fix: start it (`systemctl --user start whisperd`" in down.stdout.decode()

        server = boot(unit, home, port)  # the reboot
        stdout, stderr = waiting.communicate(timeout=120)
        assert waiting.returncode == 0, stderr
        assert wer(JFK_TEXT, stdout.decode()) < 0.15
        assert requests_served(server) == 1  # a new process: the counters started again

        local = whisperd("doctor", env={**user, **parse_unit(unit.read_text()).environment})
        assert local.returncode == 0, local.stdout
        assert f"[ ok ] service: {unit} runs " in local.stdout.decode()
        assert "in use by a running whisperd (whisper-tiny.en)" in local.stdout.decode()
    finally:
        if waiting is not None and waiting.poll() is None:
            waiting.kill()
            waiting.wait()
        server.stop(signal.SIGTERM)
