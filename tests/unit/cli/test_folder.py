"""The folder walker: which files, where their outputs go, what is skipped, and whole writes."""

from __future__ import annotations

import io
from pathlib import Path

from whisperd.cli.folder import plan_folder, run_folder
from whisperd.cli.progress import Progress


def _tree(root: Path) -> Path:
    (root / "in" / "sub").mkdir(parents=True)
    for name in ("a.mp3", "b.OGG", "sub/c.wav", "notes.txt"):
        (root / "in" / name).write_bytes(b"x")
    return root / "in"


def test_plan_finds_audio_and_mirrors_folders(tmp_path: Path) -> None:
    folder = _tree(tmp_path)
    out = tmp_path / "out"
    flat = plan_folder([folder], out, ".srt", recursive=False)
    assert [(p.name, t.relative_to(out).as_posix()) for p, t in flat.pending] == [
        ("a.mp3", "a.srt"),
        ("b.OGG", "b.srt"),
    ]
    deep = plan_folder([folder], out, ".srt", recursive=True)
    assert [t.relative_to(out).as_posix() for _, t in deep.pending] == ["a.srt", "b.srt", "sub/c.srt"]


def test_a_run_resumes_and_reports_failures(tmp_path: Path) -> None:
    folder = _tree(tmp_path)
    out = tmp_path / "out"

    def transcribe(path: Path) -> bytes:
        if path.name == "b.OGG":
            raise RuntimeError("undecodable")
        return f"text of {path.name}".encode()

    quiet = Progress(io.StringIO(), "files", enabled=False)
    plan = plan_folder([folder], out, ".txt", recursive=True)
    result = run_folder(plan, transcribe, concurrency=2, seconds_of=lambda _: 1.0, progress=quiet)
    assert sorted(t.name for t in result.written) == ["a.txt", "c.txt"]
    assert [(p.name, why) for p, why in result.failed] == [("b.OGG", "undecodable")]
    assert (out / "sub" / "c.txt").read_text() == "text of c.wav\n"
    assert not list(out.rglob(".*.partial"))
    again = plan_folder([folder], out, ".txt", recursive=True)
    assert [p.name for p, _ in again.pending] == ["b.OGG"]  # only what is not done yet
    assert sorted(p.name for p in again.done) == ["a.mp3", "c.wav"]
