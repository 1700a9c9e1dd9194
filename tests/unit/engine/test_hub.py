"""``whisperd models pull``: real huggingface_hub against a local stand-in hub serving the real tiny.en files.

Also the offline path: no hub reachable fails fast with a message that says what to do.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import whisperd.engine.hub as model_store
from tests.support.fake_hub import (
    COMMIT_1,
    COMMIT_2,
    PACK,
    REPO,
    FakeFile,
    FakeHub,
    FakeRepo,
    real_files,
    serve,
)
from whisperd.engine.hub import ModelStoreError, pull, resolve_repo


@pytest.fixture(scope="module")
def tiny_files() -> dict[str, FakeFile]:
    """The four real tiny.en files (75 MB), read once."""
    return real_files()


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tiny_files: dict[str, FakeFile]) -> Iterator[FakeHub]:
    with serve(FakeHub(repos={REPO: FakeRepo(COMMIT_1, dict(tiny_files))}), monkeypatch) as hub:
        yield hub


def leftovers(cache_dir: Path) -> list[str]:
    """Files a failed pull left in the cache (huggingface_hub's CACHEDIR.TAG marker aside)."""
    hub = cache_dir / "hub"
    if not hub.exists():
        return []
    return sorted(
        str(p.relative_to(hub)) for p in hub.rglob("*") if not p.is_dir() and p.name != "CACHEDIR.TAG"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ------------------------------------------------------------------------------------------ names


def test_hub_repos_is_faster_whispers_table() -> None:
    from faster_whisper.utils import _MODELS

    assert dict(model_store.HUB_REPOS) == _MODELS


def test_resolve_repo() -> None:
    assert resolve_repo("tiny.en") == REPO
    assert resolve_repo("turbo") == "mobiuslabsgmbh/faster-whisper-large-v3-turbo"
    assert resolve_repo("Systran/faster-whisper-small") == "Systran/faster-whisper-small"
    for bad in ("tiny.en.x", "a/b/c", "/x", "x/", ""):
        with pytest.raises(ModelStoreError, match="neither a faster-whisper model name") as info:
            resolve_repo(bad)
        assert info.value.kind == "bad_name"


def test_invalid_repo_id_is_rejected_without_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ModelStoreError, match="not a valid hub repository id") as info:
        pull("bad--name/..x", tmp_path)
    assert info.value.kind == "bad_name"


# --------------------------------------------------------------------------------- pull: no network


def test_pull_offline_fails_fast_with_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    start = time.monotonic()
    with pytest.raises(ModelStoreError) as info:
        pull("tiny.en", tmp_path, progress=True)
    assert time.monotonic() - start < 5
    assert info.value.kind == "offline"
    message = str(info.value)
    assert message.startswith("Cannot reach the model hub (127.0.0.1): connection refused")
    assert message.endswith(
        "on a machine without internet, install a model pack or use `whisperd models import FOLDER`."
    )
    assert not (tmp_path / "hub").exists()


def test_pull_dns_failure_is_an_offline_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")  # RFC 6761: never resolves
    with pytest.raises(ModelStoreError, match=r"^Cannot reach the model hub \(hub\.invalid\): ") as info:
        pull("tiny.en", tmp_path, timeout=3)
    assert info.value.kind == "offline"
    assert not (tmp_path / "hub").exists()


def test_pull_timeout_is_an_offline_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as silent:  # accepts connections (kernel backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        start = time.monotonic()
        with pytest.raises(ModelStoreError, match=r"no answer in time") as info:
            pull("tiny.en", tmp_path, timeout=0.5)
        assert time.monotonic() - start < 5
    assert info.value.kind == "offline"
    assert not (tmp_path / "hub").exists()


# ------------------------------------------------------------------------------- pull: fake hub


def test_pull_fills_the_hub_cache_that_faster_whisper_reads(tmp_path: Path, fake_hub: FakeHub) -> None:
    calls: list[tuple[int, int]] = []
    folder = pull("tiny.en", tmp_path, progress=lambda done, total: calls.append((done, total)))

    storage = tmp_path / "hub" / "models--Systran--faster-whisper-tiny.en"
    assert folder == storage / "snapshots" / COMMIT_1
    assert (storage / "refs" / "main").read_text() == COMMIT_1
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in PACK.iterdir())
    for original in PACK.iterdir():
        assert (folder / original.name).is_symlink()
        assert (folder / original.name).read_bytes() == original.read_bytes()
    model_bin = fake_hub.repos[REPO].files["model.bin"]
    assert (folder / "model.bin").resolve() == storage / "blobs" / model_bin.sha256
    assert not list((tmp_path / "hub").rglob("*.incomplete"))

    from faster_whisper.utils import download_model

    found = download_model("tiny.en", cache_dir=str(tmp_path / "hub"), local_files_only=True)
    assert Path(found) == folder

    total = sum(f.stat().st_size for f in PACK.iterdir())
    assert calls[-1] == (total, total)
    assert all(b[0] >= a[0] for a, b in itertools.pairwise(calls))

    files = sorted(p.name for p in PACK.iterdir())
    assert sorted(fake_hub.requests) == sorted([
        f"GET /api/models/{REPO}/revision/main?blobs=true",
        f"GET /api/models/{REPO}/tree/{COMMIT_1}?recursive=true&expand=false",
        *(f"HEAD /{REPO}/resolve/{COMMIT_1}/{name}" for name in files),
        *(f"GET /{REPO}/resolve/{COMMIT_1}/{name}" for name in files),
    ])  # fmt: skip


