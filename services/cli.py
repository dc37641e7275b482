"""The ``facequeue`` console script: one subcommand per process, plus ``up`` and ``submit``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared.config import Settings, SettingsError
from shared.errors import FacequeueError
from shared.states import DEFAULT_PRIORITY


def _submit(args: argparse.Namespace, settings: Settings) -> int:
    from shared.registry import Registry
    from shared.submit import submit

    try:
        job_args: Any = json.loads(args.args)
    except json.JSONDecodeError as exc:
        print(f"error: --args is not JSON: {exc}", file=sys.stderr)
        return 2
    registry = Registry(settings)
    try:
        job_id = submit(
            registry,
            args.actor,
            job_args,
            queue=args.queue,
            priority=args.priority,
            delay_ms=args.delay_ms,
            max_retries=args.max_retries,
        )
    except FacequeueError as exc:
        print(f"error: {exc.code}: {exc}", file=sys.stderr)
        return 2
    finally:
        registry.close()
    print(job_id)
    return 0


def _login_link(args: argparse.Namespace, settings: Settings) -> int:
    from shared.auth import check_credentials
    from shared.sessions import login_link

    if not settings.admin_token:
        print("error: FQ_ADMIN_TOKEN is not set: there is no admin to log in as", file=sys.stderr)
        return 2
    try:
        check_credentials(settings)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    base = args.base_url or settings.dashboard_origin or f"http://127.0.0.1:{settings.api_port}"
    print(login_link(settings, base))
    return 0


#: Why ``up`` stops where the development stack is not installed (the image ships shared/ and
#: services/ only: there each service runs as its own process).
NO_DEVSTACK = (
    "error: `facequeue up` runs the development stack (devstack/), which this installation does not "
    "include (the image ships the services only): start each process instead, "
    "`facequeue api|stream|monitor|worker`, or run `make run` in a checkout"
)


def _up(args: argparse.Namespace, settings: Settings) -> int:
    """The whole stack for development: the one command that uses devstack/, imported only here."""
    try:
        from devstack.stack import main as up_main
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != "devstack":
            raise
        print(NO_DEVSTACK, file=sys.stderr)
        return 2
    demo = None if args.no_demo else Path(args.photos_cache)
    return up_main(settings, workers=args.workers, demo=demo)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facequeue", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("api", help="run the admin API")
    sub.add_parser("stream", help="run the streaming gateway")
    sub.add_parser("monitor", help="run the worker monitor")
    sub.add_parser("worker", help="run a Dramatiq worker group")
    up = sub.add_parser(
        "up",
        help="run the whole stack (and a local redis-server unless FQ_REDIS_URL or _SENTINELS is set)",
    )
    up.add_argument(
        "--workers", type=int, default=1, help="worker groups (each FQ_WORKER_PROCESSES processes)"
    )
    up.add_argument("--no-demo", action="store_true", help="do not seed the demo gallery and searches")
    up.add_argument(
        "--photos-cache", default=".cache/sample-photos", help="where the demo's photos are downloaded"
    )
    link = sub.add_parser("login-link", help="print a one-time admin login link for the dashboard")
    link.add_argument(
        "--base-url", default=None, help="the dashboard's URL (default: FQ_DASHBOARD_ORIGIN, else this host)"
    )
    s = sub.add_parser("submit", help="submit a job; prints its id")
    s.add_argument("actor")
    s.add_argument("--args", default="[]", help="JSON array (positional) or object (by name)")
    s.add_argument("--queue", default=None)
    s.add_argument("--priority", type=int, default=DEFAULT_PRIORITY, help="lower runs first")
    s.add_argument("--delay-ms", type=int, default=0)
    s.add_argument("--max-retries", type=int, default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.command == "submit":
        raise SystemExit(_submit(args, settings))
    if args.command == "login-link":
        raise SystemExit(_login_link(args, settings))
    if args.command == "worker":
        from services.worker.cli import main as worker_main

        worker_main(settings)
    elif args.command == "up":
        raise SystemExit(_up(args, settings))
    else:
        import importlib

        importlib.import_module(f"services.{args.command}.main").main(settings)
