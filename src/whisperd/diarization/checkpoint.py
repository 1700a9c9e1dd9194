"""Reading a PyTorch state dict without torch: a restricted unpickler that can build nothing but tensors.

A ``.pt`` file (``torch.save``'s zip format) is a pickle plus one raw little-endian buffer per tensor.
Unpickling runs whatever the pickle names, so :class:`_StateDictUnpickler` allows only the tensor-rebuild
function, the storage classes and ``OrderedDict`` (``os.system``, ``builtins.eval`` and every other name
are refused), and the file's sha256 is checked before it is opened at all: only the pinned checkpoint is
ever unpickled.
"""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
import numpy.typing as npt

__all__ = ["WeightsError", "file_sha256", "load_torch_state_dict"]


class WeightsError(ValueError):
    """The weights file is missing, is not the expected checkpoint, or holds something other than tensors."""


# Storage classes a state dict pickle names (legacy typed storages, what torch.save still writes) -> dtype.
_STORAGE_DTYPES: Final[dict[str, np.dtype[Any]]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype[Any]


def _rebuild_tensor_v2(
    storage: npt.NDArray[Any],
    storage_offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    requires_grad: bool = False,
    backward_hooks: object = None,
    metadata: object = None,
) -> npt.NDArray[Any]:
    """Stand-in for torch._utils._rebuild_tensor_v2: a strided view into the storage, copied to own its memory."""
    del requires_grad, backward_hooks, metadata
    count = int(np.prod(size)) if size else 1
    extent = storage_offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) + 1 if count else 0
    if storage_offset < 0 or any(s < 0 for s in stride) or extent > storage.size:
        raise WeightsError(f"tensor of shape {size} with stride {stride} runs past its storage")
    if count == 0:
        return np.zeros(size, dtype=storage.dtype)
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[storage_offset:], shape=size, strides=tuple(s * item for s in stride), writeable=False
    )
    return np.array(view, copy=True)


class _StateDictUnpickler(pickle.Unpickler):
    """Builds only what a state dict needs; any other global (os.system, builtins.eval, ...) is refused."""

    def __init__(self, file: IO[bytes], load_storage: Callable[[str, np.dtype[Any], int], npt.NDArray[Any]]):
        super().__init__(file)
        self._load_storage = load_storage
        self._storages: dict[str, npt.NDArray[Any]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        raise WeightsError(f"refusing to load {module}.{name} from a weights file")

    def persistent_load(self, pid: Any) -> Any:
        # ('storage', storage_type, key, location, numel): the tensor bytes live in the zip's data/<key> entry.
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise WeightsError(f"unexpected persistent id in weights file: {pid!r}")
        _, storage_type, key, _location, numel = pid
        if (
            not isinstance(storage_type, _StorageType)
            or not isinstance(key, str)
            or not isinstance(numel, int)
        ):
            raise WeightsError(f"unexpected storage record in weights file: {pid!r}")
        if key not in self._storages:
            self._storages[key] = self._load_storage(key, storage_type.dtype, numel)
        return self._storages[key]


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks so a large file never sits in memory whole."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_torch_state_dict(
    path: str | Path, *, sha256: str | None, size: int | None = None
) -> dict[str, npt.NDArray[Any]]:
    """Read a torch.save()d state dict (zip format) into numpy arrays, without importing torch.

    The sha256 check comes first so that only the known checkpoint is ever unpickled; pass sha256=None to read
    another file (the restricted unpickler still refuses anything but tensors).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    if sha256 is not None:
        if size is not None and path.stat().st_size != size:
            raise WeightsError(
                f"{path}: {path.stat().st_size} bytes, not the checkpoint's {size} (sha256 fails)"
            )
        actual = file_sha256(path)
        if actual != sha256.lower():
            raise WeightsError(f"{path}: sha256 {actual} is not the expected {sha256}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
            if len(pickles) != 1:
                raise WeightsError(f"{path}: not a torch zip checkpoint (no single <name>/data.pkl)")
            prefix = pickles[0][: -len("data.pkl")]
            big_endian = (
                f"{prefix}byteorder" in names and archive.read(f"{prefix}byteorder").strip() == b"big"
            )

            def load_storage(key: str, dtype: np.dtype[Any], numel: int) -> npt.NDArray[Any]:
                member = f"{prefix}data/{key}"
                if member not in names:
                    raise WeightsError(f"{path}: missing tensor data {member}")
                raw = archive.read(member)
                order = dtype.newbyteorder(">") if big_endian else dtype
                if len(raw) != numel * dtype.itemsize:
                    raise WeightsError(
                        f"{path}: {member} holds {len(raw)} bytes, expected {numel * dtype.itemsize}"
                    )
                return np.frombuffer(raw, dtype=order).astype(dtype)

            with archive.open(pickles[0]) as f:
                obj = _StateDictUnpickler(f, load_storage).load()
    except WeightsError:
        raise
    except (
        zipfile.BadZipFile,
        pickle.UnpicklingError,
        EOFError,
        TypeError,
        ValueError,
        AttributeError,
    ) as exc:
        # A malformed pickle (wrong argument types or counts for the few allowed callables) lands here too.
        raise WeightsError(f"{path}: unreadable weights file: {exc}") from exc
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items()
    ):
        raise WeightsError(f"{path}: not a state dict of tensors")
    return dict(obj)