def test_second_pull_only_asks_for_the_commit(tmp_path: Path, fake_hub: FakeHub) -> None:
    first = pull(REPO, tmp_path)
    fake_hub.requests.clear()
    assert pull(REPO, tmp_path, progress=True) == first
    assert fake_hub.requests == [f"GET /api/models/{REPO}/revision/main?blobs=true"]


def test_corrupt_download_is_deleted_and_reported(
    tmp_path: Path, fake_hub: FakeHub, tiny_files: dict[str, FakeFile]
) -> None:
    good = tiny_files["model.bin"].content
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF  # same size, so huggingface_hub's own size check passes
    fake_hub.repos[REPO].files["model.bin"] = FakeFile(good, served=bytes(bad), lfs=True)

    with pytest.raises(ModelStoreError, match=r"^Checksum mismatch for model\.bin of Systran/") as info:
        pull("tiny.en", tmp_path)
    assert info.value.kind == "checksum"
    assert hashlib.sha256(good).hexdigest() in str(info.value)
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "hub" / "models--Systran--faster-whisper-tiny.en").exists()

    from faster_whisper.utils import download_model
    from huggingface_hub.errors import LocalEntryNotFoundError

    with pytest.raises(LocalEntryNotFoundError):
        download_model("tiny.en", cache_dir=str(tmp_path / "hub"), local_files_only=True)


def test_failed_update_keeps_the_previous_version(
    tmp_path: Path, fake_hub: FakeHub, tiny_files: dict[str, FakeFile]
) -> None:
    first = pull("tiny.en", tmp_path)
    before = sorted(str(p) for p in (tmp_path / "hub").rglob("*"))

    config = json.loads(tiny_files["config.json"].content)
    config["suppress_ids_begin"] = [220]
    new = json.dumps(config, indent=2).encode()
    wrong = new.replace(b"220", b"221")  # a non-LFS file: checked against its git blob id
    fake_hub.repos[REPO] = FakeRepo(COMMIT_2, {**tiny_files, "config.json": FakeFile(new, served=wrong)})

    with pytest.raises(ModelStoreError, match=r"^Checksum mismatch for config\.json .* git blob id") as info:
        pull("tiny.en", tmp_path)
    assert info.value.kind == "checksum"
    assert sorted(str(p) for p in (tmp_path / "hub").rglob("*")) == before

    from faster_whisper.utils import download_model

    assert Path(download_model("tiny.en", cache_dir=str(tmp_path / "hub"), local_files_only=True)) == first
    assert (first / "config.json").read_bytes() == tiny_files["config.json"].content


def test_unknown_repo(tmp_path: Path, fake_hub: FakeHub) -> None:
    with pytest.raises(ModelStoreError, match=r"^No model repository acme/nothing on 127\.0\.0\.1") as info:
        pull("acme/nothing", tmp_path)
    assert info.value.kind == "not_found"
    assert leftovers(tmp_path) == []


def test_gated_repo(tmp_path: Path, fake_hub: FakeHub, tiny_files: dict[str, FakeFile]) -> None:
    fake_hub.repos["acme/gated-whisper"] = FakeRepo(COMMIT_1, dict(tiny_files), gated=True)
    with pytest.raises(ModelStoreError, match=r"^acme/gated-whisper is a gated repository.*HF_TOKEN") as info:
        pull("acme/gated-whisper", tmp_path)
    assert info.value.kind == "gated"
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "hub" / "models--acme--gated-whisper").exists()


def test_private_repo_needs_hf_token(
    tmp_path: Path, fake_hub: FakeHub, tiny_files: dict[str, FakeFile], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_hub.repos["acme/private-whisper"] = FakeRepo(COMMIT_1, dict(tiny_files), token="hf_test_token")
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(ModelStoreError, match="private and HF_TOKEN") as info:
        pull("acme/private-whisper", tmp_path)
    assert info.value.kind == "not_found"

    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    folder = pull("acme/private-whisper", tmp_path)
    assert (folder / "model.bin").stat().st_size == len(tiny_files["model.bin"].content)


def test_not_a_ctranslate2_repo(tmp_path: Path, fake_hub: FakeHub) -> None:
    fake_hub.repos["openai/whisper-tiny"] = FakeRepo(
        COMMIT_1, {"config.json": FakeFile(b"{}"), "model.safetensors": FakeFile(b"x" * 100, lfs=True)}
    )
    with pytest.raises(ModelStoreError, match="not a CTranslate2 Whisper model") as info:
        pull("openai/whisper-tiny", tmp_path)
    assert info.value.kind == "not_a_model"
    assert fake_hub.requests == ["GET /api/models/openai/whisper-tiny/revision/main?blobs=true"]


def test_disk_space_is_checked_before_downloading(
    tmp_path: Path, fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_store, "free_bytes", lambda path: 10_000_000)  # 10 MB free, 78 MB needed
    with pytest.raises(ModelStoreError, match=r"^Not enough disk space for Systran/.*needs 78\.1 MB") as info:
        pull("tiny.en", tmp_path)
    assert info.value.kind == "disk_full"
    assert fake_hub.requests == [f"GET /api/models/{REPO}/revision/main?blobs=true"]
    assert not (tmp_path / "hub").exists()


# ------------------------------------------------------------------------------------------- import
