"""The pure parts of folder runs and job lines: which files, which outputs, which keys."""

from __future__ import annotations

import os
from pathlib import Path

from whisperd.cli.folder import Item, collect, idempotency_key, plan, run_concurrent, write_atomically
from whisperd.cli.jobs import job_line
from whisperd.cli.jobs_api import metadata_field


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_media_files_are_collected_with_the_paths_their_outputs_mirror(tmp_path: Path) -> None:
    root = tmp_path / "in"
    for name in (
        "b.MP3",
        "a.ogg",
        "notes.txt",
        "sub/c.wav",
        "sub/deeper/d.webm",
        ".hidden/e.wav",
        "sub/.f.wav",
    ):
        _touch(root / name)
    alone = _touch(tmp_path / "single.flac")
    assert collect([root], recursive=False) == [
        (root / "a.ogg", Path("a.ogg")),
        (root / "b.MP3", Path("b.MP3")),
    ]
    deep = collect([root, alone], recursive=True)
    assert [str(relative) for _, relative in deep] == [
        "a.ogg",
        "b.MP3",
        "sub/c.wav",
        "sub/deeper/d.webm",
        "single.flac",
    ]


def test_outputs_never_collide_and_stay_the_same_between_runs(tmp_path: Path) -> None:
    found = [
        (Path("in/a.ogg"), Path("a.ogg")),
        (Path("in/a.mp3"), Path("a.mp3")),
        (Path("in/x/a.ogg"), Path("x/a.ogg")),
    ]
    out = tmp_path / "out"
    targets = [item.target for item in plan(found, out, ".srt")]
    assert targets == [out / "a.srt", out / "a.mp3.srt", out / "x" / "a.srt"]
    assert [item.target for item in plan(found, out, ".srt")] == targets
    assert plan(found, out, ".srt")[0] == Item(Path("in/a.ogg"), out / "a.srt")


def test_the_idempotency_key_follows_the_file_and_the_options(tmp_path: Path) -> None:
    path = _touch(tmp_path / "a.wav")
    key = idempotency_key(path, {"response_format": "srt"})
    assert key == idempotency_key(path, {"response_format": "srt"})
    assert key != idempotency_key(path, {"response_format": "vtt"})
    os.utime(path, ns=(1, 1))
    assert key != idempotency_key(path, {"response_format": "srt"}), "a changed file is a new job"
    assert len(key) <= 255


def test_outputs_are_written_whole(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "a.txt"
    write_atomically(target, b"text")
    assert target.read_bytes() == b"text\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.txt"]


def test_job_lines_and_metadata() -> None:
    job = {
        "id": "job_1",
        "status": "running",
        "progress": {"seconds": 723.0, "fraction": 0.41},
        "duration": 1770.0,
        "filename": "talk.ogg",
        "error": None,
    }
    assert job_line(job) == "job_1  running     41%  12:03 of 29:30  talk.ogg"
    failed = {
        **job,
        "status": "failed",
        "progress": {"seconds": 0, "fraction": None},
        "error": {"message": "bad"},
    }
    assert job_line(failed).endswith("talk.ogg  (bad)")
    assert metadata_field(["a=1", "b=x=y"]) == '{"a": "1", "b": "x=y"}'
    assert metadata_field([]) is None


def test_a_concurrent_run_resumes_and_reports_failures(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    for name in ("a.mp3", "b.OGG", "sub/c.wav", "notes.txt"):
        _touch(folder / name)
    out = tmp_path / "out"

    def transcribe(path: Path) -> bytes:
        if path.name == "b.OGG":
            raise RuntimeError("undecodable")
        return f"text of {path.name}".encode()

    items = plan(collect([folder], recursive=True), out, ".txt")
    run = run_concurrent(items, transcribe, concurrency=2, durations=lambda _: 1.0, terminal=False)
    assert (run.done, run.skipped) == (2, 0)
    assert [(p.name, why) for p, why in run.failed] == [("b.OGG", "undecodable")]
    assert (out / "sub" / "c.txt").read_text() == "text of c.wav\n"
    assert not list(out.rglob(".*.partial"))
    again = run_concurrent(items, transcribe, concurrency=2, durations=lambda _: 1.0, terminal=False)
    assert (again.done, again.skipped, len(again.failed)) == (0, 2, 1)  # only what was not done
