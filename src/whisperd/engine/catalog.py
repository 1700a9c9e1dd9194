"""Which models are on this machine: resolve a name to a CTranslate2 folder, and list what is present.

A name resolves, in order, to an installed model pack, a sub-folder of a model folder (the configured
ones, then ``<cache>/models`` where ``whisperd models import`` puts models), then a snapshot in the hub
cache (where ``whisperd models pull`` puts them). Nothing here downloads: a client can only use what is
present, and models arrive only through the operator's commands (:mod:`whisperd.engine.hub`,
:mod:`whisperd.engine.importer`).

Clients arriving from other servers send hub ids (``Systran/faster-whisper-base``); those resolve to the
short name whose weights they are, when that model is present. A *client* may only send a name or such
an id; only the operator may name an arbitrary folder path, so no request can make the server read
outside the model folders. Everything here is file-system work that never loads a model, and resolving
an unknown name creates no state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from whisperd.engine.capabilities import vocabulary_file
from whisperd.engine.hub import HUB_REPOS
from whisperd.engine.packs import PackError, installed_packs, materialize

__all__ = ["CatalogEntry", "ModelCatalog", "ModelUnavailable", "canonical_name", "is_safe_name"]

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MODEL_FILES = ("model.bin", "config.json")

# Hub ids clients send for the weights a short name stands for: faster-whisper's own repositories and
# OpenAI's original ones (the same model, converted), compared without regard to case.
_NAMES_BY_REPO: dict[str, str] = {
    **{f"openai/whisper-{name}": name for name in HUB_REPOS if not name.startswith("distil")},
    **{repo.lower(): name for name, repo in HUB_REPOS.items() if name not in {"large", "turbo"}},
}


class ModelUnavailable(LookupError):
    """The name is unknown here, or known but cannot be had (not present, broken pack)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """A model that can be loaded, and where it comes from (shown by ``whisperd models``)."""

    name: str
    origin: str
    path: Path | None
    """None for a split pack that is not assembled yet (listing never assembles)."""
    size_bytes: int = 0
    """Size of the weights on disk (0 when not known without assembling)."""


def is_safe_name(name: str) -> bool:
    """A plain model name: no separators, no '..', nothing that could walk out of a folder."""
    return bool(_SAFE_NAME.fullmatch(name)) and ".." not in name


def canonical_name(requested: str) -> str | None:
    """The short name a client's model name means: itself, or the name of a hub id; None if neither.

    Pure: no file-system access, so a request's model field is validated before anything else happens.
    """
    if is_safe_name(requested):
        return requested
    return _NAMES_BY_REPO.get(requested.lower())


def _is_model_folder(path: Path) -> bool:
    return path.is_dir() and all((path / f).is_file() for f in _MODEL_FILES)


def _weights_size(folder: Path) -> int:
    try:
        return (folder / "model.bin").stat().st_size
    except OSError:
        return 0


class ModelCatalog:
    """Resolves names to model folders. Pure file-system work; never loads or downloads a model."""

    def __init__(self, cache_dir: Path, model_dirs: list[Path]) -> None:
        self._cache_dir = cache_dir
        self._model_dirs = [*model_dirs, self.imported_dir]

    @property
    def hub_cache(self) -> Path:
        """Where ``whisperd models pull`` downloads (huggingface_hub's cache layout)."""
        return self._cache_dir / "hub"

    @property
    def imported_dir(self) -> Path:
        """Where ``whisperd models import`` copies model folders."""
        return self._cache_dir / "models"

    @property
    def cache_dir(self) -> Path:
        return self._cache_dir

    def entries(self) -> list[CatalogEntry]:
        """Every model present, first source of each name wins. Cheap: reads folders, assembles nothing."""
        found: dict[str, CatalogEntry] = {}
        for spec in installed_packs():
            found.setdefault(spec.model, CatalogEntry(spec.model, f"pack {spec.pack}", None, spec.size_bytes))
        for folder in self._model_dirs:
            if folder.is_dir():
                for child in sorted(folder.iterdir()):
                    if is_safe_name(child.name) and _is_model_folder(child):
                        found.setdefault(
                            child.name,
                            CatalogEntry(child.name, f"folder {folder}", child, _weights_size(child)),
                        )
        for name in sorted(HUB_REPOS):
            snapshot = self._hub_snapshot(name)
            if snapshot is not None:
                found.setdefault(name, CatalogEntry(name, "hub cache", snapshot, _weights_size(snapshot)))
        return list(found.values())

    def find(self, requested: str) -> CatalogEntry:
        """The model ``requested`` names, if present, without assembling anything (cheap: a few stats).

        Raises :class:`ModelUnavailable` for a name that is malformed or names nothing present here.
        """
        name = canonical_name(requested)
        if name is None:
            raise ModelUnavailable(
                requested,
                "Model names may only contain letters, digits, '.', '_' and '-' (or be a known hub id).",
            )
        for spec in installed_packs():
            if spec.model == name:
                return CatalogEntry(name, f"pack {spec.pack}", None, spec.size_bytes)
        for folder in self._model_dirs:
            if _is_model_folder(folder / name):
                return CatalogEntry(name, f"folder {folder}", folder / name, _weights_size(folder / name))
        snapshot = self._hub_snapshot(name)
        if snapshot is not None:
            return CatalogEntry(name, "hub cache", snapshot, _weights_size(snapshot))
        if name in HUB_REPOS:
            raise ModelUnavailable(
                requested, f"It is not installed here; the operator can run `whisperd models pull {name}`."
            )
        raise ModelUnavailable(requested, "No model pack or model folder has that name.")

    def vocabulary(self, entry: CatalogEntry) -> Path | None:
        """The vocabulary file of ``entry``, found without assembling it (a pack's, in its package)."""
        if entry.path is not None:
            return vocabulary_file(entry.path)
        for spec in installed_packs():
            if spec.model == entry.name:
                return spec.vocabulary
        return None

    def resolve(self, requested: str, *, allow_path: bool = False) -> CatalogEntry:
        """The folder of the model ``requested`` names, a split pack assembled (once) if need be.

        ``allow_path`` admits an absolute or relative folder path: for the operator's own settings only.
        """
        if (
            allow_path
            and ("/" in requested or requested.startswith("."))
            and _is_model_folder(Path(requested))
        ):
            path = Path(requested).resolve()
            return CatalogEntry(path.name, "folder", path, _weights_size(path))
        entry = self.find(requested)
        if entry.path is not None:
            return entry
        errors: list[str] = []
        for spec in installed_packs():
            if spec.model == entry.name:
                try:
                    folder = materialize(spec, self._cache_dir)
                except (PackError, OSError) as exc:
                    errors.append(str(exc))
                    continue
                return CatalogEntry(entry.name, f"pack {spec.pack}", folder, _weights_size(folder))
        raise ModelUnavailable(requested, " ".join(errors))

    def _hub_snapshot(self, name: str) -> Path | None:
        """The complete snapshot of ``name``'s repository in the hub cache, read as huggingface_hub does."""
        repo = HUB_REPOS.get(name)
        if repo is None:
            return None
        storage = self.hub_cache / ("models--" + repo.replace("/", "--"))
        try:
            commit = (storage / "refs" / "main").read_text().strip()
        except OSError:
            return None
        snapshot = storage / "snapshots" / commit
        return snapshot if commit and _is_model_folder(snapshot) else None
