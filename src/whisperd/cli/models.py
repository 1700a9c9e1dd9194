"""``whisperd models``: what models this machine can serve, and where each one comes from."""

from __future__ import annotations

import argparse
from typing import Any

from whisperd.config import Settings
from whisperd.engine.catalog import HUB_MODELS, ModelCatalog

__all__ = ["register"]


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("models", help="list available models")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    catalog = ModelCatalog(settings.cache_dir, settings.model_dirs, settings.allow_download)
    entries = catalog.entries()
    width = max([len(e.name) for e in entries] + [len(a) for a in settings.aliases] + [12])
    print(f"{'MODEL':<{width}}  SOURCE")
    for entry in entries:
        marker = " (default)" if entry.name == settings.model else ""
        print(f"{entry.name:<{width}}  {entry.origin}{marker}")
    for alias, target in settings.aliases.items():
        shown = settings.model if target == "default" else target
        print(f"{alias:<{width}}  alias of {shown}")
    if settings.allow_download:
        others = sorted(HUB_MODELS - {e.name for e in entries})
        print(f"\ndownloadable from the model hub when online: {', '.join(others)}")
    return 0
