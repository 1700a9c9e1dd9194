"""Who speaks when: the diarization half of a transcription request (OpenAI's ``gpt-4o-transcribe-diarize``).

It runs inside the request's scheduler slot, on the model lease the service already holds, and uses the
same recorder and transcriber as a plain request; only the audio's path differs:

* A recording with one party per channel (a call centre's two legs, found by
  :class:`~whisperd.diarization.channels.ChannelMeter` in a first, cheap decoding pass) is transcribed
  channel by channel: the channel is the speaker, exactly, and overlapping speech is kept.
* Anything else is transcribed as one mix, with word timings, while a speaker-embedding model embeds the
  voice window by window (:class:`~whisperd.diarization.voices.VoiceTrack`); the windows are clustered
  into voices and each word goes to the voice heard at its time.

Known speakers (``known_speaker_names[]`` + ``known_speaker_references[]``) are matched to the voices
found by their voice prints; a voice that matches none keeps a letter. The embedding model loads on the
first request that needs it and stays (it is small), guarded so that two first requests load it once.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from whisperd.diarization.attribution import LabelledSpan, attribute, merge_channels, speaker_letters
from whisperd.diarization.channels import ChannelMeter
from whisperd.diarization.clustering import cluster
from whisperd.diarization.voices import Embedder, VoiceTrack, VoiceWindows
from whisperd.engine.types import SAMPLE_RATE, CancelToken, DecodeOptions, Segment, Transcriber, Transcript
from whisperd.errors import (
    AudioTooLong,
    DecodeTimeout,
    EmptyFile,
    InvalidAudio,
    InvalidParameter,
    ModelNotFound,
)
from whisperd.media.audio import MAX_CHANNELS, decode_blocks

__all__ = [
    "KNOWN_VOICE",
    "REFERENCE_SECONDS",
    "SAME_VOICE",
    "Blocks",
    "Diarizer",
    "KnownSpeaker",
    "SpeakerModel",
]

SAME_VOICE = 0.38
"""Average cosine similarity above which two groups of windows are one voice (clustering): the middle of
the range (0.35-0.40) that found every voice of the test recordings, real and synthetic, and no extra one
(bench/results/2026-12-01-diarization.md)."""
KNOWN_VOICE = 0.5
"""Cosine similarity between a voice's mean print and a reference's above which the voice is that person."""
REFERENCE_SECONDS = (2.0, 10.0)
_REFERENCE_SLACK = 0.25  # codec padding: an mp3 of exactly 10 s decodes a little longer

Blocks = Callable[[int], Iterator[np.ndarray]]
"""The request's audio decoded anew, in blocks: mono (1) or with its channels kept (2..8)."""


@dataclass(frozen=True, slots=True)
class KnownSpeaker:
    """A name and a short clip of that person's voice, as a data URL (``data:audio/wav;base64,...``)."""

    name: str
    reference: str


