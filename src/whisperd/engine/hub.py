"""How a model arrives from the Hugging Face hub: ``whisperd models pull``, the operator's command.

Clients may only use models that are already here (model packs, model folders, the hub cache): a request
can never start a download, so one client cannot fill the disk or make the server wait minutes on the
network. Models arrive only through the two operator commands built on this module:

* :func:`pull` (here) downloads a CTranslate2 Whisper model from the Hugging Face hub into
  ``cache_dir / "hub"``, in huggingface_hub's own cache layout, where the catalogue (and faster-whisper's
  ``download_model(..., local_files_only=True)``) finds it.
* :func:`whisperd.engine.importer.import_folder` copies a model folder the operator already has (from a
  USB stick, another machine, a converted model) into a model folder, after proving that it loads.

Both leave either a complete, checked model or nothing: a failed pull removes what it wrote, a failed
import never shows its half-copied folder. Every failure is one exception type, :class:`ModelStoreError`,
whose message says what to do next, because the operator reads it on a terminal.

No web framework here, and huggingface_hub / ctranslate2 are imported inside the functions: listing or
validating names must stay cheap for the server, which imports this module but never downloads.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from huggingface_hub.hf_api import RepoSibling

__all__ = [
    "ALLOW_PATTERNS",
    "HUB_REPOS",
    "OFFLINE_HINT",
    "ErrorKind",
    "ModelStoreError",
    "ProgressCallback",
    "free_bytes",
    "is_wanted",
    "pull",
    "resolve_repo",
    "size_text",
]

# A copy of faster_whisper.utils._MODELS (faster-whisper 1.2.1): a private name, so it is not imported, and
# resolving a short name must not import faster_whisper (and with it huggingface_hub, tqdm, av, ...).
HUB_REPOS: Mapping[str, str] = MappingProxyType({
    "tiny.en": "Systran/faster-whisper-tiny.en",
    "tiny": "Systran/faster-whisper-tiny",
    "base.en": "Systran/faster-whisper-base.en",
    "base": "Systran/faster-whisper-base",
    "small.en": "Systran/faster-whisper-small.en",
    "small": "Systran/faster-whisper-small",
    "medium.en": "Systran/faster-whisper-medium.en",
    "medium": "Systran/faster-whisper-medium",
    "large-v1": "Systran/faster-whisper-large-v1",
    "large-v2": "Systran/faster-whisper-large-v2",
    "large-v3": "Systran/faster-whisper-large-v3",
    "large": "Systran/faster-whisper-large-v3",
    "distil-large-v2": "Systran/faster-distil-whisper-large-v2",
    "distil-medium.en": "Systran/faster-distil-whisper-medium.en",
    "distil-small.en": "Systran/faster-distil-whisper-small.en",
    "distil-large-v3": "Systran/faster-distil-whisper-large-v3",
    "distil-large-v3.5": "distil-whisper/distil-large-v3.5-ct2",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
})  # fmt: skip

# The files faster_whisper.utils.download_model fetches. Pulling exactly these (and no more) is what makes
# its later local_files_only lookup see a complete snapshot, and keeps README/.gitattributes/etc. out.
ALLOW_PATTERNS: tuple[str, ...] = (
    "config.json",
    "preprocessor_config.json",
    "model.bin",
    "tokenizer.json",
    "vocabulary.*",
)

ProgressCallback = Callable[[int, int], None]
"""Called as ``callback(bytes_done, bytes_to_download)`` from download threads while a pull runs."""

ErrorKind = Literal[
    "bad_name", "offline", "not_found", "gated", "unauthorized", "hub_error", "disk_full", "checksum",
    "not_a_model", "exists", "io",
]  # fmt: skip

OFFLINE_HINT = "on a machine without internet, install a model pack or use `whisperd models import FOLDER`"

_DEFAULT_ENDPOINT = "https://huggingface.co"
_REVISION = "main"  # faster-whisper never passes a revision, so its lookup reads refs/main
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20
# huggingface_hub names the progress bar that counts bytes written for the whole snapshot like this.
_SNAPSHOT_BYTES_BAR = "huggingface_hub.snapshot_download"


class ModelStoreError(RuntimeError):
    """Why a pull or an import failed, worded for the operator; ``kind`` is for programs (exit codes)."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind


