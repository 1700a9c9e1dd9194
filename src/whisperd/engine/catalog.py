"""Which models exist here: resolve a model name to a CTranslate2 folder, and list what is available.

Order of resolution for a name: an installed model pack, a sub-folder of a configured model folder, the
hub cache, then (when allowed and online) a hub download. A *client* may only send a name; only the
operator may name an arbitrary folder path, so no request can make the server read outside the model
folders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from whisperd.engine.packs import PackError, installed_packs, materialize

__all__ = ["HUB_MODELS", "CatalogEntry", "ModelCatalog", "ModelUnavailable", "is_safe_name"]

# The names faster-whisper can fetch from the hub (faster_whisper.utils._MODELS), kept here so that
# listing and validating names never imports faster_whisper.
HUB_MODELS: frozenset[str] = frozenset({
    "tiny.en", "tiny", "base.en", "base", "small.en", "small", "medium.en", "medium", "large-v1",
    "large-v2", "large-v3", "large", "distil-large-v2", "distil-medium.en", "distil-small.en",
    "distil-large-v3", "distil-large-v3.5", "large-v3-turbo", "turbo",
})  # fmt: skip

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MODEL_FILES = ("model.bin", "config.json")


class ModelUnavailable(LookupError):
    """The name is unknown here, or known but cannot be had (offline, broken pack)."""

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
    """None for a hub model that is not downloaded yet."""


def is_safe_name(name: str) -> bool:
    """A plain model name: no separators, no '..', nothing that could walk out of a folder."""
    return bool(_SAFE_NAME.fullmatch(name)) and ".." not in name


def _is_model_folder(path: Path) -> bool:
    return path.is_dir() and all((path / f).is_file() for f in _MODEL_FILES)


class ModelCatalog:
    """Resolves names to model folders. Pure file-system work; never loads a model."""

    def __init__(self, cache_dir: Path, model_dirs: list[Path], allow_download: bool) -> None:
        self._cache_dir = cache_dir
        self._model_dirs = model_dirs
        self._allow_download = allow_download

    @property
    def hub_cache(self) -> Path:
        return self._cache_dir / "hub"

    def entries(self) -> list[CatalogEntry]:
        """Every model available without a download, first source of each name wins."""
        found: dict[str, CatalogEntry] = {}
        for spec in installed_packs():
            found.setdefault(spec.model, CatalogEntry(spec.model, f"pack {spec.pack}", None))
        for folder in self._model_dirs:
            if folder.is_dir():
                for child in sorted(folder.iterdir()):
                    if is_safe_name(child.name) and _is_model_folder(child):
                        found.setdefault(child.name, CatalogEntry(child.name, f"folder {folder}", child))
        for name in sorted(HUB_MODELS):
            cached = self._cached_hub_folder(name)
            if cached is not None:
                found.setdefault(name, CatalogEntry(name, "hub cache", cached))
        return list(found.values())

    def resolve(self, name: str, *, allow_path: bool = False) -> CatalogEntry:
        """Find (and, for a split pack, assemble) the folder of ``name``; may download from the hub.

        ``allow_path`` admits an absolute or relative folder path: for the operator's own settings only.
        """
        if allow_path and ("/" in name or name.startswith(".")) and _is_model_folder(Path(name)):
            path = Path(name).resolve()
            return CatalogEntry(path.name, "folder", path)
        if not is_safe_name(name):
            raise ModelUnavailable(name, "Model names may only contain letters, digits, '.', '_' and '-'.")
        errors: list[str] = []
        for spec in installed_packs():
            if spec.model == name:
                try:
                    return CatalogEntry(name, f"pack {spec.pack}", materialize(spec, self._cache_dir))
                except (PackError, OSError) as exc:
                    errors.append(str(exc))
        for folder in self._model_dirs:
            if _is_model_folder(folder / name):
                return CatalogEntry(name, f"folder {folder}", folder / name)
        if name in HUB_MODELS:
            cached = self._cached_hub_folder(name)
            if cached is not None:
                return CatalogEntry(name, "hub cache", cached)
            if self._allow_download:
                return CatalogEntry(name, "hub", self._download(name))
            errors.append("It is not installed and downloads are disabled (WHISPERD_ALLOW_DOWNLOAD=false).")
        raise ModelUnavailable(
            name, " ".join(errors) or "No model pack, model folder or hub model has that name."
        )

    def _cached_hub_folder(self, name: str) -> Path | None:
        try:
            return self._hub_download(name, local_files_only=True)
        except Exception:
            return None

    def _download(self, name: str) -> Path:
        try:
            return self._hub_download(name, local_files_only=False)
        except Exception as exc:
            raise ModelUnavailable(
                name, f"Download from the model hub failed ({type(exc).__name__})."
            ) from exc

    def _hub_download(self, name: str, *, local_files_only: bool) -> Path:
        from faster_whisper.utils import download_model  # heavy; only when a hub model is wanted

        if local_files_only and not self.hub_cache.is_dir():
            raise FileNotFoundError(name)
        folder = download_model(name, cache_dir=str(self.hub_cache), local_files_only=local_files_only)
        return Path(folder)
