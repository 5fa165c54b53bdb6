"""The billing outboxes: debits due, and paid-support orders to open a conversation for.

A debit is recorded as due inside the store's own transaction that makes it due (the group
commit's batch holding a human's first reply, the close), so it is committed exactly when
the reply or the close is. Any hub process then claims due rows and carries them out; the
ledger's idempotency keys make a second attempt harmless, and the claim keeps two
processes from working on one row at once:

* PostgreSQL: ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)`` — two claimers
  never take the same row and never wait on each other.
* SQLite: the claim runs under ``BEGIN IMMEDIATE`` (``ledger.write_transaction``), one
  writer at a time.

A claim moves ``not_before_ms`` one lease ahead: a process that dies while holding a row
lets it go when the lease ends. A failure moves it one back-off ahead. A process works on a
claimed batch for half its lease at most and gives the rest back, so that a slow batch is
not taken over while it is still being worked on (should one item outlast the lease, the
ledger's keys still make the second attempt harmless).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.billing.ledger import support_requests, write_transaction
from chatserver.billing.models import BillingDue

billing_due: sa.Table = BillingDue.__table__  # type: ignore[attr-defined]

REPLY = "reply"
CLOSE = "close"
MAX_ERROR_CHARS = 500

# Plain SQL for the store's sync connection. Only verified customers owe anything; the
# customer is the one the visitor was when the debit fell due.
_RECORD = (
    "INSERT INTO billing_due (key, kind, conversation_id, customer_email, created_ms, "
    "not_before_ms, attempts) "
    "SELECT :key, :kind, c.id, v.customer_email, :now, 0, 0 "
    "FROM conversations c JOIN visitors v ON v.id = c.visitor_id "
    "WHERE c.id = :id AND v.customer_email IS NOT NULL{extra} "
    "ON CONFLICT (key) DO NOTHING"
)
RECORD_REPLY_SQL = _RECORD.format(extra="")
_RECORD_REPLY = sa.text(RECORD_REPLY_SQL)
# Per-block billing charges human time: none if no human ever had the chat.
_RECORD_CLOSE = sa.text(
    _RECORD.format(extra=" AND (c.first_human_reply_ms IS NOT NULL OR c.assigned_ms IS NOT NULL)")
)


def due_key(kind: str, conversation_id: str) -> str:
    return f"{kind}:{conversation_id}"


def reply_due_params(conversation_ids: Iterable[str], now_ms: int) -> list[dict[str, Any]]:
    """``RECORD_REPLY_SQL``'s parameters: one set per conversation."""
    return [
        {"key": due_key(REPLY, cid), "kind": REPLY, "id": cid, "now": now_ms}
        for cid in conversation_ids
    ]


def record_reply_due(conn: Connection, conversation_ids: Iterable[str], now_ms: int) -> None:
    """In the caller's transaction: the first human replies of these conversations are owed."""
    params = reply_due_params(conversation_ids, now_ms)
    if params:
        conn.execute(_RECORD_REPLY, params)


def record_close_due(conn: Connection, conversation_id: str, now_ms: int) -> None:
    """In the caller's transaction: the human time of a conversation closing now is owed."""
    conn.execute(
        _RECORD_CLOSE,
        {
            "key": due_key(CLOSE, conversation_id),
            "kind": CLOSE,
            "id": conversation_id,
            "now": now_ms,
        },
    )


@dataclass(frozen=True, slots=True)
class DueDebit:
    id: int
    kind: str
    conversation_id: str
    customer_email: str
    attempts: int  # this claim included


@dataclass(frozen=True, slots=True)
class DueSupport:
    id: int
    customer_email: str
    order_number: str
    credits: int
    note: str
    attempts: int  # this claim included


def _done(table: sa.Table) -> Any:
    return table.c.done_ms if table is billing_due else table.c.claimed_ms


def _pending(table: sa.Table, now_ms: int) -> Any:
    return sa.and_(_done(table).is_(None), table.c.not_before_ms <= now_ms)


async def anything_due(engine: AsyncEngine, now_ms: int) -> bool:
    """A plain read first, so an idle worker never takes SQLite's write lock."""
    async with engine.connect() as conn:
        for table in (billing_due, support_requests):
            query = sa.select(table.c.id).where(_pending(table, now_ms)).limit(1)
            if (await conn.execute(query)).first() is not None:
                return True
    return False


async def _claim(
    engine: AsyncEngine, table: sa.Table, now_ms: int, lease_ms: int, limit: int
) -> list[sa.Row[Any]]:
    async with write_transaction(engine) as conn:
        ids = sa.select(table.c.id).where(_pending(table, now_ms)).order_by(table.c.id).limit(limit)
        if conn.dialect.name == "postgresql":
            ids = ids.with_for_update(skip_locked=True)
        result = await conn.execute(
            sa.update(table)
            .where(table.c.id.in_(ids))
            .values(not_before_ms=now_ms + lease_ms, attempts=table.c.attempts + 1)
            .returning(*table.c)
        )
        return sorted(result.all(), key=lambda row: row.id)


async def claim_debits(
    engine: AsyncEngine, now_ms: int, lease_ms: int, limit: int = 50
) -> list[DueDebit]:
    rows = await _claim(engine, billing_due, now_ms, lease_ms, limit)
    return [DueDebit(r.id, r.kind, r.conversation_id, r.customer_email, r.attempts) for r in rows]


async def claim_support(
    engine: AsyncEngine, now_ms: int, lease_ms: int, limit: int = 50
) -> list[DueSupport]:
    rows = await _claim(engine, support_requests, now_ms, lease_ms, limit)
    return [
        DueSupport(r.id, r.customer_email, r.order_number, r.credits, r.note, r.attempts)
        for r in rows
    ]


async def finish_debit(engine: AsyncEngine, due_id: int, outcome: str, now_ms: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(billing_due)
            .where(billing_due.c.id == due_id)
            .values(done_ms=now_ms, outcome=outcome[:32], last_error=None)
        )


async def finish_support(engine: AsyncEngine, request_id: int, now_ms: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(support_requests)
            .where(support_requests.c.id == request_id)
            .values(claimed_ms=now_ms, last_error=None)
        )


async def retry_later(
    engine: AsyncEngine, table: sa.Table, row_id: int, error: str, not_before_ms: int
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(table)
            .where(table.c.id == row_id, _done(table).is_(None))
            .values(not_before_ms=not_before_ms, last_error=error[:MAX_ERROR_CHARS])
        )


async def release(engine: AsyncEngine, table: sa.Table, row_ids: list[int]) -> None:
    """Give back claimed rows not worked on, for any process to take at once."""
    if not row_ids:
        return
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(table)
            .where(table.c.id.in_(row_ids), _done(table).is_(None))
            .values(not_before_ms=0, attempts=table.c.attempts - 1)
        )


async def debits(engine: AsyncEngine, conversation_id: str | None = None) -> list[dict[str, Any]]:
    """Due rows, oldest first (for tests and operators)."""
    query = sa.select(billing_due).order_by(billing_due.c.id)
    if conversation_id is not None:
        query = query.where(billing_due.c.conversation_id == conversation_id)
    async with engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(query)]
