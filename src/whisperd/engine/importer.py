"""How a model folder the operator already has arrives: ``whisperd models import FOLDER``.

For machines without internet: a model folder from a USB stick, another machine or a conversion is
checked (the files faster-whisper needs, a valid ``config.json``, and a real load with CTranslate2) and
copied into ``<cache>/models/NAME``, where the catalogue finds it by name. The copy appears whole or not
at all. Failures are :class:`~whisperd.engine.hub.ModelStoreError`, worded for the operator.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from whisperd.engine.catalog import is_safe_name
from whisperd.engine.hub import ModelStoreError, free_bytes, is_wanted, size_text

__all__ = ["import_folder"]


def import_folder(folder: Path, models_dir: Path, *, name: str | None = None, replace: bool = False) -> Path:
    """Check that ``folder`` holds a loadable CTranslate2 Whisper model and copy it to ``models_dir / name``.

    For machines without internet: the operator brings a model folder and this makes it available by
    name. Checks, cheapest first: a folder; model.bin, config.json, tokenizer.json and vocabulary.* (see
    :func:`_check_files` for why both tokenizer files); config.json is a JSON object; the copy really
    loads (``ctranslate2.models.Whisper`` on the CPU, int8) and reports ``is_multilingual`` and
    ``n_mels``. Loading the *copy* proves what gets installed.

    Only the files faster-whisper reads (:data:`ALLOW_PATTERNS`) are copied, symlinks followed (a hub
    snapshot works), into a hidden temporary folder next to the target, renamed into place at the end:
    a reader sees the whole model or none. ``name`` defaults to the folder's name and must be a plain
    name; an existing model is only replaced with ``replace=True``. Loading needs the model's size in
    memory for a moment (about 1.5 GB for large-v3).
    """
    source = Path(folder)
    if not source.is_dir():
        what = "does not exist" if not source.exists() else "is not a folder"
        raise ModelStoreError("not_a_model", f"{source} {what}; give the folder that holds model.bin.")
    model_name = name if name is not None else source.resolve().name
    if not is_safe_name(model_name):
        raise ModelStoreError(
            "bad_name",
            f"{model_name!r} cannot be a model name: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, without '..' (pass name=... to choose one).",
        )
    files = _model_files(source)
    _check_files(source, files)

    target = Path(models_dir) / model_name
    if (target.exists() or target.is_symlink()) and not replace:
        raise ModelStoreError(
            "exists",
            f"A model named {model_name} already exists in {models_dir}; choose another name, or replace "
            "it (replace=True).",
        )
    Path(models_dir).mkdir(parents=True, exist_ok=True)
    size = sum((source / f).stat().st_size for f in files)
    free = free_bytes(Path(models_dir))
    if size > free:
        raise ModelStoreError(
            "disk_full",
            f"Not enough disk space: {model_name} needs {size_text(size)}, {models_dir} has {size_text(free)} free.",
        )

    staging = Path(tempfile.mkdtemp(prefix=f".import-{model_name}-", dir=models_dir))
    try:
        for file in files:
            shutil.copy2(source / file, staging / file)
        _check_loads(staging, shown=source)
        staging.chmod(0o755)  # mkdtemp makes it private; the server may run as another user
        if target.exists() or target.is_symlink():
            old = Path(models_dir) / f".replaced-{model_name}-{uuid.uuid4().hex[:8]}"
            os.rename(target, old)
            os.rename(staging, target)
            if old.is_symlink():
                old.unlink()
            else:
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, target)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ModelStoreError(
                "disk_full", f"The disk holding {models_dir} filled up while copying."
            ) from exc
        if isinstance(exc, OSError):
            raise ModelStoreError("io", f"Copying {source} to {target} failed: {exc}") from exc
        raise
    return target


def _model_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file() and is_wanted(p.name))


def _check_files(folder: Path, files: list[str]) -> None:
    """Name every missing file at once. Both tokenizer files are needed: CTranslate2 will not load without
    ``vocabulary.*``, and faster-whisper without ``tokenizer.json`` fetches one from the hub at each load,
    which fails offline and is a download no operator asked for."""
    missing = [f for f in ("model.bin", "config.json", "tokenizer.json") if f not in files]
    if not any(f.startswith("vocabulary.") for f in files):
        missing.append("vocabulary.* (vocabulary.json or vocabulary.txt)")
    if missing:
        raise ModelStoreError(
            "not_a_model",
            f"{folder} is not a complete CTranslate2 Whisper model: missing {', '.join(missing)}. Copy the "
            "whole faster-whisper model folder, or convert a Whisper model with ct2-transformers-converter "
            "(--copy_files tokenizer.json).",
        )
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelStoreError("not_a_model", f"{folder / 'config.json'} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise ModelStoreError("not_a_model", f"{folder / 'config.json'} is JSON but not an object.")


def _check_loads(folder: Path, *, shown: Path) -> None:
    """Load the model the way the server will (CPU, int8) and read the two properties it relies on."""
    try:
        import ctranslate2

        model = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="int8")
        try:
            multilingual, n_mels = model.is_multilingual, model.n_mels
        finally:
            del model
    except Exception as exc:
        raise ModelStoreError(
            "not_a_model",
            f"{shown} does not load as a CTranslate2 Whisper model: {type(exc).__name__}: {exc}",
        ) from exc
    if not isinstance(multilingual, bool) or not isinstance(n_mels, int) or n_mels <= 0:
        raise ModelStoreError(
            "not_a_model", f"{shown} loads but does not look like Whisper (n_mels={n_mels!r})."
        )
