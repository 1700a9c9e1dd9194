"""The inference side: engine types, model packs, the registry and the faster-whisper adapter.

Only :mod:`whisperd.engine.faster_whisper.adapter` and :mod:`whisperd.engine.device` import faster_whisper or
ctranslate2, and they do so lazily, so that importing whisperd stays cheap.
"""
