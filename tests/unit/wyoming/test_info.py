"""The ``info`` event, built from the models present and what each can do: what Home Assistant reads."""

from __future__ import annotations

import time

from wyoming.info import Info

from whisperd.media.languages import LANGUAGES
from whisperd.wyoming.info import PROGRAM, build_info, model_languages

_ALIASES = {"whisper-1": "base", "gpt-4o-transcribe": "base", "small-alias": "small"}
_MODELS = {"tiny.en": False, "base": True}


def test_one_asr_program_with_every_model_present_default_first() -> None:
    info = build_info(_MODELS, _ALIASES, "base", version="1.2.3")
    assert [program.name for program in info.asr] == [PROGRAM]
    program = info.asr[0]
    assert program.installed
    assert program.version == "1.2.3"
    assert not program.supports_transcript_streaming  # no partials are sent yet
    names = [model.name for model in program.models]
    assert names == [
        "base",
        "tiny.en",
        "gpt-4o-transcribe",
        "whisper-1",
    ]  # the alias of an absent model is left out
    assert all(model.installed for model in program.models)


def test_languages_follow_the_weights_not_the_name() -> None:
    present = {"tiny.en": False, "base": True, "office": False, "custom.en": True}
    models = {m.name: m for m in build_info(present, _ALIASES, "tiny.en", version="0").asr[0].models}
    assert models["tiny.en"].languages == ["en"]
    assert models["base"].languages == list(LANGUAGES)
    assert models["office"].languages == ["en"]  # English-only under any name
    assert models["office"].description == "Whisper office (English only)"
    assert models["custom.en"].languages == list(LANGUAGES)  # and a name ending .en proves nothing
    assert models["whisper-1"].languages == list(LANGUAGES)  # an alias speaks its target's languages
    assert models["whisper-1"].description == "alias of base"
    assert model_languages(None) == list(LANGUAGES)  # not known: no language is withheld


def test_the_event_reads_back_as_home_assistant_reads_it() -> None:
    event = build_info({"base": True}, {}, "base", version="0").event()
    assert event.type == "info"
    again = Info.from_event(event)
    languages = {lang for model in again.asr[0].models if model.installed for lang in model.languages}
    assert "de" in languages
    assert "en" in languages


def test_built_well_within_home_assistants_second() -> None:
    names = {f"model-{n}": n % 2 == 0 for n in range(50)}
    started = time.perf_counter()
    build_info(names, {f"alias-{n}": f"model-{n}" for n in range(50)}, "model-0", version="0").event()
    assert time.perf_counter() - started < 0.1
