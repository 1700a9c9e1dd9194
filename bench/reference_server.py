"""The reference design, re-implemented faithfully: the yardstick that whisperd is measured against.

What the write-up describes, and nothing more: a Flask app that loads faster-whisper's ``base`` once
(``WhisperModel(folder, device="cpu", compute_type="int8")``), and for each ``POST`` saves the upload to a
temporary file, calls ``model.transcribe(path, beam_size=5)`` (faster-whisper's defaults otherwise: no
VAD, previous-text prompts, the temperature ladder), joins the segment texts, deletes the file and
answers ``{"text": ...}``. It runs on Flask's threaded development server (werkzeug), as the write-up
did, so concurrent requests each get a thread and queue inside the one model.

Run it as ``python -m bench.reference_server --model-dir DIR --port PORT`` (the benchmark does).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

__all__ = ["create_app", "main"]


def create_app(model_dir: str, device: str = "cpu", compute_type: str = "int8") -> Flask:
    from faster_whisper import WhisperModel

    app = Flask("reference")
    model: Any = WhisperModel(model_dir, device=device, compute_type=compute_type)

    @app.get("/health")
    def health() -> ResponseReturnValue:
        return jsonify({"status": "ok", "model": "base"})

    @app.post("/v1/audio/transcriptions")
    def transcribe() -> ResponseReturnValue:
        upload = request.files["file"]
        suffix = os.path.splitext(upload.filename or "")[1]
        handle, path = tempfile.mkstemp(suffix=suffix)
        os.close(handle)
        try:
            upload.save(path)
            segments, _ = model.transcribe(path, beam_size=5)
            text = " ".join(segment.text.strip() for segment in segments)
        finally:
            os.remove(path)
        return jsonify({"text": text})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compute-type", default="int8")
    args = parser.parse_args()
    app = create_app(args.model_dir, args.device, args.compute_type)
    app.run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
