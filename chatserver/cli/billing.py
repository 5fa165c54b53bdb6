"""``livedesk credits grant|balance|history|export``.

``register(subparsers)`` adds the ``credits`` command; every leaf sets ``func``, a callable
taking the parsed ``argparse.Namespace`` and returning the exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.billing import ledger, rules
from chatserver.billing.errors import BillingError
from chatserver.core.spreadsheet import safe_row


def register(subparsers: Any) -> None:
    credits = subparsers.add_parser("credits", help="paid support credits")
    commands = credits.add_subparsers(dest="credits_command", required=True)

    grant = commands.add_parser("grant", help="grant credits to a customer")
    grant.add_argument("email")
    grant.add_argument("amount", type=int)
    grant.add_argument("--reason", default="granted by hand")
    grant.add_argument(
        "--action-id",
        help="idempotency key: rerunning with the same id grants once (default: a fresh one)",
    )
    grant.set_defaults(func=lambda args: _run(_grant, args))

    balance = commands.add_parser("balance", help="a customer's balance")
    balance.add_argument("email")
    balance.add_argument("--json", action="store_true", help="one JSON object")
    balance.set_defaults(func=lambda args: _run(_balance, args))

    history = commands.add_parser("history", help="a customer's ledger entries, newest first")
    history.add_argument("email")
    history.add_argument("--json", action="store_true", help="one JSON array")
    history.add_argument("--limit", type=int, default=None)
    history.set_defaults(func=lambda args: _run(_history, args))

    export = commands.add_parser("export", help="the whole ledger as CSV")
    export.add_argument("--out", help="file to write (default: stdout)")
    export.set_defaults(func=lambda args: _run(_export, args))


def _run(command: Callable[[AsyncEngine, argparse.Namespace], Awaitable[int]], args: Any) -> int:
    from chatserver.backends.db import make_engine
    from chatserver.core.settings import get_settings

    async def main() -> int:
        engine = make_engine(get_settings().server.database_url)
        try:
            return await command(engine, args)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except BillingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


async def _grant(engine: AsyncEngine, args: argparse.Namespace) -> int:
    action_id = args.action_id or f"cli-{uuid.uuid4().hex}"
    result = await ledger.grant(
        engine,
        args.email,
        args.amount,
        key=rules.admin_key(action_id),
        reason=args.reason,
        actor="cli",
        now_ms=int(time.time() * 1000),
    )
    state = "granted" if result.created else "already granted"
    print(f"{state} {args.amount} to {result.entry.customer_email}; balance {result.balance}")
    return 0


async def _balance(engine: AsyncEngine, args: argparse.Namespace) -> int:
    balance = await ledger.get_balance(engine, args.email)
    if args.json:
        print(json.dumps(balance.as_dict()))
    else:
        print(
            f"{balance.email}: {balance.balance} left "
            f"(granted {balance.granted}, used {balance.used}, "
            f"reversed {balance.reversed}, adjusted {balance.adjusted})"
        )
    return 0


async def _history(engine: AsyncEngine, args: argparse.Namespace) -> int:
    entries = await ledger.history(engine, args.email, limit=args.limit)
    if args.json:
        print(json.dumps([entry.as_dict() for entry in entries]))
        return 0
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.created_ms / 1000))
        print(f"{when}Z  {e.kind:<8} {e.amount:+d}  {e.idempotency_key}  {e.reason}")
    return 0


async def _export(engine: AsyncEngine, args: argparse.Namespace) -> int:
    if args.out:
        with open(args.out, "w", newline="", encoding="utf-8") as out:  # noqa: ASYNC230 - a CLI: nothing else runs on this loop
            await _write_csv(engine, out)
    else:
        await _write_csv(engine, sys.stdout)
    return 0


async def _write_csv(engine: AsyncEngine, out: TextIO) -> None:
    writer = csv.writer(out)
    writer.writerow(ledger.EXPORT_COLUMNS)
    async for entry in ledger.export_entries(engine):
        writer.writerow(safe_row(entry.as_dict().values()))