class SpeakerModel:
    """The speaker-embedding model (CAM++), loaded once on first use from its verified weights file."""

    def __init__(self, weights: Path, load: Callable[[Path], Embedder]) -> None:
        self.weights = weights
        self._load = load
        self._lock = threading.Lock()
        self._embedder: Embedder | None = None

    @property
    def loaded(self) -> bool:
        return self._embedder is not None

    def get(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                if not self.weights.is_file():
                    raise ModelNotFound(
                        "gpt-4o-transcribe-diarize",
                        "Telling voices apart needs the speaker model: run `whisperd models pull campplus`.",
                    )
                self._embedder = self._load(self.weights)
            return self._embedder


class Diarizer:
    """A transcript whose segments each carry their speaker."""

    def __init__(self, speakers: SpeakerModel, *, max_decode_seconds: float) -> None:
        self.speakers = speakers
        self._max_decode_seconds = max_decode_seconds

    def transcribe(
        self,
        blocks: Blocks,
        channels: int,
        model: Transcriber,
        options: DecodeOptions,
        known: Sequence[KnownSpeaker],
        *,
        cancel: CancelToken,
        on_decoded: Callable[[float], None] | None = None,
    ) -> Transcript:
        prints = self._reference_prints(known)
        if 2 <= channels <= MAX_CHANNELS:
            meter = ChannelMeter(channels)
            for block in blocks(channels):
                meter.feed(block)
                cancel.check()
            if meter.separate_parties():
                return self._by_channel(blocks, channels, model, options, prints, cancel, on_decoded)
        return self._by_voice(blocks, model, options, prints, cancel, on_decoded)

    def _by_channel(
        self,
        blocks: Blocks,
        channels: int,
        model: Transcriber,
        options: DecodeOptions,
        prints: dict[str, np.ndarray],
        cancel: CancelToken,
        on_decoded: Callable[[float], None] | None,
    ) -> Transcript:
        timed = replace(options, word_timestamps=True)  # to cut each channel at the other party's turns
        recorders = [model.recorder(timed) for _ in range(channels)]
        tracks = [VoiceTrack(self.speakers.get()) for _ in range(channels)] if prints else []
        for block in blocks(channels):
            for channel, recorder in enumerate(recorders):
                part = np.ascontiguousarray(block[:, channel])
                recorder.feed(part)
                if tracks:
                    tracks[channel].feed(part)
            cancel.check()
        recordings = [recorder.finish() for recorder in recorders]
        if on_decoded is not None:
            on_decoded(recordings[0].duration)
        transcripts = []
        for recording in recordings:
            transcripts.append(model.transcribe(recording, timed, cancel=cancel))
            cancel.check()
        voices = {c: track.finish().mean() for c, track in enumerate(tracks)}
        names = _match(prints, {c: v for c, v in voices.items() if v is not None})
        labelled = merge_channels(transcripts)
        return _assemble(transcripts[0], _words_if_asked(labelled, options), names)

    def _by_voice(
        self,
        blocks: Blocks,
        model: Transcriber,
        options: DecodeOptions,
        prints: dict[str, np.ndarray],
        cancel: CancelToken,
        on_decoded: Callable[[float], None] | None,
    ) -> Transcript:
        timed = replace(options, word_timestamps=True)
        recorder = model.recorder(timed)
        track = VoiceTrack(self.speakers.get())
        for block in blocks(1):
            recorder.feed(block)
            track.feed(block)
            cancel.check()
        recording = recorder.finish()
        if on_decoded is not None:
            on_decoded(recording.duration)
        transcript = model.transcribe(recording, timed, cancel=cancel)
        windows = track.finish()
        labels = cluster(windows.embeddings, threshold=SAME_VOICE)
        spans = [
            LabelledSpan(float(start), min(float(start) + windows.length, transcript.duration), int(label))
            for start, label in zip(windows.starts, labels, strict=True)
        ]
        names = _match(prints, _voice_prints(windows, labels))
        labelled = attribute(transcript, spans)
        return _assemble(transcript, _words_if_asked(labelled, options), names)

    def _reference_prints(self, known: Sequence[KnownSpeaker]) -> dict[str, np.ndarray]:
        """Each known speaker's voice print; a reference that is not 2-10 s of audio is a 400."""
        prints: dict[str, np.ndarray] = {}
        for speaker in known:
            samples = _reference_audio(speaker.reference, self._max_decode_seconds)
            track = VoiceTrack(self.speakers.get())
            track.feed(samples)
            voice = track.finish().mean()
            if voice is None:
                raise InvalidParameter(
                    f"The reference for '{speaker.name}' holds no audible speech.",
                    param="known_speaker_references",
                )
            prints[speaker.name] = voice
        return prints


def _reference_audio(reference: str, max_decode_seconds: float) -> np.ndarray:
    header, comma, payload = reference.partition(",")
    if not header.startswith("data:") or not comma or not header.endswith(";base64"):
        raise InvalidParameter(
            "Each known speaker reference must be a base64 data URL of audio (data:audio/wav;base64,...).",
            param="known_speaker_references",
        )
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParameter(
            "A known speaker reference is not valid base64.", param="known_speaker_references"
        ) from None
    low, high = REFERENCE_SECONDS
    try:
        blocks = list(
            decode_blocks(data, max_seconds=high + _REFERENCE_SLACK, max_decode_seconds=max_decode_seconds)
        )
    except AudioTooLong:
        raise InvalidParameter(
            f"A known speaker reference must be {low:g} to {high:g} seconds of audio; one is longer.",
            param="known_speaker_references",
        ) from None
    except (EmptyFile, InvalidAudio, DecodeTimeout):
        raise InvalidParameter(
            "A known speaker reference is not audio that could be decoded.", param="known_speaker_references"
        ) from None
    samples = np.concatenate(blocks)
    if len(samples) < (low - _REFERENCE_SLACK) * SAMPLE_RATE:
        raise InvalidParameter(
            f"A known speaker reference must be {low:g} to {high:g} seconds of audio; one is "
            f"{len(samples) / SAMPLE_RATE:.1f} s.",
            param="known_speaker_references",
        )
    return samples


def _voice_prints(windows: VoiceWindows, labels: np.ndarray) -> dict[int, np.ndarray]:
    prints: dict[int, np.ndarray] = {}
    for label in np.unique(labels):
        chosen = VoiceWindows(windows.starts[labels == label], windows.embeddings[labels == label])
        voice = chosen.mean()
        if voice is not None:
            prints[int(label)] = voice
    return prints


def _match(prints: dict[str, np.ndarray], voices: dict[int, np.ndarray]) -> dict[int, str]:
    """Known names for voices: most similar pairs first, each name and voice used once, above KNOWN_VOICE."""
    pairs = []
    for name, reference in prints.items():
        for label, voice in voices.items():
            similarity = float(
                reference @ voice / max(np.linalg.norm(reference) * np.linalg.norm(voice), 1e-12)
            )
            pairs.append((similarity, name, label))
    names: dict[int, str] = {}
    for similarity, name, label in sorted(pairs, reverse=True):
        if similarity >= KNOWN_VOICE and label not in names and name not in names.values():
            names[label] = name
    return names


def _words_if_asked(labelled: list[tuple[Segment, int]], options: DecodeOptions) -> list[tuple[Segment, int]]:
    """Word timings were taken to place the speakers; a request that did not ask for them gets none."""
    if options.word_timestamps:
        return labelled
    return [(replace(segment, words=[]), label) for segment, label in labelled]


def _assemble(base: Transcript, labelled: list[tuple[Segment, int]], names: dict[int, str]) -> Transcript:
    letters = speaker_letters([label for _, label in labelled], names)
    segments = [
        replace(segment, id=index, speaker=letters[label]) for index, (segment, label) in enumerate(labelled)
    ]
    return Transcript(
        segments=segments,
        language=base.language,
        language_probability=base.language_probability,
        duration=base.duration,
    )
