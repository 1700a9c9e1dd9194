"""Pure writers from an engine :class:`Transcript` to each OpenAI ``response_format``.

``text``, ``srt`` and ``vtt`` are raw bodies (never JSON); ``json``, ``verbose_json`` and ``diarized_json``
are dicts that match the official SDK's ``Transcription``, ``TranscriptionVerbose`` and
``TranscriptionDiarized`` types field by field.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from whisperd.engine.types import Segment, Task, TokenLogprob, Transcript
from whisperd.media.languages import language_name

__all__ = [
    "CONTENT_TYPES",
    "JOB_FORMATS",
    "ResponseFormat",
    "diarized_json",
    "diarized_segment",
    "diarized_text",
    "json_body",
    "logprob_entries",
    "render",
    "segment_id",
    "srt",
    "text",
    "usage",
    "verbose_json",
    "vtt",
]

ResponseFormat = Literal["json", "text", "srt", "verbose_json", "vtt", "diarized_json"]

JOB_FORMATS: tuple[ResponseFormat, ...] = ("json", "text", "srt", "verbose_json", "vtt")
"""The formats of a job's stored result: every one but ``diarized_json`` (jobs do not diarize)."""

CONTENT_TYPES: dict[str, str] = {
    "json": "application/json",
    "verbose_json": "application/json",
    "text": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "diarized_json": "application/json",
}


def usage(transcript: Transcript) -> dict[str, Any]:
    """Billing-style usage: audio seconds, rounded up to a whole second as OpenAI bills them."""
    return {"type": "duration", "seconds": math.ceil(round(transcript.duration, 3))}


def text(transcript: Transcript) -> str:
    return transcript.text + "\n" if transcript.text else ""


def json_body(transcript: Transcript, *, logprobs: bool = False, languages: bool = False) -> dict[str, Any]:
    """``{"text", "usage"}``, with ``logprobs`` and ``languages`` when the request asked for them."""
    body: dict[str, Any] = {"text": transcript.text}
    if languages:
        body["languages"] = [{"code": transcript.language}] if transcript.segments else []
    if logprobs:
        body["logprobs"] = logprob_entries(transcript.logprobs)
    body["usage"] = usage(transcript)
    return body


def logprob_entries(entries: list[TokenLogprob]) -> list[dict[str, Any]]:
    """OpenAI's ``logprobs`` items: ``{"token", "bytes", "logprob"}``."""
    return [{"token": e.token, "bytes": e.bytes, "logprob": e.logprob} for e in entries]


def segment_id(index: int) -> str:
    """Diarized segments' ids as OpenAI writes them: ``seg_001``."""
    return f"seg_{index + 1:03d}"


def diarized_segment(segment: Segment) -> dict[str, Any]:
    """One ``transcript.text.segment`` (the segments of ``diarized_json`` and the stream's events)."""
    return {
        "type": "transcript.text.segment",
        "id": segment_id(segment.id),
        "start": round(segment.start, 3),
        "end": round(segment.end, 3),
        "text": segment.text.strip(),
        "speaker": segment.speaker or "A",
    }


def diarized_text(transcript: Transcript) -> str:
    """``Speaker: words`` lines, one per turn (consecutive segments of one speaker joined)."""
    lines: list[tuple[str, str]] = []
    for segment in transcript.segments:
        words = segment.text.strip()
        if not words:
            continue
        speaker = segment.speaker or "A"
        if lines and lines[-1][0] == speaker:
            lines[-1] = (speaker, f"{lines[-1][1]} {words}")
        else:
            lines.append((speaker, words))
    return "\n".join(f"{speaker}: {words}" for speaker, words in lines)


def diarized_json(transcript: Transcript) -> dict[str, Any]:
    return {
        "task": "transcribe",
        "duration": round(transcript.duration, 3),
        "text": diarized_text(transcript),
        "segments": [diarized_segment(s) for s in transcript.segments if s.text.strip()],
        "usage": usage(transcript),
    }


def _segment(segment: Segment) -> dict[str, Any]:
    return {
        "id": segment.id,
        "seek": segment.seek,
        "start": round(segment.start, 3),
        "end": round(segment.end, 3),
        "text": segment.text,
        "tokens": segment.tokens,
        "temperature": segment.temperature,
        "avg_logprob": segment.avg_logprob,
        "compression_ratio": segment.compression_ratio,
        "no_speech_prob": segment.no_speech_prob,
    }


def verbose_json(
    transcript: Transcript, task: Task, with_words: bool, with_segments: bool = True
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": task,
        # a translation's language is that of its output, always English (as OpenAI reports it)
        "language": "english" if task == "translate" else language_name(transcript.language),
        "duration": round(transcript.duration, 3),
        "text": transcript.text,
    }
    if with_segments:
        body["segments"] = [_segment(s) for s in transcript.segments]
    if with_words:
        body["words"] = [
            {"word": w.word.strip(), "start": round(w.start, 3), "end": round(w.end, 3)}
            for w in transcript.words
        ]
    body["usage"] = usage(transcript)
    return body


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _cues(transcript: Transcript) -> list[tuple[float, float, str]]:
    """Non-empty segments as (start, end, one-line text); an SRT/VTT cue may not contain a blank line."""
    cues = []
    for segment in transcript.segments:
        line = " ".join(segment.text.split())
        if line:
            cues.append((segment.start, max(segment.end, segment.start), line.replace("-->", "->")))
    return cues


def srt(transcript: Transcript) -> str:
    blocks = [
        f"{i}\n{_timestamp(start, ',')} --> {_timestamp(end, ',')}\n{line}\n"
        for i, (start, end, line) in enumerate(_cues(transcript), start=1)
    ]
    return "\n".join(blocks)


def vtt(transcript: Transcript) -> str:
    blocks = [
        f"{_timestamp(start, '.')} --> {_timestamp(end, '.')}\n{line}\n"
        for start, end, line in _cues(transcript)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def render(
    transcript: Transcript,
    response_format: ResponseFormat,
    task: Task,
    with_words: bool,
    with_segments: bool = True,
    *,
    logprobs: bool = False,
    languages: bool = False,
) -> str | dict[str, Any]:
    """The body for ``response_format``: a str for raw formats, a dict for JSON ones."""
    if response_format == "json":
        return json_body(transcript, logprobs=logprobs, languages=languages)
    if response_format == "diarized_json":
        return diarized_json(transcript)
    if response_format == "verbose_json":
        return verbose_json(transcript, task, with_words, with_segments)
    if response_format == "srt":
        return srt(transcript)
    if response_format == "vtt":
        return vtt(transcript)
    return text(transcript)
