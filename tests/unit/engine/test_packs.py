"""Model packs: split parts are assembled once and hash-checked; a wrong hash is refused."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from whisperd.engine import packs
from whisperd.engine.catalog import ModelCatalog
from whisperd.engine.packs import (
    PACKS,
    PackError,
    PackFile,
    PackSpec,
    export_models,
    installed_packs,
    materialize,
)


@pytest.fixture
def fake_packages(tmp_path: Path) -> Iterator[Path]:
    """Two importable packages holding a split 'model.bin' and its side files (the real layout, tiny data)."""
    site = tmp_path / "site"
    for name, files in {
        "whisperd_test_part1": {"data/model.bin.part1": b"abc" * 1000, "data/config.json": b"{}",
                                "data/tokenizer.json": b"{}", "data/vocabulary.txt": b"a\n"},
        "whisperd_test_part2": {"data/model.bin.part2": b"xyz" * 500},
    }.items():  # fmt: skip
        for relative, content in files.items():
            path = site / name / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        (site / name / "__init__.py").write_text("")
    sys.path.insert(0, str(site))
    yield site
    sys.path.remove(str(site))
    for name in ("whisperd_test_part1", "whisperd_test_part2"):
        sys.modules.pop(name, None)


def _spec(sha256: str) -> PackSpec:
    return PackSpec(
        model="test-model",
        pack="whisperd-test-part1 + whisperd-test-part2",
        weights=(PackFile("whisperd_test_part1", "data/model.bin.part1"),
                 PackFile("whisperd_test_part2", "data/model.bin.part2")),
        files=tuple(PackFile("whisperd_test_part1", f"data/{n}")
                    for n in ("config.json", "tokenizer.json", "vocabulary.txt")),
        sha256=sha256,
    )  # fmt: skip


def test_split_pack_is_assembled_once(fake_packages: Path, tmp_path: Path) -> None:
    expected = hashlib.sha256(b"abc" * 1000 + b"xyz" * 500).hexdigest()
    folder = materialize(_spec(expected), tmp_path / "cache")
    assert (folder / "model.bin").read_bytes() == b"abc" * 1000 + b"xyz" * 500
    assert {p.name for p in folder.iterdir()} >= {
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.txt",
    }
    stamp = (folder / "model.bin").stat().st_mtime_ns
    assert materialize(_spec(expected), tmp_path / "cache") == folder
    assert (folder / "model.bin").stat().st_mtime_ns == stamp  # not rebuilt
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".assemble-")]


def test_wrong_hash_is_refused_and_leaves_nothing(fake_packages: Path, tmp_path: Path) -> None:
    with pytest.raises(PackError, match="sha256"):
        materialize(_spec("0" * 64), tmp_path / "cache")
    assert list((tmp_path / "cache" / "packs").iterdir()) == []


def test_missing_part_is_a_clear_error(fake_packages: Path, tmp_path: Path) -> None:
    (fake_packages / "whisperd_test_part2" / "data" / "model.bin.part2").unlink()
    with pytest.raises(PackError, match="incomplete"):
        materialize(_spec("0" * 64), tmp_path / "cache")


def test_real_packs_are_installed_and_pinned() -> None:
    models = {spec.model for spec in installed_packs()}
    assert {"tiny.en", "base"} <= models
    for spec in PACKS:
        assert "==" in spec.pack
        assert len(spec.sha256) == 64


def test_real_base_pack_assembles_to_its_hash(tmp_path: Path) -> None:
    spec = next(s for s in installed_packs() if s.model == "base")
    folder = materialize(spec, tmp_path)
    digest = hashlib.sha256((folder / "model.bin").read_bytes()).hexdigest()
    assert digest == spec.sha256


def test_export_makes_plain_model_folders_that_the_catalog_finds(
    fake_packages: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = hashlib.sha256(b"abc" * 1000 + b"xyz" * 500).hexdigest()
    shadowed = PackSpec("test-model", "a later pack", (), (), "0" * 64)  # first pack per model wins
    monkeypatch.setattr(packs, "PACKS", (_spec(expected), shadowed))
    exported = export_models(tmp_path / "models", tmp_path / "cache")
    folder = tmp_path / "models" / "test-model"
    assert exported == {"test-model": folder}
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["test-model"]  # no work folder left
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.txt",
    ]
    assert (folder / "model.bin").read_bytes() == b"abc" * 1000 + b"xyz" * 500
    assert folder.stat().st_mode & 0o777 == 0o755
    monkeypatch.setattr(packs, "PACKS", ())  # the packages gone, as in the image
    assert ModelCatalog(tmp_path / "cache", [tmp_path / "models"]).find("test-model").path == folder


def test_export_overwrites_nothing(
    fake_packages: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packs, "PACKS", (_spec(hashlib.sha256(b"abc" * 1000 + b"xyz" * 500).hexdigest()),))
    (tmp_path / "models" / "test-model").mkdir(parents=True)
    with pytest.raises(PackError, match="already exists"):
        export_models(tmp_path / "models", tmp_path / "cache")
    assert list((tmp_path / "models" / "test-model").iterdir()) == []


def test_real_packs_export_to_their_hashes(tmp_path: Path) -> None:
    exported = export_models(tmp_path / "models", tmp_path / "cache")
    assert set(exported) == {"tiny.en", "base"}
    first: dict[str, PackSpec] = {}
    for spec in installed_packs():
        first.setdefault(spec.model, spec)
    for model, spec in first.items():
        assert hashlib.sha256((exported[model] / "model.bin").read_bytes()).hexdigest() == spec.sha256
