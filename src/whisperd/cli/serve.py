"""``whisperd serve``: build the runtime and serve it over HTTP. Flags override ``WHISPERD_*`` variables."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

from whisperd.config import Settings
from whisperd.security import bind_refusal

__all__ = ["register", "run", "settings_from_args"]

_FLAG_FIELDS = (
    "host",
    "port",
    "model",
    "device",
    "compute_type",
    "profile",
    "log_dir",
    "cpu_threads",
    "num_workers",
    "allow_unauthenticated",
)


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("serve", help="run the server")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (default 5000)")
    parser.add_argument("--model", help="default model: a name (base, tiny.en, small, ...) or a model folder")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to run (default auto)")
    parser.add_argument("--compute-type", dest="compute_type", help="CTranslate2 compute type (default auto)")
    parser.add_argument("--profile", choices=["fast", "accurate"], help="decoding preset (default accurate)")
    parser.add_argument("--log-dir", dest="log_dir", help="folder of the rotating log file")
    parser.add_argument("--cpu-threads", dest="cpu_threads", type=int, help="threads per model replica")
    parser.add_argument("--num-workers", dest="num_workers", type=int, help="model replicas")
    parser.add_argument(
        "--allow-unauthenticated",
        dest="allow_unauthenticated",
        action="store_const",
        const=True,
        help="allow a non-loopback address without API keys",
    )
    parser.set_defaults(run=run)


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name) for name in _FLAG_FIELDS if getattr(args, name, None) is not None}
    return Settings(**overrides)


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from whisperd.http.app import create_app
    from whisperd.jobs.files import DataDirInUse
    from whisperd.jobs.schema import SchemaTooNew
    from whisperd.observability.logs import configure_logging
    from whisperd.runtime import Runtime

    settings = settings_from_args(args)
    has_keys = bool(settings.api_keys or settings.api_keys_file)
    refusal = bind_refusal(settings.host, has_keys, settings.allow_unauthenticated)
    if refusal:
        print(f"whisperd: {refusal}", file=sys.stderr)
        return 2
    log_file = configure_logging(settings.log_dir, settings.log_level)
    runtime = Runtime(settings)  # the process's one copy of each model, under every front end it serves
    if runtime.jobs is not None:
        try:
            runtime.jobs.preflight()
        except (DataDirInUse, SchemaTooNew, OSError) as exc:
            print(f"whisperd: cannot serve jobs: {exc} (or set WHISPERD_JOBS=false)", file=sys.stderr)
            return 2
    app = create_app(runtime)
    logging.getLogger("whisperd").info(
        "whisperd listening on http://%s:%d (logs: %s)",
        settings.host,
        settings.port,
        log_file or "stderr only",
    )
    # uvicorn shuts down gracefully on SIGTERM (stops accepting, lets in-flight requests finish, runs the
    # lifespan's clean-up) and then re-raises the signal with the handler it found. Finding this one,
    # the process exits 0: a requested stop that completed is a success, not a crash.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    return 0
