"""The ``livedesk`` command."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from chatserver.core.settings import KNOBS, Settings, get_settings

log = logging.getLogger("livedesk")


def serve_app(settings: Settings, host: str, port: int, *, reuse_port: bool = False) -> None:
    """Run the hub; ``reuse_port``: as one worker of a pool (``cli.pool``), on a socket
    other processes bind too, the database already migrated by the pool."""
    import uvicorn

    from chatserver.runtime.heap import settle_after_start
    from chatserver.web.app import create_app
    from chatserver.web.serving import raise_fd_limit, uvicorn_options

    if settings.edge.raise_fd_limit:
        soft, _hard = raise_fd_limit()
        log.info("open-file limit: %d", soft)
    if settings.security.secret_key == KNOBS["secret_key"].default:
        log.warning("LIVEDESK_SECRET_KEY is not set: using the insecure development key")
    if not reuse_port:
        uvicorn.run(
            create_app(settings, on_started=settle_after_start),
            host=host,
            port=port,
            log_level=settings.server.log_level,
            **uvicorn_options(settings),
        )
        return
    from chatserver.cli.pool import reuse_port_socket

    sock = reuse_port_socket(host, port)
    config = uvicorn.Config(
        create_app(settings, migrate=False, on_started=settle_after_start),
        host=host,
        port=port,
        log_level=settings.server.log_level,
        **uvicorn_options(settings),
    )
    uvicorn.Server(config).run(sockets=[sock])


def cmd_serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    if args.workers > 1:
        from chatserver.cli.pool import PoolError, run_pool

        try:
            return run_pool(settings, args.host, args.port, args.workers)
        except PoolError as exc:
            print(f"livedesk serve: {exc}", file=sys.stderr)
            return 2
    serve_app(settings, args.host, args.port, reuse_port=args.reuse_port)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from chatserver.cli.demo import seed_demo

    settings = get_settings()
    logins = asyncio.run(seed_demo(settings))
    base = (
        f"http://{'localhost' if args.host in ('127.0.0.1', '0.0.0.0') else args.host}:{args.port}"
    )
    print("livedesk demo")
    print(f"  database:     {settings.server.database_url}")
    print(f"  demo page:    {base}/demo      (you are the visitor)")
    print(f"  agent login:  {base}/login")
    for email, password, role in logins:
        print(f"      {role:<10} {email} / {password}")
    print(f"  health:       {base}/healthz   metrics: {base}/metrics")
    sys.stdout.flush()
    serve_app(settings, args.host, args.port)
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from chatserver.backends.db import upgrade

    upgrade(get_settings().server.database_url, args.revision)
    print(f"database at {args.revision}")
    return 0


def cmd_agents_add(args: argparse.Namespace) -> int:
    from chatserver.cli.demo import add_agent

    password = (
        args.password or os.environ.get("LIVEDESK_AGENT_PASSWORD") or getpass.getpass("Password: ")
    )
    agent = asyncio.run(
        add_agent(
            get_settings(),
            email=args.email,
            name=args.name or args.email.split("@")[0],
            password=password,
            role=args.role,
            cap=args.cap,
            teams=args.teams,
            languages=args.languages,
        )
    )
    print(f"agent {agent.id} {agent.email} ({agent.role}, cap {agent.cap})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livedesk", description="Live chat and agent desk.")
    sub = parser.add_subparsers(dest="command", required=True)

    for name, func, helptext in (
        ("serve", cmd_serve, "run the hub"),
        ("demo", cmd_demo, "seed demo agents and KB, then run the hub"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        p.set_defaults(func=func)
        if name == "serve":
            p.add_argument(
                "--workers",
                type=int,
                default=1,
                help="hub processes on this port (SO_REUSEPORT; needs LIVEDESK_REDIS_URL)",
            )
            # A worker of such a pool (cli.pool starts it so).
            p.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)

    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    up = db.add_parser("upgrade", help="migrate the database to the latest schema")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)

    agents = sub.add_parser("agents", help="agent accounts").add_subparsers(
        dest="agents_command", required=True
    )
    add = agents.add_parser("add", help="create an agent account")
    add.add_argument("email")
    add.add_argument("--name")
    add.add_argument("--password", help="(default: $LIVEDESK_AGENT_PASSWORD, else prompted)")
    add.add_argument("--role", choices=("agent", "supervisor", "admin"), default="agent")
    add.add_argument("--cap", type=int, default=5)
    add.add_argument("--teams", default="")
    add.add_argument("--languages", default="")
    add.set_defaults(func=cmd_agents_add)

    # The other rooms bring their own subcommands.
    for module in ("router.cli", "kb.cli", "chatserver.cli.billing", "chatserver.testing.loadtest"):
        try:
            importlib.import_module(module).register(sub)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # only a room not built yet may be missing
                raise
    from chatserver.cli import planning

    planning.register(sub)
    kb_sub = sub.choices["kb"].get_default("kb_subparsers")
    kb_import = kb_sub.add_parser(
        "import", help="load articles (and canned replies) into the database"
    )
    kb_import.add_argument("articles", nargs="?", help=".jsonl, .csv or a folder of .md files")
    kb_import.add_argument("--canned", help="canned replies as JSON Lines {shortcut, text, lang}")
    kb_import.set_defaults(func=cmd_kb_import)
    kb_export = kb_sub.add_parser("export", help="write the database's articles as JSON Lines")
    kb_export.add_argument("out")
    kb_export.set_defaults(func=cmd_kb_export)
    return parser


def cmd_kb_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from chatserver.backends.db import upgrade
    from chatserver.backends.store import Store
    from chatserver.cli.demo import import_kb
    from chatserver.services.assist import Assistant

    async def run() -> tuple[int, int]:
        settings = get_settings()
        await asyncio.to_thread(upgrade, settings.server.database_url)
        store = Store(settings.server.database_url)
        assist = Assistant(store)
        try:
            done = await import_kb(
                assist,
                Path(args.articles) if args.articles else None,
                Path(args.canned) if args.canned else None,
            )
        finally:
            await assist.stop()
            await store.stop()
        if settings.cluster.redis_url and done[0]:
            await _announce_kb_change(
                settings.cluster.redis_url, settings.cluster.bus_stop_timeout_s
            )
        return done

    articles, canned = asyncio.run(run())
    print(f"imported {articles} articles and {canned} canned replies")
    return 0


async def _announce_kb_change(redis_url: str, stop_timeout_s: float) -> None:
    """Running hubs re-read the knowledge base now rather than at their next table check."""
    from chatserver.backends.bus import KB_CHANNEL
    from chatserver.backends.bus_redis import RedisBus
    from chatserver.backends.redis_keys import new_node_id
    from chatserver.core.protocol import OutFrame
    from chatserver.services.assist import kb_changed_frame

    bus = RedisBus(
        redis_url, lambda channel, frame: None, new_node_id(), stop_timeout_s=stop_timeout_s
    )
    await bus.start()
    bus.publish(KB_CHANNEL, OutFrame(kb_changed_frame(None)))
    await bus.stop(drain_timeout_s=5.0)


def cmd_kb_export(args: argparse.Namespace) -> int:
    from chatserver.backends.store import Store
    from chatserver.services.assist import Assistant
    from kb.io import write_jsonl

    async def run() -> int:
        store = Store(get_settings().server.database_url)
        assist = Assistant(store)
        try:
            await assist.load()
            return write_jsonl(args.out, sorted(assist.index.articles(), key=lambda a: a.id))
        finally:
            await assist.stop()
            await store.stop()

    print(f"exported {asyncio.run(run())} articles to {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Alembic lists each of its plugins at INFO on every start; the upgrades it runs stay.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
