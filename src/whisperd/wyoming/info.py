"""The ``info`` event: what a Wyoming client (Home Assistant) is told when it sends ``describe``.

Pure: the models present (each with whether it is multilingual), the aliases and the default model in,
one ``asr`` program out, so that it is built in microseconds (Home Assistant waits one second for it)
and tested without a server. Every model listed is present on this machine, so each says ``installed: true``; Home Assistant
offers the union of their languages. An alias is listed like a model, with its target's languages.

Whether a model is multilingual comes from the model manager, which reads it from the model's own
files when it is not loaded (:mod:`whisperd.engine.capabilities`), never from its name: an English-only
model lists ``en``, any other Whisper model Whisper's languages (also when not known: such a model
would not load). ``supports_transcript_streaming`` is true only when the handler really sends
``transcript-chunk`` partials.
"""

from __future__ import annotations

from collections.abc import Mapping

from wyoming.info import AsrModel, AsrProgram, Attribution, Info

from whisperd.media.languages import LANGUAGES

__all__ = ["PROGRAM", "build_info", "model_languages"]

PROGRAM = "whisperd"
"""The program's name: Home Assistant names its speech-to-text entity after it."""

_ENGINE = Attribution(
    name="whisperd (faster-whisper, CTranslate2)", url="https://github.com/SYSTRAN/faster-whisper"
)
_WHISPER = Attribution(name="OpenAI", url="https://github.com/openai/whisper")
_DISTIL = Attribution(name="Hugging Face", url="https://github.com/huggingface/distil-whisper")


def model_languages(multilingual: bool | None) -> list[str]:
    """The languages a Whisper model transcribes: ``en`` for an English-only model, else all of Whisper's."""
    return ["en"] if multilingual is False else list(LANGUAGES)


def build_info(
    models: Mapping[str, bool | None],
    aliases: Mapping[str, str],
    default: str,
    *,
    version: str,
    streaming: bool = False,
) -> Info:
    """One ``asr`` program listing the default model first, the other models, then the aliases.

    ``models`` maps each model present to whether it is multilingual (None: not known); ``aliases`` maps
    each alias to the model name it means now; aliases of models that are not present are left out (a
    client could not use them).
    """
    ordered = sorted(models, key=lambda name: (name != default, name))
    listed = [_model(name, name, models[name], None) for name in ordered]
    listed += [
        _model(alias, target, models[target], f"alias of {target}")
        for alias, target in sorted(aliases.items())
        if target in models and alias not in models
    ]
    program = AsrProgram(
        name=PROGRAM,
        description=f"whisperd {version}: Whisper speech-to-text (default model {default})",
        attribution=_ENGINE,
        installed=True,
        version=version,
        models=listed,
        supports_transcript_streaming=streaming,
    )
    return Info(asr=[program])


def _model(name: str, weights: str, multilingual: bool | None, description: str | None) -> AsrModel:
    english_only = multilingual is False
    return AsrModel(
        name=name,
        description=description or f"Whisper {weights}{' (English only)' if english_only else ''}",
        attribution=_DISTIL if weights.lower().startswith("distil") else _WHISPER,
        installed=True,
        version=None,
        languages=model_languages(multilingual),
    )
