"""The systemd user unit that runs ``whisperd serve``: written by one pure function, read back by another.

The reference design runs the server as a systemd user service on a GPU box. The unit names the
installed executable by absolute path (a user manager's PATH does not include a virtual environment),
restarts it five seconds after any exit, and carries every setting as an ``Environment=`` line, so
``systemctl --user cat whisperd`` shows the whole configuration. Values are quoted by systemd's rules
(``systemd.syntax(7)``): double quotes, backslash escapes, and ``%%`` for a literal ``%`` (a specifier
otherwise); ``$`` needs no escape in ``Environment=`` but does in ``ExecStart=``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from whisperd import __version__

__all__ = [
    "UNIT_NAME",
    "ParsedUnit",
    "UnitSpec",
    "parse_assignment",
    "parse_unit",
    "render_unit",
    "split_words",
    "unit_path",
]

UNIT_NAME = "whisperd.service"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLAIN_WORD = re.compile(r"^[A-Za-z0-9_./+,:@=-]+$")


@dataclass(frozen=True, slots=True)
class UnitSpec:
    """What the unit runs and with which settings (in the order they are written)."""

    executable: Path
    environment: Mapping[str, str] = field(default_factory=dict)
    arguments: tuple[str, ...] = ("serve",)


@dataclass(frozen=True, slots=True)
class ParsedUnit:
    """What systemd would run: the ``ExecStart=`` words and the ``Environment=`` variables."""

    exec_start: list[str]
    environment: dict[str, str]
    settings: dict[str, str]
    """Every other ``[Service]`` key, last value wins."""


def unit_path(environ: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/systemd/user/whisperd.service`` (``~/.config`` by default)."""
    config = environ.get("XDG_CONFIG_HOME") or os.path.join(
        environ.get("HOME") or str(Path.home()), ".config"
    )
    return Path(config) / "systemd" / "user" / UNIT_NAME


def parse_assignment(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` from the command line, checked: a valid variable name, no line breaks."""
    key, sep, value = text.partition("=")
    if not sep or not _ENV_NAME.match(key):
        raise ValueError(f"expected KEY=VALUE with KEY a variable name, got {text!r}")
    if any((ord(char) < 0x20 and char != "\t") or ord(char) == 0x7F for char in value):
        raise ValueError(f"the value of {key} contains a control character, which a unit file cannot hold")
    return key, value


def _quote(text: str) -> str:
    """A double-quoted systemd string; ``%`` doubled so that it is not read as a specifier."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"'


def _exec_word(word: str) -> str:
    word = word.replace("$", "$$")
    return word if _PLAIN_WORD.match(word) else _quote(word)


def render_unit(spec: UnitSpec) -> str:
    """The unit file's text. Pure: the same spec always gives the same bytes."""
    if not spec.executable.is_absolute():
        raise ValueError(f"the executable must be an absolute path, got {spec.executable}")
    environment = {"PYTHONUNBUFFERED": "1", **spec.environment}
    for key, value in environment.items():
        parse_assignment(f"{key}={value}")
    command = " ".join(_exec_word(word) for word in (str(spec.executable), *spec.arguments))
    lines = [
        f"# Written by `whisperd service install` (whisperd {__version__}). After editing:",
        "#   systemctl --user daemon-reload && systemctl --user restart whisperd",
        "[Unit]",
        "Description=whisperd: OpenAI-compatible speech-to-text server",
        "",
        "[Service]",
        "Type=exec",
        f"ExecStart={command}",
        "# SIGHUP re-reads WHISPERD_API_KEYS_FILE: rotate keys without a restart.",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=always",
        "RestartSec=5",
        "# The server finishes requests in flight for up to 30 s after SIGTERM.",
        "TimeoutStopSec=40",
        "# Each upload in flight holds a socket and a file; systemd's default soft limit of 1024 would stop",
        "# the server accepting anyone long before WHISPERD_MAX_UPLOADS_IN_FLIGHT is reached.",
        "LimitNOFILE=65536",
        *(f"Environment={_quote(f'{key}={value}')}" for key, value in environment.items()),
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def split_words(text: str, *, specifiers: bool = True) -> list[str]:
    """systemd's word splitting with quotes and backslash escapes (the subset :func:`render_unit` uses,
    plus single quotes and unquoted words). ``%%`` becomes ``%`` when ``specifiers`` is true."""
    words: list[str] = []
    current: list[str] = []
    in_word = False
    quote = ""
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            current.append(text[index + 1])
            in_word = True
            index += 2
            continue
        if quote:
            if char == quote:
                quote = ""
            else:
                current.append(char)
        elif char in "\"'":
            quote = char
            in_word = True
        elif char.isspace():
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        else:
            current.append(char)
            in_word = True
        index += 1
    if quote:
        raise ValueError(f"unterminated quote in {text!r}")
    if in_word:
        words.append("".join(current))
    return [word.replace("%%", "%") for word in words] if specifiers else words


def parse_unit(text: str) -> ParsedUnit:
    """Read back the ``[Service]`` section of a unit (for ``doctor``, ``service show`` and the tests)."""
    section = ""
    exec_start: list[str] = []
    environment: dict[str, str] = {}
    settings: dict[str, str] = {}
    for raw in text.split("\n"):  # systemd ends lines at \n only (str.splitlines knows many more)
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        if section != "Service" or not sep:
            continue
        key = key.strip()
        if key == "ExecStart":
            exec_start = [word.replace("$$", "$") for word in split_words(value)]
        elif key == "Environment":
            for assignment in split_words(value):
                name, _, setting = assignment.partition("=")
                environment[name] = setting
        else:
            settings[key] = value.strip()
    return ParsedUnit(exec_start, environment, settings)
