"""``whisperd models import FOLDER``: the real tiny.en folder imports; broken copies are refused, named."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.support.fake_hub import PACK
from whisperd.engine.hub import ModelStoreError
from whisperd.engine.importer import import_folder


def copy_pack(dest: Path, *, skip: tuple[str, ...] = ()) -> Path:
    dest.mkdir(parents=True)
    for f in PACK.iterdir():
        if f.name not in skip:
            shutil.copy2(f, dest / f.name)
    return dest


def no_staging(models_dir: Path) -> bool:
    return not [p for p in models_dir.iterdir() if p.name.startswith(".")] if models_dir.exists() else True


def test_import_the_real_model(tmp_path: Path) -> None:
    models = tmp_path / "models"
    target = import_folder(PACK, models, name="tiny.en")
    assert target == models / "tiny.en"
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in PACK.iterdir())
    assert (target / "model.bin").read_bytes() == (PACK / "model.bin").read_bytes()
    assert no_staging(models)


def test_import_defaults_to_the_folder_name_and_copies_only_model_files(tmp_path: Path) -> None:
    source = copy_pack(tmp_path / "my-model")
    (source / "README.md").write_text("notes")
    (source / ".git").mkdir()
    target = import_folder(source, tmp_path / "models")
    assert target == tmp_path / "models" / "my-model"
    assert sorted(p.name for p in target.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.txt",
    ]


def test_import_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    models = tmp_path / "models"
    target = import_folder(PACK, models, name="tiny.en")
    (target / "marker").write_text("old")
    with pytest.raises(ModelStoreError, match="already exists") as info:
        import_folder(PACK, models, name="tiny.en")
    assert info.value.kind == "exists"
    assert (target / "marker").exists()

    assert import_folder(PACK, models, name="tiny.en", replace=True) == target
    assert not (target / "marker").exists()
    assert (target / "model.bin").stat().st_size == (PACK / "model.bin").stat().st_size
    assert no_staging(models)


@pytest.mark.parametrize(
    ("skip", "missing"),
    [
        (("model.bin",), "missing model.bin"),
        (("config.json",), "missing config.json"),
        (("tokenizer.json",), "missing tokenizer.json."),
        (("vocabulary.txt",), "missing vocabulary.* (vocabulary.json or vocabulary.txt)."),
        (("model.bin", "tokenizer.json"), "missing model.bin, tokenizer.json."),
    ],
)
def test_import_names_missing_files(tmp_path: Path, skip: tuple[str, ...], missing: str) -> None:
    source = copy_pack(tmp_path / "broken", skip=skip)
    with pytest.raises(ModelStoreError, match=re.escape(missing)) as info:
        import_folder(source, tmp_path / "models")
    assert info.value.kind == "not_a_model"
    assert not (tmp_path / "models").exists()


def test_import_rejects_a_truncated_model(tmp_path: Path) -> None:
    source = copy_pack(tmp_path / "truncated", skip=("model.bin",))
    with (PACK / "model.bin").open("rb") as handle:
        (source / "model.bin").write_bytes(handle.read(1_000_000))
    models = tmp_path / "models"
    with pytest.raises(
        ModelStoreError, match=r"does not load as a CTranslate2 Whisper model: RuntimeError"
    ) as info:
        import_folder(source, models)
    assert info.value.kind == "not_a_model"
    assert list(models.iterdir()) == []


@pytest.mark.parametrize(("text", "error"), [("{not json", "is not valid JSON"), ("[1, 2]", "not an object")])
def test_import_rejects_a_bad_config(tmp_path: Path, text: str, error: str) -> None:
    source = copy_pack(tmp_path / "badconfig")
    (source / "config.json").write_text(text)
    with pytest.raises(ModelStoreError, match=error) as info:
        import_folder(source, tmp_path / "models")
    assert info.value.kind == "not_a_model"


def test_import_needs_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelStoreError, match="does not exist") as info:
        import_folder(tmp_path / "nowhere", tmp_path / "models")
    assert info.value.kind == "not_a_model"
    with pytest.raises(ModelStoreError, match="is not a folder"):
        import_folder(PACK / "model.bin", tmp_path / "models")


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "", "a..b", "-x", "x" * 129, "名前"])
def test_import_rejects_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ModelStoreError, match="cannot be a model name") as info:
        import_folder(PACK, tmp_path / "models", name=name)
    assert info.value.kind == "bad_name"
    assert not (tmp_path / "models").exists()


def test_import_reads_through_symlinks_of_a_hub_snapshot(tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    for f in PACK.iterdir():
        (snapshot / f.name).symlink_to(f)
    target = import_folder(snapshot, tmp_path / "models", name="tiny.en")
    assert not (target / "model.bin").is_symlink()