def resolve_repo(name_or_repo: str) -> str:
    """The hub repository of a faster-whisper short name, or the argument itself if it is ``owner/name``."""
    if name_or_repo in HUB_REPOS:
        return HUB_REPOS[name_or_repo]
    if name_or_repo.count("/") == 1 and all(name_or_repo.split("/")):
        return name_or_repo
    raise ModelStoreError(
        "bad_name",
        f"{name_or_repo!r} is neither a faster-whisper model name ({', '.join(HUB_REPOS)}) nor a hub "
        "repository id such as Systran/faster-whisper-small.",
    )


def pull(
    name_or_repo: str,
    cache_dir: Path,
    *,
    progress: bool | ProgressCallback = False,
    timeout: float = 10.0,
) -> Path:
    """Download a CTranslate2 Whisper model into ``cache_dir / "hub"``, check every file, return its folder.

    ``progress``: True shows huggingface_hub's progress bars (on a terminal only; tqdm hides them when
    stderr is not one), False shows nothing, a callable receives ``(bytes_done, bytes_to_download)``.
    ``timeout`` bounds each metadata request, so an unreachable hub fails in seconds, not minutes.

    HF_ENDPOINT (a mirror) and HF_TOKEN (private or gated repositories) are honoured as huggingface_hub
    does; HF_ENDPOINT is read at each call, because huggingface_hub reads it only once, at import.

    Order of work, and why:

    1. ``model_info(files_metadata=True)`` on ``main``: the commit, the file list, sizes and checksums. It
       comes first so that offline / unknown / gated / disk-full fail before anything is written.
    2. ``snapshot_download`` of that exact commit with faster-whisper's ``allow_patterns``; pinning the
       commit means the checksums from step 1 describe exactly the files downloaded.
    3. Every file is hashed and compared with the hub's metadata (sha256 for LFS files, the git blob id for
       the others): huggingface_hub itself only compares sizes. A mismatch deletes the file and raises.
    4. Only then ``refs/main`` is pointed at the commit; until then a lookup still sees the previous
       version, or nothing, never an unchecked one.

    On any failure everything this call added to the cache is removed again (huggingface_hub already
    deletes its ``.incomplete`` temporary files). Files that were there before are kept unless corrupt.
    """
    repo_id = resolve_repo(name_or_repo)
    hub = Path(cache_dir) / "hub"
    endpoint = os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or None
    host = urlsplit(endpoint or _DEFAULT_ENDPOINT).hostname or endpoint or _DEFAULT_ENDPOINT
    try:
        from huggingface_hub import HfApi
        from huggingface_hub.file_download import repo_folder_name

        info = HfApi(endpoint=endpoint).model_info(
            repo_id, revision=_REVISION, files_metadata=True, timeout=timeout
        )
    except Exception as exc:
        raise _translate(exc, repo_id, host, hub) from exc

    commit = info.sha or ""
    if not _COMMIT.fullmatch(commit):
        raise ModelStoreError(
            "hub_error", f"The hub at {host} sent no commit id for {repo_id}; is HF_ENDPOINT a hub?"
        )
    siblings = {s.rfilename: s for s in info.siblings or []}
    files = sorted(f for f in siblings if is_wanted(f))
    if "model.bin" not in files or "config.json" not in files:
        raise ModelStoreError(
            "not_a_model",
            f"{repo_id} has no model.bin and config.json at its top level, so it is not a "
            "CTranslate2 Whisper model. faster-whisper needs a converted model, e.g. "
            "Systran/faster-whisper-small.",
        )

    storage = hub / repo_folder_name(repo_id=repo_id, repo_type="model")
    to_download = sum(
        siblings[f].size or 0 for f in files if not (storage / "blobs" / _blob_name(siblings[f])).exists()
    )
    free = free_bytes(hub)
    if to_download > free:
        raise ModelStoreError(
            "disk_full",
            f"Not enough disk space for {repo_id}: it needs {size_text(to_download)}, {hub} has {size_text(free)} free. "
            "Free some space or set another cache folder.",
        )

    undo = _Undo.capture(hub, storage, commit)
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(
            repo_id,
            revision=commit,
            cache_dir=str(hub),
            allow_patterns=list(ALLOW_PATTERNS),
            tqdm_class=None if progress is True else _bar_class(progress or None, to_download),
            endpoint=endpoint,
            etag_timeout=timeout,
        )
        snapshot = Path(folder)
        for name in files:
            _verify(snapshot / name, siblings[name], repo_id)
        _write_ref(storage, _REVISION, commit)
    except BaseException as exc:
        undo.run()
        if isinstance(exc, ModelStoreError) or not isinstance(exc, Exception):
            raise
        raise _translate(exc, repo_id, host, hub) from exc
    if callable(progress):
        progress(to_download, to_download)
    return snapshot


