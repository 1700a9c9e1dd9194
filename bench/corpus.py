"""The benchmark's audio: real speech from ../shared/audio and espeak-ng passages, each with its truth.

Clips are built once into a cache folder with the command-line tools that ``make setup`` installs
(``espeak-ng`` reads the passages, ``sox`` converts and concatenates, ``ffmpeg`` makes the Opus voice
note), so every run, and the reference design and whisperd within a run, hear identical bytes.

- the voice note: the left channel of ``stereo_diarization.wav`` (5 s, one real speaker) as OGG/Opus
  at 24 kbit/s, as a messenger app sends it;
- four one-minute clips: a read passage, the real JFK recording and another passage (each clip in
  other voices);
- the long file: every passage in turn, in five voices at three speeds, with the real recordings
  between them, to just over ten minutes;
- the conversation: other speech, as people talk: one sentence at a time from passages the long file
  does not start with, each in the next of six voices and speeds, with short, uneven pauses, and the
  real recordings as turns of their own, about five minutes.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.passages import PASSAGES

__all__ = ["Clip", "Corpus", "build_corpus", "shared_audio_dir"]

JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your "
    "country."
)
LEFT_TEXT = (
    "He began a confused complaint against the wizard, who had vanished behind the curtain on the left."
)
RIGHT_TEXT = "The horizon seems extremely distant."
VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb-x-rp", "en-us+m3")
SPEEDS = (160, 150, 172)
GAP_SECONDS = 0.7
LONG_SECONDS = 600.0
_VERSION = "2"  # bump when the recipe changes, so that cached clips are rebuilt
CONVERSATION_VOICES = (("en-us+m7", 175), ("en-gb+f4", 160), ("en-us", 185), ("en-gb-x-rp+m3", 150),
                       ("en-us+f2", 170), ("en-gb+m1", 165))  # fmt: skip
CONVERSATION_PAUSES = (0.25, 0.6, 0.35, 1.1, 0.45)
CONVERSATION_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Clip:
    """One audio file and what is said in it."""

    name: str
    path: Path
    text: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Corpus:
    voice_note: Clip
    minute: tuple[Clip, ...]
    long: Clip
    conversation: Clip


def shared_audio_dir() -> Path:
    """``../shared/audio`` beside the repository."""
    here = Path(__file__).resolve().parents[1]
    for candidate in (here.parent / "shared" / "audio", here / "shared" / "audio"):
        if (candidate / "jfk.flac").is_file():
            return candidate
    raise FileNotFoundError("real speech not found: expected ../shared/audio/jfk.flac beside the repository")


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


def _seconds(path: Path) -> float:
    out = subprocess.run(["soxi", "-D", str(path)], check=True, capture_output=True, text=True).stdout
    return float(out.strip())


class _Builder:
    """Makes 16 kHz mono WAV parts in a folder and concatenates them."""

    def __init__(self, folder: Path, audio: Path) -> None:
        self.folder = folder
        self.audio = audio
        folder.mkdir(parents=True, exist_ok=True)
        self.gap = folder / "gap.wav"
        _run("sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(self.gap), "trim", "0", str(GAP_SECONDS))

    def real(self, name: str, remix: str | None = None) -> Path:
        out = self.folder / f"real-{Path(name).stem}-{remix or 'mix'}.wav"
        if not out.exists():
            effects = ["remix", remix] if remix else ["remix", "-"]
            _run("sox", str(self.audio / name), "-r", "16000", "-c", "1", "-b", "16", str(out), *effects)
        return out

    def spoken(self, index: int, voice: str, speed: int) -> Path:
        out = self.folder / f"passage-{index:02d}-{voice.replace('+', '_')}-{speed}.wav"
        if not out.exists():
            raw = out.with_suffix(".raw.wav")
            _run("espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), PASSAGES[index])
            _run("sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out))
            raw.unlink()
        return out

    def sentence(self, index: int, text: str, voice: str, speed: int) -> Path:
        out = self.folder / f"sentence-{index:03d}-{voice.replace('+', '_')}-{speed}.wav"
        if not out.exists():
            raw = out.with_suffix(".raw.wav")
            _run("espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text)
            _run("sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out))
            raw.unlink()
        return out

    def pause(self, seconds: float) -> Path:
        out = self.folder / f"pause-{int(seconds * 1000)}.wav"
        if not out.exists():
            _run("sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(out), "trim", "0", str(seconds))
        return out

    def join(self, name: str, parts: list[tuple[Path, str]], pauses: tuple[float, ...] = ()) -> Clip:
        out = self.folder / f"{name}.wav"
        if not out.exists():
            files: list[str] = []
            for index, (path, _) in enumerate(parts):
                gap = self.pause(pauses[index % len(pauses)]) if pauses else self.gap
                files += [str(path), str(gap)]
            _run("sox", *files[:-1], str(out))
        return Clip(name, out, " ".join(text for _, text in parts), _seconds(out))


def build_corpus(cache: Path) -> Corpus:
    """Build (or reuse) every clip under ``cache``; needs espeak-ng, sox and ffmpeg on the PATH."""
    for tool in ("espeak-ng", "sox", "soxi", "ffmpeg"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is missing: run `make setup` (it installs the system packages)")
    audio = shared_audio_dir()
    recipe = hashlib.sha256(("|".join(PASSAGES) + _VERSION).encode()).hexdigest()[:10]
    b = _Builder(cache / f"corpus-{recipe}", audio)
    jfk = (b.real("jfk.flac"), JFK_TEXT)
    left = (b.real("stereo_diarization.wav", "1"), LEFT_TEXT)
    right = (b.real("stereo_diarization.wav", "2"), RIGHT_TEXT)

    note = b.folder / "voice-note.ogg"
    if not note.exists():
        _run("ffmpeg", "-v", "error", "-y", "-i", str(left[0]), "-c:a", "libopus", "-b:a", "24k", "-ar", "48000",
             str(note))  # fmt: skip
    voice_note = Clip("voice-note", note, LEFT_TEXT, _seconds(left[0]))

    minute = tuple(
        b.join(
            f"minute-{k}",
            [
                (b.spoken(k, VOICES[k % len(VOICES)], SPEEDS[2]), PASSAGES[k]),
                jfk,
                (b.spoken(k + 7, VOICES[(k + 2) % len(VOICES)], SPEEDS[2]), PASSAGES[k + 7]),
            ],
        )
        for k in range(4)
    )

    parts: list[tuple[Path, str]] = []
    total = 0.0
    index = 0
    while total < LONG_SECONDS:
        k = (index + 4) % len(PASSAGES)
        voice, speed = VOICES[index % len(VOICES)], SPEEDS[index % len(SPEEDS)]
        part = (b.spoken(k, voice, speed), PASSAGES[k])
        parts.append(part)
        total += _seconds(part[0]) + GAP_SECONDS
        if index % 3 == 2:
            real = (jfk, left, right)[index // 3 % 3]
            parts.append(real)
            total += _seconds(real[0]) + GAP_SECONDS
        index += 1
    return Corpus(voice_note, minute, b.join("long", parts), _conversation(b, (jfk, left, right)))


def _conversation(b: _Builder, real: tuple[tuple[Path, str], ...]) -> Clip:
    sentences = [
        s.strip() + "."
        for k in (9, 3, 7, 1, 5, 8, 11, 13, 0, 2, 4, 6, 10, 12)
        for s in PASSAGES[k % len(PASSAGES)].split(".")
        if s.strip()
    ]
    parts: list[tuple[Path, str]] = []
    total = 0.0
    for index, text in enumerate(sentences):
        voice, speed = CONVERSATION_VOICES[index % len(CONVERSATION_VOICES)]
        part = (b.sentence(index, text, voice, speed), text)
        parts.append(part)
        total += _seconds(part[0]) + CONVERSATION_PAUSES[index % len(CONVERSATION_PAUSES)]
        if index % 7 == 6:
            parts.append(real[index // 7 % len(real)])
        if total >= CONVERSATION_SECONDS:
            break
    return b.join("conversation", parts, CONVERSATION_PAUSES)
