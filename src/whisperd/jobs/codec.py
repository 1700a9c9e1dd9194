"""Engine results as stored text: a transcript, a segment and a checkpoint to JSON and back, exactly.

A job's result is kept once and rendered in any response format on request, so it is stored whole (every
field of every segment and word), not as one of the formats. The same goes for the segments a running
job keeps up to its last checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from whisperd.engine.types import Checkpoint, Segment, Transcript, Word

__all__ = [
    "checkpoint_from_json",
    "checkpoint_to_json",
    "segment_from_dict",
    "segment_to_json",
    "transcript_from_json",
    "transcript_to_json",
]


def segment_to_json(segment: Segment) -> str:
    return json.dumps(asdict(segment), ensure_ascii=False, separators=(",", ":"))


def segment_from_dict(data: dict[str, Any]) -> Segment:
    words = [Word(**word) for word in data.get("words", [])]
    return Segment(**{**data, "words": words})


def transcript_to_json(transcript: Transcript) -> str:
    return json.dumps(asdict(transcript), ensure_ascii=False, separators=(",", ":"))


def transcript_from_json(text: str) -> Transcript:
    data = json.loads(text)
    segments = [segment_from_dict(segment) for segment in data.pop("segments")]
    return Transcript(segments=segments, **data)


def checkpoint_to_json(checkpoint: Checkpoint) -> str:
    return json.dumps(asdict(checkpoint), separators=(",", ":"))


def checkpoint_from_json(text: str) -> Checkpoint:
    return Checkpoint(**json.loads(text))
