"""Audio frames to another rate, sample format and layout, on the calling thread only.

PyAV's ``AudioResampler`` converts through an FFmpeg filter graph built with the automatic thread
count, so each one keeps an idle thread per CPU core for as long as it lives. The server makes one per
decoded upload and one per live session: on a large machine that is dozens of threads each, outside
every bound the server sets. This is the same graph (``abuffer`` → ``aformat`` → ``abuffersink``, with
the resampler FFmpeg inserts) built with one thread, so it converts sample for sample as PyAV's does.
"""

from __future__ import annotations

import errno
from typing import Any

__all__ = ["Resampler"]


class Resampler:
    """Frames of one stream to ``format`` / ``layout`` / ``rate``; ``resample(None)`` flushes the rest.

    Every frame must have the first frame's format, layout and rate (one stream, as a decoder gives it).
    """

    def __init__(self, *, format: str, layout: str, rate: int) -> None:
        self.format = format
        self.layout = layout
        self.rate = rate
        self._graph: Any = None
        self._first: Any = None
        self._passthrough = False

    def resample(self, frame: Any) -> list[Any]:
        """The converted frames ready after ``frame`` (an ``av.AudioFrame``, or None at the end)."""
        if self._first is None:
            if frame is None:
                return []
            self._first = frame
            self._passthrough = (frame.format.name, frame.layout.name, frame.sample_rate) == (
                self.format,
                self.layout,
                self.rate,
            )
            if not self._passthrough:
                self._graph = self._built(frame)
        elif frame is not None and _shape(frame) != _shape(self._first):
            raise ValueError("the frame's format, layout or rate differs from the stream's first frame")
        if self._passthrough:
            return [] if frame is None else [frame]
        return self._converted(frame)

    def _built(self, first: Any) -> Any:
        import av  # PyAV pulls in FFmpeg: imported on first use, not with the package

        graph = av.filter.Graph()
        graph.threads = 1  # must come before the first filter; 0 would mean one thread per core
        source_args = {
            "sample_rate": str(first.sample_rate),
            "sample_fmt": first.format.name,
            "channel_layout": first.layout.name,
        }
        if first.time_base is not None:
            source_args["time_base"] = str(first.time_base)
        source = graph.add("abuffer", **source_args)
        target = graph.add(
            "aformat", sample_rates=str(self.rate), sample_fmts=self.format, channel_layouts=self.layout
        )
        sink = graph.add("abuffersink")
        source.link_to(target)
        target.link_to(sink)
        graph.configure()
        return graph

    def _converted(self, frame: Any) -> list[Any]:
        import av

        self._graph.push(frame)
        out: list[Any] = []
        while True:
            try:
                out.append(self._graph.pull())
            except EOFError:
                return out
            except av.error.FFmpegError as exc:
                if exc.errno != errno.EAGAIN:
                    raise
                return out


def _shape(frame: Any) -> tuple[str, str, int]:
    return frame.format.name, frame.layout.name, frame.sample_rate
