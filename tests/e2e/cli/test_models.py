"""``whisperd models`` as an operator runs it: list, import a folder, pull from a hub (here offline)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.commands import clean_env, whisperd
from tests.support.fake_hub import PACK
from tests.support.servers import free_port


def test_import_then_list_then_serve_by_name(tmp_path: Path) -> None:
    env = clean_env(WHISPERD_CACHE_DIR=str(tmp_path / "cache"))
    source = tmp_path / "usb" / "my-tiny"
    shutil.copytree(PACK, source)
    imported = whisperd("models", "import", str(source), env=env)
    assert imported.returncode == 0, imported.stderr
    assert b"model my-tiny imported" in imported.stdout
    listed = whisperd("models", env=env)
    assert listed.returncode == 0
    line = next(ln for ln in listed.stdout.decode().splitlines() if ln.startswith("my-tiny"))
    assert f"folder {tmp_path / 'cache' / 'models'}" in line
    again = whisperd("models", "import", str(source), env=env)
    assert again.returncode == 1
    assert b"already exists" in again.stderr


def test_pull_without_a_hub_says_what_to_do(tmp_path: Path) -> None:
    env = clean_env(WHISPERD_CACHE_DIR=str(tmp_path / "cache"), HF_ENDPOINT=f"http://127.0.0.1:{free_port()}")
    pulled = whisperd("models", "pull", "small", env=env)
    assert pulled.returncode == 1
    message = pulled.stderr.decode()
    assert "Cannot reach the model hub" in message
    assert "whisperd models import FOLDER" in message
    assert not list((tmp_path / "cache").rglob("*.bin"))


def test_a_bad_folder_is_refused_with_its_reason(tmp_path: Path) -> None:
    env = clean_env(WHISPERD_CACHE_DIR=str(tmp_path / "cache"))
    (tmp_path / "empty").mkdir()
    refused = whisperd("models", "import", str(tmp_path / "empty"), env=env)
    assert refused.returncode == 1
    assert b"missing model.bin" in refused.stderr
