"""The ``center`` command: serve | migrate | user add | demo | kb ..."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from center import gc_policy
from center.config import Settings
from center.loops import cancel_all
from center.records.db import Database
from center.records.enums import Role

Handler = Callable[[argparse.Namespace, Settings], int]
# Published in the README, so only for trying the platform out; it meets the password
# policy like any other (center/records/password_policy.py), with no exception for demos.
DEMO_PASSWORD = "center-demo-password"


class CliError(Exception):
    """A failure the user can act on: printed as one line, exit ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    from center.app import create_app

    host = args.host or settings.host
    port = args.port or settings.port
    print(f"center: serving on http://{host}:{port}  (agent console /agent, chat /chat)")
    try:
        # SIGTERM: sockets are closed at once (center.app), requests in flight get
        # shutdown_timeout_s (aiohttp's default is 60 s) and then the resources go in order.
        web.run_app(
            _serving(create_app(settings)),
            host=host,
            port=port,
            print=None,
            loop=_fast_loop() if settings.uvloop else None,
            shutdown_timeout=settings.shutdown_timeout_s,
        )
    finally:
        # The process ends next. Interpreter finalisation would collect the whole heap
        # several times (~1 s of CPU, seconds on a busy machine) for nothing.
        gc.disable()
        gc.freeze()
    return 0


async def _serving(made: Awaitable[Any]) -> Any:
    app = await made
    app.on_startup.append(_freeze_startup_heap)  # (after every other startup step)
    app.on_cleanup.append(_stop_full_collections)
    return app


_FULL_COLLECTIONS: list[asyncio.Task[None]] = []


async def _freeze_startup_heap(_app: object) -> None:
    """What starting made (modules, the app, its caches: most of the heap) lives as long as
    the process, yet every full collection walked it again: 130 ms once every few seconds
    under webhook load (bench/webhooks.py), each time stalling every request and socket of
    the process. Collected once here, then frozen (``gc.freeze``: never scanned again), so
    a full collection walks only what was made since; and from now on what each full
    collection leaves is frozen too, with the whole heap collected once per interval
    (center/gc_policy.py). Serving only: the tests' in-process servers are made and dropped
    by the hundred, and frozen they would never be freed."""
    gc.collect()
    gc.freeze()
    gc_policy.install()
    _FULL_COLLECTIONS.append(asyncio.create_task(gc_policy.every(), name="full-collections"))


async def _stop_full_collections(_app: object) -> None:
    gc_policy.uninstall()
    await cancel_all(_FULL_COLLECTIONS)


def _fast_loop() -> asyncio.AbstractEventLoop | None:
    """uvloop when installed (``pip install center[fast]``, CENTER_UVLOOP=1): a cheaper
    event loop for every socket read and write; None (asyncio's own loop) otherwise."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop()


def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> None:
        db = Database(settings.resolved_database_url, schema=settings.database_schema or None)
        await db.migrate()
        await db.dispose()

    asyncio.run(run())
    print("database is at the newest revision")
    return 0


def _parse_pairs(raw: str | None, what: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in (raw or "").split(","):
        if not part.strip():
            continue
        name, _, value = part.partition("=")
        if not value.strip().isdigit():
            raise SystemExit(f"{what}: expected name=number, got {part!r}")
        out[name.strip()] = int(value)
    return out


def _ask_password(username: str) -> str:
    """Prompted twice on a terminal; without one (a script, a pipe) the first line of stdin,
    because getpass would warn, echo, and end in EOFError."""
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError("no password: give --password or one line on stdin")
        return password
    password = getpass.getpass(f"password for {username}: ")
    if password != getpass.getpass("again: "):
        raise CliError("passwords differ", code=2)
    return password


def _user_add(args: argparse.Namespace, settings: Settings) -> int:
    from center.records.users import UserExists, create_user

    password = args.password if args.password is not None else _ask_password(args.username)
    capacity = {**settings.default_capacity, **_parse_pairs(args.capacity, "--capacity")}

    async def run() -> int:
        db = Database(settings.resolved_database_url, schema=settings.database_schema or None)
        try:
            await db.migrate()
            user = await create_user(
                db,
                args.username,
                password,
                role=Role(args.role),
                display_name=args.name,
                skills=_parse_pairs(args.skills, "--skills"),
                capacity=capacity,
            )
        except UserExists:
            print(f"user {args.username!r} exists already", file=sys.stderr)
            return 1
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return 2
        finally:
            await db.dispose()
        print(f"created {user.role.value} {user.username} (id {user.id})")
        return 0

    return asyncio.run(run())


def _demo(_args: argparse.Namespace, settings: Settings) -> int:
    """Seed demo users (agents alice and bob, supervisor sam, admin; password DEMO_PASSWORD)
    and the KB."""
    from center.records.users import UserExists, create_user

    async def run() -> None:
        db = Database(settings.resolved_database_url, schema=settings.database_schema or None)
        await db.migrate()
        for username, role in (
            ("alice", Role.AGENT),
            ("bob", Role.AGENT),
            ("sam", Role.SUPERVISOR),
            ("admin", Role.ADMIN),
        ):
            try:
                await create_user(
                    db,
                    username,
                    DEMO_PASSWORD,
                    role=role,
                    capacity=dict(settings.default_capacity),
                )
                print(f"created {role.value} {username} / {DEMO_PASSWORD}")
            except UserExists:
                print(f"{username} exists already")
        try:
            from center.knowledge_base.io import SAMPLE_DIR, import_dir
        except ImportError:
            pass
        else:
            result = await import_dir(db, SAMPLE_DIR)
            print(f"knowledge base: {result.summary()}")
        await db.dispose()

    asyncio.run(run())
    return 0


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from center.reports import simulate

    return simulate.run_command(args, args.redis_url or settings.redis_url)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="center", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the platform (HTTP, socket.io, router)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=_serve)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=_migrate)
    sub.add_parser("demo", help="create demo users and the sample knowledge base").set_defaults(
        func=_demo
    )

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    add = user.add_parser("add", help="create an agent, supervisor or admin")
    add.add_argument("username")
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.AGENT.value)
    add.add_argument("--password", help="prompted for when not given")
    add.add_argument("--name", help="display name")
    add.add_argument("--skills", help="e.g. billing=5,french=3")
    add.add_argument("--capacity", help="e.g. chat=3,voice=1 (defaults from settings)")
    add.set_defaults(func=_user_add)

    from center.reports import simulate

    sim = sub.add_parser("simulate", help="drive the router with simulated calls vs Erlang C")
    simulate.add_arguments(sim)
    sim.set_defaults(func=_simulate)

    try:
        from center.knowledge_base import cli as kb_cli
    except ImportError:
        kb_cli = None
    if kb_cli is not None and hasattr(kb_cli, "register"):
        kb_cli.register(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    """The first line of an error's message: a database or OS error, not its traceback."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        return f"bad setting {where.upper()!s}: {first['msg']}"
    if isinstance(exc, CliError):
        return str(exc)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A command's output is its result; the server's log is what an operator reads.
    level = logging.INFO if args.command == "serve" else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    handler: Handler = args.func
    try:
        return handler(args, Settings())
    except KeyboardInterrupt:
        print("center: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the one place every command's failure ends: one line
        code = exc.code if isinstance(exc, CliError) else 1
        print(f"center {args.command}: {_one_line(exc)}", file=sys.stderr)
        return code
