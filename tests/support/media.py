"""Audio for tests: the shared real recordings, and what PyAV and numpy make from them (no ffmpeg CLI)."""

from __future__ import annotations

import io
import os
import subprocess
import wave
from pathlib import Path

import av
import numpy as np

__all__ = [
    "AUDIO_DIR",
    "JFK_TEXT",
    "LEFT_TEXT",
    "RIGHT_TEXT",
    "audio_dir",
    "dialogue",
    "encode",
    "german_speech",
    "long_speech",
    "noise_wav",
    "pcm",
    "silence_wav",
    "speech_with_pauses",
    "spoken",
    "tone_wav",
    "undecodable",
    "upload",
]

JFK_TEXT = " ".join(
    [
        "And so my fellow Americans, ask not what your country can do for you,",
        "ask what you can do for your country.",
    ]
)


def audio_dir() -> Path:
    """``../shared/audio`` beside the repository (or ``$WHISPERD_TEST_AUDIO``)."""
    override = os.environ.get("WHISPERD_TEST_AUDIO")
    candidates = [Path(override)] if override else []
    repo = Path(__file__).resolve().parents[2]
    candidates += [repo.parent / "shared" / "audio", repo / "shared" / "audio"]
    for candidate in candidates:
        if (candidate / "jfk.flac").is_file():
            return candidate
    raise FileNotFoundError(
        "real speech for the tests was not found: expected ../shared/audio/jfk.flac beside the repository "
        "or a folder named by WHISPERD_TEST_AUDIO"
    )


AUDIO_DIR = audio_dir()


LEFT_TEXT = (
    "He began a confused complaint against the wizard, who had vanished behind the curtain on the left."
)
RIGHT_TEXT = "The horizon seems extremely distant."


def pcm(path: Path, rate: int, *, channel: int | None = None, encoding: str = "signed") -> bytes:
    """Headerless mono audio of ``path`` at ``rate`` Hz, as a live client sends it, made by sox.

    ``encoding``: ``signed`` (16-bit PCM), ``mu-law`` or ``a-law`` (8-bit G.711); ``channel`` picks one
    channel of a stereo file (1 or 2).
    """
    remix = ["remix", str(channel)] if channel else ["channels", "1"]
    bits = "16" if encoding == "signed" else "8"
    done = subprocess.run(
        ["sox", str(path), "-t", "raw", "-r", str(rate), "-e", encoding, "-b", bits, "-", *remix],
        capture_output=True,
        check=True,
    )
    return done.stdout


def _write_wav(path: Path, samples: np.ndarray, rate: int = 16_000) -> Path:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def silence_wav(path: Path, seconds: float = 5.0) -> Path:
    return _write_wav(path, np.zeros(int(16_000 * seconds), dtype=np.float32))


def noise_wav(path: Path, seconds: float = 5.0, level: float = 0.05) -> Path:
    rng = np.random.default_rng(1234)
    return _write_wav(path, rng.normal(0, level, int(16_000 * seconds)).astype(np.float32))


def tone_wav(path: Path, seconds: float = 1.0, rate: int = 16_000) -> Path:
    t = np.arange(int(rate * seconds)) / rate
    return _write_wav(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)


def encode(source: Path, target: Path, codec: str, rate: int = 48_000, container: str | None = None) -> Path:
    """Re-encode ``source``'s audio with ``codec`` into ``target`` (container from the suffix or given)."""
    with av.open(str(source)) as src, av.open(str(target), "w", format=container) as dst:
        stream = dst.add_stream(codec, rate=rate)
        assert isinstance(stream, av.audio.stream.AudioStream)
        stream.layout = "mono"
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=rate)
        for frame in src.decode(audio=0):
            frame.pts = None
            for out in resampler.resample(frame):
                for packet in stream.encode(out):
                    dst.mux(packet)
        for out in resampler.resample(None):
            for packet in stream.encode(out):
                dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return target