def is_wanted(filename: str) -> bool:
    """Whether faster-whisper downloads this file (fnmatch, as huggingface_hub matches patterns)."""
    return any(fnmatch.fnmatch(filename, pattern) for pattern in ALLOW_PATTERNS)


def _blob_name(sibling: RepoSibling) -> str:
    """The name huggingface_hub gives the blob: the ETag, i.e. sha256 for LFS files, git blob id otherwise."""
    if sibling.lfs is not None:
        return sibling.lfs.sha256
    return sibling.blob_id or "-"


def size_text(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def free_bytes(path: Path) -> int:
    """Free space where ``path`` is or will be created (its nearest existing parent)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return shutil.disk_usage(Path.cwd()).free


def _bar_class(callback: ProgressCallback | None, total: int) -> type[Any]:
    """A silent tqdm class for snapshot_download that forwards the snapshot byte count to ``callback``.

    snapshot_download creates several bars from ``tqdm_class``; only the one named
    ``huggingface_hub.snapshot_download`` counts bytes written for all files, so only it reports. Updates
    come from the download threads, hence the lock. ``total`` is known in advance from the hub metadata,
    so the callback gets a fixed denominator instead of one that grows as each file starts.
    """
    from huggingface_hub.utils.tqdm import tqdm as hf_tqdm

    class _Bar(hf_tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._report = callback is not None and kwargs.get("name") == _SNAPSHOT_BYTES_BAR
            self._done = 0
            self._lock = threading.Lock()
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]  # tqdm has no type hints

        def update(self, n: float | None = 1) -> bool | None:
            if self._report and callback is not None and n:
                with self._lock:
                    self._done += int(n)
                    done = self._done
                callback(min(done, total), total)
            return None

    return _Bar


def _verify(path: Path, sibling: RepoSibling, repo_id: str) -> None:
    """Compare one downloaded file with the hub's metadata; delete it (blob and link) if it differs."""
    blob = path.resolve()
    expected_size = sibling.lfs.size if sibling.lfs is not None else sibling.size
    if sibling.lfs is not None:
        algo, expected = "sha256", sibling.lfs.sha256
    elif sibling.blob_id:
        algo, expected = "git blob id", sibling.blob_id
    elif _SHA256.fullmatch(blob.name):  # no metadata: the ETag the download recorded as the blob's name
        algo, expected = "sha256", blob.name
    elif path.name == "model.bin":
        raise ModelStoreError(
            "checksum", f"The hub gave no checksum for model.bin of {repo_id}; not using it."
        )
    else:
        return
    actual_size = blob.stat().st_size
    actual = _sha256(blob) if algo == "sha256" else _git_blob_id(blob, actual_size)
    if actual == expected.lower() and (expected_size is None or actual_size == expected_size):
        return
    path.unlink(missing_ok=True)
    blob.unlink(missing_ok=True)
    raise ModelStoreError(
        "checksum",
        f"Checksum mismatch for {path.name} of {repo_id}: the hub says {algo} {expected} ({expected_size} "
        f"bytes), the download has {actual} ({actual_size} bytes). The corrupt file was deleted. "
        "Run the pull again; if it fails again, a proxy or the mirror in HF_ENDPOINT is altering downloads.",
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _git_blob_id(path: Path, size: int) -> str:
    """Git's object id of a file (sha1 of ``blob <size>\\0`` and the content): the hub's ``blobId``."""
    digest = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_ref(storage: Path, revision: str, commit: str) -> None:
    """Point ``refs/<revision>`` at ``commit`` the way huggingface_hub does: plain text, atomic replace."""
    ref = storage / "refs" / revision
    if ref.is_file() and ref.read_text() == commit:
        return
    ref.parent.mkdir(parents=True, exist_ok=True)
    tmp = ref.with_name(f"{ref.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(commit)
    os.replace(tmp, ref)


@dataclass(frozen=True)
class _Undo:
    """What the repository's cache folder held before a pull, to remove exactly what the pull added."""

    storage: Path
    locks: Path
    commit: str
    storage_existed: bool
    locks_existed: bool
    lock_files: frozenset[str]
    blobs: frozenset[str]
    snapshot_existed: bool
    tree_existed: bool

    @classmethod
    def capture(cls, hub: Path, storage: Path, commit: str) -> _Undo:
        blobs = storage / "blobs"
        locks = hub / ".locks" / storage.name
        return cls(
            storage=storage,
            locks=locks,
            commit=commit,
            storage_existed=storage.exists(),
            locks_existed=locks.exists(),
            lock_files=_names(locks),
            blobs=_names(blobs),
            snapshot_existed=(storage / "snapshots" / commit).exists(),
            tree_existed=(storage / "trees" / f"{commit}.json").exists(),
        )

    def run(self) -> None:
        """Best effort: a cleanup error must not hide the error that made the pull fail."""
        if not self.locks_existed:
            shutil.rmtree(self.locks, ignore_errors=True)
        else:
            for name in _names(self.locks) - self.lock_files:
                (self.locks / name).unlink(missing_ok=True)
        if not self.storage_existed:
            shutil.rmtree(self.storage, ignore_errors=True)
            return
        for name in _names(self.storage / "blobs") - self.blobs:
            (self.storage / "blobs" / name).unlink(missing_ok=True)
        if not self.snapshot_existed:
            shutil.rmtree(self.storage / "snapshots" / self.commit, ignore_errors=True)
        if not self.tree_existed:
            (self.storage / "trees" / f"{self.commit}.json").unlink(missing_ok=True)


def _names(folder: Path) -> frozenset[str]:
    return frozenset(p.name for p in folder.iterdir()) if folder.is_dir() else frozenset()


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it was raised from: huggingface_hub wraps network errors."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _translate(exc: Exception, repo_id: str, host: str, hub: Path) -> ModelStoreError:
    """Turn huggingface_hub / httpx2 / OS errors into one message that says what to do next."""
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, ModelStoreError):
        return exc
    if isinstance(exc, HFValidationError):
        return ModelStoreError("bad_name", f"{repo_id!r} is not a valid hub repository id: {exc}")
    for cause in _causes(exc):
        if isinstance(cause, OfflineModeIsEnabled):
            return ModelStoreError(
                "offline",
                f"Downloads are switched off (HF_HUB_OFFLINE is set); unset it to pull, or {OFFLINE_HINT}.",
            )
        if isinstance(cause, httpx2.TransportError):
            return ModelStoreError(
                "offline", f"Cannot reach the model hub ({host}): {_network_reason(cause)}; {OFFLINE_HINT}."
            )
        if isinstance(cause, GatedRepoError):
            return ModelStoreError(
                "gated",
                f"{repo_id} is a gated repository: accept its conditions at https://{host}/{repo_id} "
                "while logged in, then set HF_TOKEN to an access token of that account.",
            )
        if isinstance(cause, RevisionNotFoundError):
            return ModelStoreError("not_found", f"{repo_id} has no '{_REVISION}' branch on {host}.")
        if isinstance(cause, RepositoryNotFoundError):
            return ModelStoreError(
                "not_found",
                f"No model repository {repo_id} on {host} (or it is private and HF_TOKEN is unset or has no "
                f"access). Check the spelling; short names are: {', '.join(HUB_REPOS)}.",
            )
        if isinstance(cause, HfHubHTTPError):
            status = cause.response.status_code
            if status in (401, 403):
                return ModelStoreError(
                    "unauthorized",
                    f"The hub at {host} refused access to {repo_id} (HTTP {status}): check that "
                    "HF_TOKEN is a valid token with read access, or unset it for public models.",
                )
            when = "later (rate limited)" if status == 429 else "again later"
            return ModelStoreError(
                "hub_error", f"The hub at {host} answered HTTP {status} for {repo_id}; try {when}."
            )
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            return ModelStoreError(
                "disk_full", f"The disk holding {hub} is full: free some space and pull again."
            )
        if isinstance(cause, PermissionError):
            return ModelStoreError("io", f"Cannot write to the model cache {hub}: {cause}.")
        if isinstance(cause, OSError) and "Consistency check failed" in str(cause):
            return ModelStoreError(
                "checksum", f"A download of {repo_id} arrived incomplete (wrong size); pull again. ({cause})"
            )
    if isinstance(exc, OSError):
        return ModelStoreError("io", f"Pulling {repo_id} failed: {exc}")
    return ModelStoreError("hub_error", f"Pulling {repo_id} from {host} failed: {type(exc).__name__}: {exc}")


def _network_reason(exc: BaseException) -> str:
    import httpx2

    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx2.TimeoutException):
        return f"no answer in time ({type(exc).__name__})"
    lowered = text.lower()
    if any(
        s in lowered
        for s in ("name or service not known", "nodename nor servname", "getaddrinfo", "name resolution")
    ):
        return f"DNS lookup failed ({text})"
    if "refused" in lowered:
        return f"connection refused ({text})"
    return text
