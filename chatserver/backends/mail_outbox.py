"""The mail outbox: every mail the hub sends is a row here before it is sent.

A continuity mail (an agent's reply a visitor has not seen) is written inside the group
commit's transaction that stores the reply, so no crash can keep the reply and lose the
mail. Its key, ``continuity:<conversation>``, is unique while the mail is pending: replies
written before it goes out find it there and become part of it (a burst is one mail). When
it is sent its key is renamed, so the next reply opens the next mail.

Claims work as the billing outboxes' (``billing/due.py``): a lease moved forward under
``FOR UPDATE SKIP LOCKED`` (PostgreSQL) or ``BEGIN IMMEDIATE`` (SQLite); a process killed
while sending loses its lease to any other when it ends. Every attempt sends the
Message-ID fixed when the row was written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.backends.models import MailOutbox
from chatserver.billing.ledger import write_transaction

mail_outbox: sa.Table = MailOutbox.__table__  # type: ignore[attr-defined]

CONTINUITY = "continuity"
TRANSCRIPT = "transcript"
MAX_ERROR_CHARS = 500

# The address a conversation's mail goes to: the verified identity's, else the pre-chat
# form's, else the one left with an offline message (of this conversation first, else the
# visitor's latest) — however the inbox turns offline messages into conversations.
_ADDRESS = (
    "COALESCE(v.customer_email, v.email, (SELECT o.email FROM offline_messages o "
    "WHERE o.conversation_id = c.id ORDER BY o.id DESC LIMIT 1), "
    "(SELECT o.email FROM offline_messages o WHERE o.visitor_id = v.id "
    "ORDER BY o.id DESC LIMIT 1))"
)
RECORD_CONTINUITY_SQL = (
    "INSERT INTO mail_outbox (key, kind, conversation_id, to_addr, language, message_id, "
    "created_ms, not_before_ms, attempts) "
    f"SELECT :key, :kind, c.id, {_ADDRESS}, COALESCE(c.language, v.language), :message_id, "
    ":now, :not_before, 0 FROM conversations c JOIN visitors v ON v.id = c.visitor_id "
    f"WHERE c.id = :id AND {_ADDRESS} IS NOT NULL "
    "ON CONFLICT (key) DO NOTHING"
)
_RECORD = sa.text(RECORD_CONTINUITY_SQL)


def new_message_id(domain: str) -> str:
    return f"<{uuid.uuid4().hex}@{domain}>"


def continuity_key(conversation_id: str) -> str:
    return f"{CONTINUITY}:{conversation_id}"


def record_continuity(
    conn: Connection, conversation_ids: Iterable[str], now_ms: int, after_ms: int, domain: str
) -> None:
    """In the caller's transaction: agents replied in these conversations; a mail is due
    ``after_ms`` from now unless one is pending already (then the reply joins it)."""
    params = continuity_params(conversation_ids, now_ms, after_ms, domain)
    if params:
        conn.execute(_RECORD, params)


def continuity_params(
    conversation_ids: Iterable[str], now_ms: int, after_ms: int, domain: str
) -> list[dict[str, Any]]:
    """``RECORD_CONTINUITY_SQL``'s parameters: one set per conversation."""
    return [
        {
            "key": continuity_key(cid),
            "kind": CONTINUITY,
            "id": cid,
            "message_id": new_message_id(domain),
            "now": now_ms,
            "not_before": now_ms + after_ms,
        }
        for cid in sorted(set(conversation_ids))
    ]


async def record_transcript(
    engine: AsyncEngine, conversation_id: str, now_ms: int, domain: str
) -> bool:
    """A transcript of a conversation, once (a second request is the same mail)."""
    async with engine.begin() as conn:
        result = await conn.execute(
            _RECORD,
            {
                "key": f"{TRANSCRIPT}:{conversation_id}",
                "kind": TRANSCRIPT,
                "id": conversation_id,
                "message_id": new_message_id(domain),
                "now": now_ms,
                "not_before": now_ms,
            },
        )
        return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class DueMail:
    id: int
    kind: str
    conversation_id: str
    to_addr: str
    language: str | None
    message_id: str
    attempts: int  # this claim included


def _pending(now_ms: int) -> Any:
    return sa.and_(mail_outbox.c.sent_ms.is_(None), mail_outbox.c.not_before_ms <= now_ms)


async def anything_due(engine: AsyncEngine, now_ms: int) -> bool:
    """A plain read first, so an idle worker never takes SQLite's write lock."""
    async with engine.connect() as conn:
        query = sa.select(mail_outbox.c.id).where(_pending(now_ms)).limit(1)
        return (await conn.execute(query)).first() is not None


async def claim(engine: AsyncEngine, now_ms: int, lease_ms: int, limit: int) -> list[DueMail]:
    t = mail_outbox
    async with write_transaction(engine) as conn:
        ids = sa.select(t.c.id).where(_pending(now_ms)).order_by(t.c.id).limit(limit)
        if conn.dialect.name == "postgresql":
            ids = ids.with_for_update(skip_locked=True)
        result = await conn.execute(
            sa.update(t)
            .where(t.c.id.in_(ids))
            .values(not_before_ms=now_ms + lease_ms, attempts=t.c.attempts + 1)
            .returning(*t.c)
        )
        rows = sorted(result.all(), key=lambda row: row.id)
    return [
        DueMail(r.id, r.kind, r.conversation_id, r.to_addr, r.language, r.message_id, r.attempts)
        for r in rows
    ]


