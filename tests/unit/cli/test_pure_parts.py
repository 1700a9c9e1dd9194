"""The pure decisions behind ``whisperd transcribe`` and ``discover``: server address, output names,
progress lines, the list of servers found."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from whisperd.cli.client import DEFAULT_URL, api_key_from, server_root, server_url_from
from whisperd.cli.discover import format_servers
from whisperd.cli.progress import Progress, audio_line, bar, clock, upload_line
from whisperd.cli.transcribe import OutputNames
from whisperd.discovery.records import FoundServer


@pytest.mark.parametrize(
    ("given", "root"),
    [
        ("http://gpu-box:5000", "http://gpu-box:5000"),
        ("http://gpu-box:5000/", "http://gpu-box:5000"),
        ("http://gpu-box:5000/v1", "http://gpu-box:5000"),
        ("http://gpu-box:5000/v1/", "http://gpu-box:5000"),
        ("http://gpu-box:5000/v1/audio/transcriptions", "http://gpu-box:5000"),
        ("https://example.org/whisper/v1/audio/translations", "https://example.org/whisper"),
        ("gpu-box:5000", "http://gpu-box:5000"),
    ],
)
def test_server_root(given: str, root: str) -> None:
    assert server_root(given) == root


def test_server_url_precedence() -> None:
    both = {"WHISPER_API_URL": "http://a:1/v1/audio/transcriptions", "OPENAI_BASE_URL": "http://b:2/v1"}
    assert server_url_from("http://c:3", both) == "http://c:3"
    assert server_url_from(None, both) == "http://a:1"
    assert server_url_from(None, {"OPENAI_BASE_URL": "http://b:2/v1"}) == "http://b:2"
    assert server_url_from(None, {"WHISPER_API_URL": " "}) == DEFAULT_URL
    assert api_key_from({"WHISPER_API_KEY": "w", "OPENAI_API_KEY": "o"}) == "w"
    assert api_key_from({"OPENAI_API_KEY": "o"}) == "o"
    assert api_key_from({}) is None


def test_output_names_never_collide(tmp_path: Path) -> None:
    names = OutputNames(tmp_path, ".txt")
    assert names.path_for(Path("in/a.ogg")) == tmp_path / "a.txt"
    assert names.path_for(Path("in/a.mp3")) == tmp_path / "a.mp3.txt"
    assert names.path_for(Path("other/a.ogg")) == tmp_path / "a.ogg.txt"
    assert names.path_for(Path("third/a.ogg")) == tmp_path / "a-2.txt"


def test_an_output_never_replaces_its_input(tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"  # an audio file with an unusual name
    source.write_bytes(b"audio")
    assert OutputNames(tmp_path, ".txt").path_for(source) == tmp_path / "notes.txt.txt"


def test_progress_lines() -> None:
    assert clock(7) == "0:07"
    assert clock(725) == "12:05"
    assert clock(3723) == "1:02:03"
    assert bar(0.5, 4) == "[##--]"
    assert bar(2.0, 4) == "[####]"
    assert audio_line("a.ogg", 30, 120, 10) == (
        "a.ogg [######------------------] 30.0/120.0 s audio  3.0x real time  ETA 0:30"
    )
    assert audio_line("a.ogg", 0, 120, 0) == "a.ogg [------------------------] 0.0/120.0 s audio"
    assert upload_line("a.ogg", 2_000_000, 8_000_000, 2) == (
        "a.ogg uploading [######------------------] 2.0/8.0 MB  1.0 MB/s  ETA 0:06"
    )


def test_progress_draws_in_place_and_erases_itself() -> None:
    now = [0.0]
    stream = io.StringIO()
    progress = Progress(stream, "a.ogg", enabled=True, now=lambda: now[0])
    progress.audio(0, 60)
    now[0] = 0.01
    progress.audio(1, 60)  # too soon after the last redraw: skipped
    now[0] = 10.0
    progress.audio(30, 60)
    progress.audio(60, 60)  # the end is always drawn
    progress.close()
    frames = stream.getvalue().split("\r")
    assert frames[0] == ""
    assert [f.split(" s audio")[0].split()[-1] for f in frames[1:4]] == ["0.0/60.0", "30.0/60.0", "60.0/60.0"]
    assert frames[-1] == ""
    assert frames[-2].strip() == ""


def test_disabled_progress_writes_nothing() -> None:
    stream = io.StringIO()
    progress = Progress(stream, "a.ogg", enabled=False)
    progress.upload(1, 2)
    progress.audio(1, 2)
    progress.note("transcribing")
    progress.close()
    assert stream.getvalue() == ""


def test_servers_found_are_listed_in_columns() -> None:
    servers = [
        FoundServer("whisperd on gpu-box", "http://192.168.1.10:5000", "keys", ["base", "small"]),
        FoundServer("kitchen", "http://192.168.1.11:5000", "none", []),
    ]
    assert format_servers(servers).splitlines() == [
        "NAME                 URL                       AUTH  MODELS",
        "whisperd on gpu-box  http://192.168.1.10:5000  keys  base, small",
        "kitchen              http://192.168.1.11:5000  none  -",
    ]
