"""``/v1/models``, ``/health`` and the OpenAPI document, through the official client where it applies."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai.types import Model

from tests.support.servers import RunningServer


def test_models_list_has_aliases_and_packs(client: openai.OpenAI) -> None:
    models = list(client.models.list())
    assert all(isinstance(m, Model) for m in models)
    ids = {m.id for m in models}
    assert {"whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "tiny.en"} <= ids
    assert all(m.object == "model" for m in models)


def test_model_retrieve(client: openai.OpenAI) -> None:
    assert client.models.retrieve("whisper-1").id == "whisper-1"
    assert client.models.retrieve("tiny.en").owned_by == "whisperd"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_health_is_the_reference_shape_plus_details(server: RunningServer) -> None:
    response = httpx.get(f"{server.url}/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["model"] == "whisper-tiny.en"
    assert body["device"] == "cpu"
    assert body["compute_type"] == "int8"
    assert body["uptime_seconds"] > 0


def test_openapi_describes_the_audio_api(server: RunningServer) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    paths = spec["paths"]
    for path in ("/v1/audio/transcriptions", "/v1/audio/translations", "/v1/models", "/v1/models/{model_id}",
                 "/health"):  # fmt: skip
        assert path in paths, path
    body = paths["/v1/audio/transcriptions"]["post"]["requestBody"]["content"]["multipart/form-data"][
        "schema"
    ]
    props = body["properties"]
    assert body["required"] == ["file"]
    for field in ("file", "model", "language", "prompt", "response_format", "temperature",
                  "timestamp_granularities[]", "stream"):  # fmt: skip
        assert field in props, field
    assert "language" not in paths["/v1/audio/translations"]["post"]["requestBody"]["content"][
        "multipart/form-data"]["schema"]["properties"]  # fmt: skip
    responses = paths["/v1/audio/transcriptions"]["post"]["responses"]
    assert {"200", "400", "401", "404", "413", "429", "500", "503"} <= set(responses)
    schemas = spec["components"]["schemas"]
    assert {"TranscriptionJSON", "TranscriptionVerbose", "ErrorResponse"} <= set(schemas)
    assert httpx.get(f"{server.url}/docs").status_code == 200
