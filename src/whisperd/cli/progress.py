"""A one-line progress display for long jobs on a terminal, and nothing at all anywhere else.

The line is redrawn in place with a carriage return on the error stream, at most ten times a second,
and erased when the job ends, so that the transcript on standard output stays clean and a log file or
pipe never sees control characters. The formatting functions are pure, for tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["LONG_AUDIO_SECONDS", "Progress", "audio_line", "bar", "clock", "upload_line"]

LONG_AUDIO_SECONDS = 30.0
"""Files at least this long get a progress line; shorter ones finish before a bar would help."""

_WIDTH = 24
_REDRAW_SECONDS = 0.1


def clock(seconds: float) -> str:
    """``0:07``, ``12:05``, ``1:02:03``."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def bar(fraction: float, width: int = _WIDTH) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def audio_line(label: str, done: float, total: float, elapsed: float) -> str:
    """``talk.ogg [#####---] 33.0/120.0 s audio  12.3x real time  ETA 0:07``."""
    fraction = done / total if total > 0 else 0.0
    line = f"{label} {bar(fraction)} {done:.1f}/{total:.1f} s audio"
    if elapsed > 0 and done > 0:
        rate = done / elapsed
        line += f"  {rate:.1f}x real time  ETA {clock(max(0.0, total - done) / rate)}"
    return line


def upload_line(label: str, sent: int, total: int, elapsed: float) -> str:
    """``talk.ogg uploading [#####---] 4.2/25.0 MB  3.1 MB/s  ETA 0:07``."""
    fraction = sent / total if total > 0 else 1.0
    line = f"{label} uploading {bar(fraction)} {sent / 1e6:.1f}/{total / 1e6:.1f} MB"
    if elapsed > 0 and sent > 0:
        rate = sent / elapsed
        line += f"  {rate / 1e6:.1f} MB/s  ETA {clock(max(0, total - sent) / rate)}"
    return line


class Progress:
    """The progress of one file. Every method is a no-op when ``enabled`` is false."""

    def __init__(
        self, stream: TextIO, label: str, *, enabled: bool, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._stream = stream
        self.label = label
        self.enabled = enabled
        self._now = now
        self._started = now()
        self._phase = ""
        self._drawn = float("-inf")
        self._width = 0
        self._lock = threading.Lock()
        self._ticker: tuple[threading.Event, threading.Thread] | None = None

    def _restart(self, phase: str) -> None:
        if phase != self._phase:
            self._phase = phase
            self._started = self._now()

    def _draw(self, line: str, force: bool = False) -> None:
        now = self._now()
        if not force and now - self._drawn < _REDRAW_SECONDS:
            return
        self._drawn = now
        padding = " " * max(0, self._width - len(line))
        self._stream.write("\r" + line + padding)
        self._stream.flush()
        self._width = len(line)

    def upload(self, sent: int, total: int) -> None:
        if self.enabled and self._ticker is None:
            self._restart("upload")
            self._draw(upload_line(self.label, sent, total, self._now() - self._started), sent >= total)

    def audio(self, done: float, total: float) -> None:
        if self.enabled and self._ticker is None:
            self._restart("audio")
            self._draw(audio_line(self.label, done, total, self._now() - self._started), done >= total)

    def note(self, text: str) -> None:
        """A status without a measure (``transcribing 612.3 s of audio on the server``), with a clock
        that keeps ticking each second from a thread, so a long wait still shows that time passes."""
        if not self.enabled or text == self._phase:
            return
        self._stop_ticking()
        self._restart(text)
        stop = threading.Event()
        self._ticker = (stop, threading.Thread(target=self._tick, args=(text, stop), daemon=True))
        self._ticker[1].start()

    def _tick(self, text: str, stop: threading.Event) -> None:
        while True:
            with self._lock:
                if stop.is_set():
                    return
                self._draw(f"{self.label} {text} {clock(self._now() - self._started)}", force=True)
            if stop.wait(1.0):
                return

    def _stop_ticking(self) -> None:
        if self._ticker is not None:
            stop, thread = self._ticker
            stop.set()
            thread.join()
            self._ticker = None

    def close(self) -> None:
        """Erase the line, so that what follows starts on a clean one."""
        self._stop_ticking()
        if self.enabled and self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0
