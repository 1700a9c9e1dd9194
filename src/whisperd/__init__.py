"""whisperd: a self-hosted speech-to-text server that speaks the OpenAI Audio API.

Importing this package is cheap: no model, no engine and no web framework loads here.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("whisperd")
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
