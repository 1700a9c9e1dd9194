"""``whisperd serve``: build the runtime and serve it over HTTP, and over Wyoming with ``--wyoming``.

Flags override ``WHISPERD_*`` variables. One process, one runtime (one copy of each model): the HTTP
app hosts it, and the Wyoming listener and the LAN announcement are companions that the app's lifespan
starts after the runtime and stops before it closes. Every listening address is checked before anything
loads (keys or the allow flag beyond loopback; Wyoming, which has no keys, needs the flag), and the
Wyoming socket is bound before the HTTP server starts, so that a refused or busy address ends the
command at once with a message instead of a half-started server.

``--ray [ADDRESS]`` serves the same application on Ray Serve instead (:mod:`whisperd.scale`): an HTTP
ingress and worker replicas, each with a runtime, on a cluster joined (``auto``, ``HOST:PORT``) or started
privately for this command (no address); the same keys and bind rules apply.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from whisperd import __version__
from whisperd.config import Settings
from whisperd.security import bind_refusal, is_loopback, wyoming_bind_refusal

if TYPE_CHECKING:
    from whisperd.runtime import Companion, Runtime

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
    "wyoming_uri",
    "advertise",
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
        help="allow a non-loopback address without API keys (and Wyoming, which has none, beyond loopback)",
    )
    parser.add_argument(
        "--wyoming",
        dest="wyoming_uri",
        metavar="tcp://HOST:PORT",
        help="also serve Home Assistant's Wyoming protocol there (e.g. tcp://127.0.0.1:10300)",
    )
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="serve on Ray Serve (needs whisperd[ray]): join the cluster at ADDRESS ('auto': the local one), "
        "or without an address start a private one for this command",
    )
    parser.add_argument(
        "--replicas", type=int, help="with --ray: worker replicas (default: one per GPU, else per node)"
    )
    parser.add_argument(
        "--min-replicas", dest="min_replicas", type=int, help="with --ray: autoscale from this many"
    )
    parser.add_argument(
        "--max-replicas", dest="max_replicas", type=int, help="with --ray: ... up to this many"
    )
    parser.add_argument(
        "--advertise",
        action=argparse.BooleanOptionalAction,
        help="announce the server on the LAN by mDNS (default: only when listening beyond loopback)",
    )
    parser.set_defaults(run=run)


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name) for name in _FLAG_FIELDS if getattr(args, name, None) is not None}
    return Settings(**overrides)


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _refusal(settings: Settings) -> str | None:
    """Why the configured addresses may not be served, or None."""
    has_keys = bool(settings.api_keys or settings.api_keys_file)
    refusal = bind_refusal(settings.host, has_keys, settings.allow_unauthenticated)
    endpoint = settings.wyoming_endpoint()
    if refusal is None and endpoint is not None:
        refusal = wyoming_bind_refusal(endpoint.host, settings.allow_unauthenticated)
    return refusal


def _companions(runtime: Runtime, settings: Settings) -> list[Companion]:
    """The Wyoming server (its socket bound now: raises OSError) and the LAN announcement."""
    from whisperd.discovery.advertise import Advertiser
    from whisperd.discovery.records import Announcement, announcements
    from whisperd.wyoming.server import WyomingServer

    companions: list[Companion] = []
    endpoint = settings.wyoming_endpoint()
    wyoming = None
    if endpoint is not None:
        wyoming = WyomingServer(runtime, WyomingServer.bind(endpoint), settings.wyoming_limits())
        companions.append(wyoming)
        if not is_loopback(endpoint.host):
            logging.getLogger("whisperd").warning(
                "Wyoming listens on %s: it has no authentication, anyone who can reach it can use it%s",
                endpoint.host,
                ""
                if settings.wyoming_allow_networks
                else " (WHISPERD_WYOMING_ALLOW_NETWORKS can limit clients)",
            )

    def plan() -> list[Announcement]:
        return announcements(
            settings,
            models=[entry.name for entry in runtime.catalog.entries()],
            version=__version__,
            hostname=socket.gethostname(),
            wyoming_port=wyoming.port if wyoming is not None else None,
        )

    companions.append(Advertiser(plan))
    return companions


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from whisperd.http.app import create_app
    from whisperd.jobs.files import DataDirInUse
    from whisperd.jobs.schema import SchemaTooNew
    from whisperd.observability.logs import configure_logging
    from whisperd.runtime import Runtime

    try:
        settings = settings_from_args(args)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            print(
                f"whisperd: invalid setting {where} (WHISPERD_{where.upper()}): {error['msg']}",
                file=sys.stderr,
            )
        return 2
    refusal = _refusal(settings)
    if refusal:
        print(f"whisperd: {refusal}", file=sys.stderr)
        return 2
    if args.ray is not None:
        return _serve_on_ray(settings, args)
    log_file = configure_logging(settings.log_dir, settings.log_level)
    runtime = Runtime(settings)  # the process's one copy of each model, under every front end it serves
    if runtime.jobs is not None:
        try:
            runtime.jobs.preflight()
        except (DataDirInUse, SchemaTooNew, OSError) as exc:
            print(f"whisperd: cannot serve jobs: {exc} (or set WHISPERD_JOBS=false)", file=sys.stderr)
            return 2
    try:
        companions = _companions(runtime, settings)
    except OSError as exc:
        print(
            f"whisperd: cannot listen for Wyoming on {settings.wyoming_uri}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    app = create_app(runtime, companions=companions)
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
        # the same protocol stack whether or not an extra (whisperd[ray]) installed uvloop or httptools
        loop="asyncio",
        http="h11",
    )
    return 0


def _serve_on_ray(settings: Settings, args: argparse.Namespace) -> int:
    """``--ray``: the application on Ray Serve; one process's companions are not served there."""
    from whisperd.observability.logs import configure_logging

    if settings.wyoming_uri:
        print("whisperd: --wyoming is served by one process, not with --ray", file=sys.stderr)
        return 2
    try:
        from whisperd.scale.launch import serve_cluster
    except ImportError as exc:  # pragma: no cover - the extra is installed by make setup
        print(f"whisperd: --ray needs the extra whisperd[ray] ({exc})", file=sys.stderr)
        return 2
    configure_logging(None, settings.log_level)  # the ingress writes the request log
    return serve_cluster(
        settings,
        args.ray or None,
        replicas=args.replicas,
        min_replicas=args.min_replicas,
        max_replicas=args.max_replicas,
    )
