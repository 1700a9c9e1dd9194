"""The inference side: engine types, the catalogue of models present, the model manager and its leases.

``faster_whisper/`` is the only sub-package that imports faster_whisper or ctranslate2; the rest of the
engine (catalogue, packs, hub and import, eviction, tuning) is plain Python and file-system work, and
nothing here loads a model at import time.
"""
