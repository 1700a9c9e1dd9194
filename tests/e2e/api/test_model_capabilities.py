"""What a model can do is known before it is loaded, from its own files, never from its name.

An operator may call an English-only model anything (here ``office``: tiny.en's folder under another
name, in a model folder): a translation job for it is refused at submit, as for a loaded English-only
model, and Home Assistant is told over Wyoming that it speaks English only; none of it loads the model.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fake_hub import PACK
from tests.support.jobs import submit
from tests.support.servers import RunningServer, start_server
from tests.support.wyoming import describe
from whisperd.media.languages import LANGUAGES


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[RunningServer]:
    """base by default; ``office`` (English-only, under a name that does not say so) present, not loaded."""
    root = tmp_path_factory.mktemp("renamed")
    models = root / "models"
    models.mkdir()
    (models / "office").symlink_to(PACK, target_is_directory=True)
    running = start_server(
        root, model="base", wyoming=True, extra_env={"WHISPERD_MODEL_DIRS": json.dumps([str(models)])}
    )
    yield running
    running.stop(signal.SIGTERM)


def _resident(server: RunningServer) -> set[str]:
    health = httpx.get(f"{server.url}/health", timeout=30).json()
    return {model["id"] for model in health["models"]}


def test_a_translation_job_for_an_unloaded_english_only_model_is_refused_at_submit(
    renamed: RunningServer, jfk: Path
) -> None:
    response = submit(renamed, jfk, model="office", task="translate")
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("model", "invalid_value")
    assert "English-only" in error["message"]
    multilingual = submit(renamed, jfk, task="translate")  # base: the default, multilingual
    assert multilingual.status_code == 202, multilingual.text
    httpx.delete(f"{renamed.api_url}/audio/jobs/{multilingual.json()['id']}", timeout=30)
    assert "office" not in _resident(renamed)  # refused without loading it


def test_wyoming_lists_its_languages_without_loading_it(renamed: RunningServer) -> None:
    assert renamed.wyoming_port is not None
    info, _ = asyncio.run(describe(renamed.wyoming_port))
    models = {model.name: model for model in info.asr[0].models}
    assert models["office"].languages == ["en"]
    assert "English only" in (models["office"].description or "")
    assert models["base"].languages == list(LANGUAGES)
    assert models["tiny.en"].languages == ["en"]
    assert "office" not in _resident(renamed)