def upload(path: Path, name: str | None = None) -> tuple[str, bytes]:
    """A (file name, bytes) pair for the openai client or httpx: no file handle left open."""
    return (name or path.name, path.read_bytes())


def undecodable(path: Path) -> Path:
    """jfk.flac's header (its metadata blocks, which say 11 s of audio) followed by bytes that are no FLAC
    frames: accepted when only the header is read (a job's submit), refused when decoded (its run)."""
    data = (AUDIO_DIR / "jfk.flac").read_bytes()
    assert data[:4] == b"fLaC"
    end = 4
    while True:  # metadata blocks: 1 byte (last-block flag, type), 3 bytes length, then the block
        last, length = data[end] & 0x80, int.from_bytes(data[end + 1 : end + 4], "big")
        end += 4 + length
        if last:
            break
    path.write_bytes(data[:end] + bytes(range(7, 256)) * 800)
    return path


def long_speech(path: Path, repeats: int) -> Path:
    """``repeats`` copies of jfk.flac back to back (11 s each) as a 16 kHz WAV: real speech, any length."""
    from whisperd.media.audio import decode_file

    samples = decode_file(AUDIO_DIR / "jfk.flac", max_seconds=60, max_decode_seconds=60).samples
    return _write_wav(path, np.tile(samples, repeats))


def speech_with_pauses(path: Path, repeats: int, pause: float = 3.0) -> Path:
    """``repeats`` copies of jfk.flac, each after ``pause`` seconds of silence, as a 16 kHz WAV: a long
    recording with the pauses real speech has, so that it is cut between sentences (and its text, with
    the temperature fallback off, is the same on every run)."""
    from whisperd.media.audio import decode_file

    samples = decode_file(AUDIO_DIR / "jfk.flac", max_seconds=60, max_decode_seconds=60).samples
    gap = np.zeros(int(pause * 16_000), dtype=np.float32)
    return _write_wav(path, np.tile(np.concatenate([gap, samples]), repeats))


def german_speech(path: Path) -> Path:
    """22 s of real German speech (the German half of multilingual.mp3, from 29 s) as a 16 kHz WAV.

    Real speech rather than espeak: ``base`` translates espeak's German with an average log-probability
    below -1, so every request falls back to sampling and the English text changes from run to run; this
    recording decodes at about -0.8 (translation) and -0.2 (transcription), with no fallback.
    """
    from whisperd.media.audio import decode_file

    samples = decode_file(AUDIO_DIR / "multilingual.mp3", max_seconds=60, max_decode_seconds=60).samples
    return _write_wav(path, samples[29 * 16_000 : 51 * 16_000])


def spoken(text: str, voice: str) -> np.ndarray:
    """``text`` said by espeak-ng's ``voice`` (``en-us``, ``en+f3``, ...) as 16 kHz float32 samples."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", "150", "--stdout", text], check=True, capture_output=True
    ).stdout
    with av.open(io.BytesIO(wav), mode="r") as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=16_000)
        parts = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(audio=0)
            for out in resampler.resample(frame)
        ]
        parts += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(parts).astype(np.float32)


def dialogue(
    path: Path, turns: list[tuple[str, str]], gap: float = 0.8
) -> tuple[Path, list[tuple[float, float, str]]]:
    """A mono conversation: each (voice, text) turn in order, ``gap`` seconds apart, as a 16 kHz WAV.

    Returns the file and each turn's (start, end, voice), for checking who was heard when.
    """
    pause = np.zeros(int(16_000 * gap), dtype=np.float32)
    parts: list[np.ndarray] = [pause]
    timings: list[tuple[float, float, str]] = []
    position = len(pause)
    for voice, text in turns:
        said = spoken(text, voice)
        samples = 0.8 * said / max(float(np.abs(said).max()), 1e-6)
        timings.append((position / 16_000, (position + len(samples)) / 16_000, voice))
        parts += [samples, pause]
        position += len(samples) + len(pause)
    return _write_wav(path, np.concatenate(parts)), timings
