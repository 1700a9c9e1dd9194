"""Uploaded bytes to 16 kHz mono samples, block by block, within limits of duration and decode time.

The container and codec are found from the content (PyAV/FFmpeg probing), never from the file name or
MIME type, so a Telegram voice note named ``voice.bin`` decodes as well as ``voice.ogg``. The decoding
pipeline is faster-whisper's own (s16 mono resampling in 500 000-sample groups), so that samples and
therefore transcripts match what faster-whisper gives for the same file, with three differences: the
samples come out as a stream of int16 blocks (:func:`decode_blocks`) so that whoever consumes them can
keep only what it needs (the engine keeps only the audio near speech of a long file, so memory does
not grow with silence); decoding stops as soon as the audio is longer than allowed; and a wall-clock
budget stops hostile files early.
"""

from __future__ import annotations

import gc
import io
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from whisperd.engine.types import SAMPLE_RATE
from whisperd.errors import AudioTooLong, DecodeTimeout, EmptyFile, InvalidAudio
from whisperd.media.resample import Resampler

__all__ = ["MAX_CHANNELS", "DecodedAudio", "channel_count", "decode_blocks", "decode_file", "probe"]

_GROUP_SAMPLES = 500_000
MAX_CHANNELS = 8
"""More channels than this are always mixed down (surround mixes, not one party per channel)."""
_MAX_BAD_FRAMES_IN_A_ROW = 1000


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    """A whole recording, ready for the model, and how long it lasts."""

    samples: np.ndarray

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def channel_count(source: Path | bytes) -> int:
    """How many channels the first audio stream has (0 when the file cannot be opened: decoding will say)."""
    import av

    try:
        with av.open(_opened(source), mode="r", metadata_errors="ignore") as container:
            streams = container.streams.audio
            return int(streams[0].channels) if streams else 0
    except (av.error.FFmpegError, ValueError, OSError, IndexError, RuntimeError, EOFError):
        return 0


def decode_blocks(
    source: Path | bytes, *, max_seconds: float, max_decode_seconds: float, channels: int = 1
) -> Iterator[np.ndarray]:
    """The first audio stream of ``source`` as int16 blocks at 16 kHz; a client error for anything unusable.

    Blocks are mono (1-D) by default. With ``channels`` (2..MAX_CHANNELS, the stream's own count from
    :func:`channel_count`) they keep the channels apart, shaped (samples, channels), for a recording with
    one party per channel. Blocks are a few tens of seconds at most. The error for audio over
    ``max_seconds`` comes as soon as the decoder passes the limit, whatever the consumer did with the
    blocks before it. The ``max_decode_seconds`` budget counts the decoder's own time only, not what the
    consumer spends on each block between two of them (the engine's voice activity detection).
    """
    import av  # PyAV pulls in FFmpeg: imported on first use, not with the package

    if (len(source) if isinstance(source, bytes) else source.stat().st_size) == 0:
        raise EmptyFile
    keep = channels if 2 <= channels <= MAX_CHANNELS else 1
    max_samples = int(max_seconds * SAMPLE_RATE)
    spent = 0.0
    resumed = time.monotonic()
    total = 0
    try:
        with av.open(_opened(source), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise InvalidAudio("the file has no audio stream")
            stream_layout = container.streams.audio[0].layout
            if keep > 1 and len(stream_layout.channels) != keep:
                keep = 1  # not what the caller counted: mix down as usual
            layout = "mono" if keep == 1 else stream_layout.name
            resampler = Resampler(format="s16", layout=layout, rate=SAMPLE_RATE)
            frames = _grouped(_valid_frames(container.decode(audio=0), av), av)
            for frame in itertools.chain(frames, [None]):
                for out in resampler.resample(frame):
                    block: np.ndarray = out.to_ndarray().reshape(-1)
                    if keep > 1:
                        block = block.reshape(-1, keep)
                    total += len(block)
                    if total > max_samples:
                        raise AudioTooLong(max_seconds)
                    spent += time.monotonic() - resumed
                    yield block
                    resumed = time.monotonic()
                if spent + time.monotonic() - resumed > max_decode_seconds:
                    raise DecodeTimeout(max_decode_seconds)
            del resampler
    except (AudioTooLong, DecodeTimeout, InvalidAudio, EmptyFile, GeneratorExit):
        raise
    except av.error.FFmpegError as exc:
        raise InvalidAudio(_short(exc)) from exc
    except (ValueError, IndexError, OSError, RuntimeError, EOFError) as exc:
        raise InvalidAudio(type(exc).__name__) from exc
    finally:
        gc.collect()  # PyAV resamplers hold native buffers until collected (faster-whisper #390)
    if total == 0:
        raise InvalidAudio("no audio could be decoded from the file")


def decode_file(path: Path, *, max_seconds: float, max_decode_seconds: float) -> DecodedAudio:
    """The whole recording as float32 samples (for short files, tests and tools; the server streams)."""
    blocks = list(decode_blocks(path, max_seconds=max_seconds, max_decode_seconds=max_decode_seconds))
    return DecodedAudio(np.concatenate(blocks).astype(np.float32) / 32768.0)


def _opened(source: Path | bytes) -> str | io.BytesIO:
    return io.BytesIO(source) if isinstance(source, bytes) else str(source)


def probe(path: Path) -> float | None:
    """The audio's length in seconds from the container's header, without decoding (None when the header
    does not say); a client error for a file that is empty or holds no audio stream. Blocking."""
    import av

    if path.stat().st_size == 0:
        raise EmptyFile
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise InvalidAudio("the file has no audio stream")
            if container.duration:
                return float(container.duration / av.time_base)
            stream = container.streams.audio[0]
            if stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
    except InvalidAudio:
        raise
    except av.error.FFmpegError as exc:
        raise InvalidAudio(_short(exc)) from exc
    except (ValueError, IndexError, OSError, RuntimeError, EOFError) as exc:
        raise InvalidAudio(type(exc).__name__) from exc
    return None


def _valid_frames(frames: Iterator[Any], av: Any) -> Iterator[Any]:
    """Skip frames that fail to decode, as faster-whisper does; a stream that never decodes ends."""
    iterator = iter(frames)
    failures = 0
    while True:
        try:
            yield next(iterator)
            failures = 0
        except StopIteration:
            return
        except av.error.InvalidDataError:
            failures += 1
            if failures > _MAX_BAD_FRAMES_IN_A_ROW:
                return


def _grouped(frames: Iterator[Any], av: Any) -> Iterator[Any]:
    fifo = av.audio.fifo.AudioFifo()
    for frame in frames:
        frame.pts = None
        fifo.write(frame)
        if fifo.samples >= _GROUP_SAMPLES:
            yield fifo.read()
    if fifo.samples > 0:
        yield fifo.read()


def _short(exc: Exception) -> str:
    """FFmpeg's reason without the temporary file's path, which must never reach a client."""
    reason = getattr(exc, "strerror", None) or type(exc).__name__
    return str(reason).split(":")[0][:120]