def finish(
    conn: Connection, mail: DueMail, outcome: str, upto_seq: int | None, now_ms: int
) -> None:
    """Sent (or found not needed): the row is done, and its pending key is freed. On the
    store's own write path (``Store.write``), the quickest commit there is."""
    conn.execute(
        sa.update(mail_outbox)
        .where(mail_outbox.c.id == mail.id)
        .values(
            sent_ms=now_ms,
            outcome=outcome[:32],
            upto_seq=upto_seq,
            last_error=None,
            key=f"{mail.kind}:{mail.conversation_id}:{mail.id}",
        )
    )


async def retry_later(engine: AsyncEngine, mail_id: int, error: str, not_before_ms: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(mail_outbox)
            .where(mail_outbox.c.id == mail_id, mail_outbox.c.sent_ms.is_(None))
            .values(not_before_ms=not_before_ms, last_error=error[:MAX_ERROR_CHARS])
        )


async def release(engine: AsyncEngine, mail_ids: list[int]) -> None:
    """Give back claimed rows not worked on, for any process to take at once."""
    if not mail_ids:
        return
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(mail_outbox)
            .where(mail_outbox.c.id.in_(mail_ids), mail_outbox.c.sent_ms.is_(None))
            .values(not_before_ms=0, attempts=mail_outbox.c.attempts - 1)
        )


def last_mailed_seq(conn: Connection, conversation_id: str) -> int:
    """The last seq an earlier continuity mail of this conversation covered."""
    value = conn.execute(
        sa.select(sa.func.max(mail_outbox.c.upto_seq)).where(
            mail_outbox.c.conversation_id == conversation_id,
            mail_outbox.c.kind == CONTINUITY,
            mail_outbox.c.sent_ms.is_not(None),
        )
    ).scalar_one_or_none()
    return int(value or 0)


async def conversation_of(engine: AsyncEngine, message_ids: list[str]) -> str | None:
    """The conversation one of our mails (by its Message-ID) belongs to."""
    if not message_ids:
        return None
    async with engine.connect() as conn:
        return (
            await conn.execute(
                sa.select(mail_outbox.c.conversation_id)
                .where(mail_outbox.c.message_id.in_(message_ids[:50]))
                .limit(1)
            )
        ).scalar_one_or_none()


_COUNTS = sa.text(
    "SELECT "
    'SUM(CASE WHEN data LIKE \'%"channel": "email"%\' THEN 0 ELSE 1 END) AS chat, '
    'SUM(CASE WHEN data LIKE \'%"channel": "email"%\' THEN 1 ELSE 0 END) AS email '
    "FROM messages WHERE conversation_id = :id AND kind = 'text' "
    "AND author IN ('visitor', 'agent')"
)
_SENT = sa.text("SELECT COUNT(*) FROM mail_outbox WHERE conversation_id = :id AND outcome = 'sent'")


def channel_counts(conn: Connection, conversation_id: str) -> dict[str, int]:
    """A conversation's messages per channel: what people wrote in the chat (the widget,
    the console), what came in by mail, and the mails the hub sent."""
    row = conn.execute(_COUNTS, {"id": conversation_id}).one()
    sent = conn.execute(_SENT, {"id": conversation_id}).scalar_one()
    return {"chat": int(row.chat or 0), "email_in": int(row.email or 0), "email_out": int(sent)}


_EMAIL_TEXT = 'm.data LIKE \'%"channel": "email"%\''
_COUNTS_CREATED = sa.text(
    "SELECT m.conversation_id AS id, "
    f"SUM(CASE WHEN {_EMAIL_TEXT} THEN 0 ELSE 1 END) AS chat, "
    f"SUM(CASE WHEN {_EMAIL_TEXT} THEN 1 ELSE 0 END) AS email "
    "FROM messages m JOIN conversations c ON c.id = m.conversation_id "
    "WHERE c.created_ms >= :start AND c.created_ms < :end AND m.kind = 'text' "
    "AND m.author IN ('visitor', 'agent') GROUP BY m.conversation_id"
)
_SENT_CREATED = sa.text(
    "SELECT o.conversation_id AS id, COUNT(*) AS sent FROM mail_outbox o "
    "JOIN conversations c ON c.id = o.conversation_id "
    "WHERE c.created_ms >= :start AND c.created_ms < :end AND o.outcome = 'sent' "
    "GROUP BY o.conversation_id"
)


def channel_counts_created(
    conn: Connection, start_ms: int, end_ms: int
) -> dict[str, dict[str, int]]:
    """``channel_counts`` of every conversation opened in the window, in two queries (a
    report of a day's conversations reads them at once, not one by one)."""
    window = {"start": start_ms, "end": end_ms}
    out: dict[str, dict[str, int]] = {}
    for row in conn.execute(_COUNTS_CREATED, window):
        out[row.id] = {"chat": int(row.chat or 0), "email_in": int(row.email or 0), "email_out": 0}
    for row in conn.execute(_SENT_CREATED, window):
        counts = out.setdefault(row.id, {"chat": 0, "email_in": 0, "email_out": 0})
        counts["email_out"] = int(row.sent)
    return out


async def mails(engine: AsyncEngine, conversation_id: str | None = None) -> list[dict[str, Any]]:
    """Outbox rows, oldest first (for tests and operators)."""
    query = sa.select(mail_outbox).order_by(mail_outbox.c.id)
    if conversation_id is not None:
        query = query.where(mail_outbox.c.conversation_id == conversation_id)
    async with engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(query)]
