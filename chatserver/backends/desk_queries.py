"""The desk's reads, as sync functions of one SQLAlchemy connection, for ``Store.read``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from chatserver.backends.models import Agent, Conversation, CustomerNote, Message, Visitor
from chatserver.billing.models import CreditEntry, WcOrder

conversations_t: sa.Table = Conversation.__table__  # type: ignore[attr-defined]
messages_t: sa.Table = Message.__table__  # type: ignore[attr-defined]
visitors_t: sa.Table = Visitor.__table__  # type: ignore[attr-defined]
agents_t: sa.Table = Agent.__table__  # type: ignore[attr-defined]
entries_t: sa.Table = CreditEntry.__table__  # type: ignore[attr-defined]
orders_t: sa.Table = WcOrder.__table__  # type: ignore[attr-defined]

PAST_LIMIT = 20
ORDERS_LIMIT = 20


def _dicts(result: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in result]


def conversations_created(conn: Connection, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
    return _dicts(
        conn.execute(
            sa.select(conversations_t)
            .where(conversations_t.c.created_ms >= start_ms)
            .where(conversations_t.c.created_ms < end_ms)
            .order_by(conversations_t.c.created_ms)
        )
    )


def conversations_closed(conn: Connection, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
    return _dicts(
        conn.execute(
            sa.select(conversations_t)
            .where(conversations_t.c.closed_ms >= start_ms)
            .where(conversations_t.c.closed_ms < end_ms)
            .order_by(conversations_t.c.closed_ms)
        )
    )


def texts_between(conn: Connection, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
    """Visitor and agent texts (the response-time clock), in seq order per conversation."""
    return _dicts(
        conn.execute(
            sa.select(messages_t.c.conversation_id, messages_t.c.author, messages_t.c.created_ms)
            .where(messages_t.c.created_ms >= start_ms)
            .where(messages_t.c.created_ms < end_ms)
            .where(messages_t.c.kind == "text")
            .where(messages_t.c.author.in_(("visitor", "agent")))
            .order_by(messages_t.c.conversation_id, messages_t.c.seq)
        )
    )


def credits_spent(conn: Connection, start_ms: int) -> int:
    total = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(entries_t.c.amount), 0))
        .where(entries_t.c.kind == "debit")
        .where(entries_t.c.created_ms >= start_ms)
    ).scalar_one()
    return -int(total)


def held_by_bot(conn: Connection) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(conversations_t)
            .where(conversations_t.c.state == "bot")
        ).scalar_one()
    )


def agent_names(conn: Connection) -> dict[int, str]:
    return {r.id: r.name for r in conn.execute(sa.select(agents_t.c.id, agents_t.c.name))}


def past_conversations(
    conn: Connection, visitor_id: str, customer_email: str | None, except_id: str
) -> list[dict[str, Any]]:
    """The visitor's earlier conversations, and a verified customer's from other browsers."""
    who = conversations_t.c.visitor_id == visitor_id
    if customer_email:
        others = sa.select(visitors_t.c.id).where(visitors_t.c.customer_email == customer_email)
        who = who | conversations_t.c.visitor_id.in_(others)
    cols = (
        conversations_t.c.id,
        conversations_t.c.state,
        conversations_t.c.created_ms,
        conversations_t.c.closed_ms,
        conversations_t.c.tags,
        conversations_t.c.outcome,
        conversations_t.c.csat_score,
        conversations_t.c.agent_id,
    )
    return _dicts(
        conn.execute(
            sa.select(*cols)
            .where(who)
            .where(conversations_t.c.id != except_id)
            .order_by(conversations_t.c.created_ms.desc())
            .limit(PAST_LIMIT)
        )
    )


def orders_of(conn: Connection, customer_email: str) -> list[dict[str, Any]]:
    return _dicts(
        conn.execute(
            sa.select(orders_t.c.number, orders_t.c.status, orders_t.c.modified_ms)
            .where(orders_t.c.customer_email == customer_email)
            .order_by(orders_t.c.modified_ms.desc())
            .limit(ORDERS_LIMIT)
        )
    )


def set_close_details(conn: Connection, conv_id: str, tags: str | None, outcome: str | None) -> int:
    """Tags and outcome onto an open conversation; the close itself is the hub's."""
    result = conn.execute(
        sa.update(conversations_t)
        .where(conversations_t.c.id == conv_id)
        .where(conversations_t.c.state.in_(("bot", "offered", "active")))
        .values(tags=tags, outcome=outcome)
    )
    return int(result.rowcount or 0)


def notes_of(conn: Any, visitor_id: str, customer_email: str | None) -> list[dict[str, Any]]:
    """The team's notes on this visitor, or on the verified customer behind them."""
    t = CustomerNote.__table__  # type: ignore[attr-defined]
    who = t.c.visitor_id == visitor_id
    if customer_email:
        who = sa.or_(who, t.c.customer_email == customer_email)
    rows = conn.execute(
        sa.select(t.c.id, t.c.author_agent_id, t.c.body, t.c.created_ms)
        .where(who)
        .order_by(t.c.created_ms.desc(), t.c.id.desc())
        .limit(100)
    )
    return [dict(r._mapping) for r in rows]


def add_note(
    conn: Any, visitor_id: str, customer_email: str | None, agent_id: int, body: str, ts: int
) -> int:
    t = CustomerNote.__table__  # type: ignore[attr-defined]
    result = conn.execute(
        t.insert().values(
            visitor_id=visitor_id,
            customer_email=customer_email,
            author_agent_id=agent_id,
            body=body,
            created_ms=ts,
        )
    )
    return int(result.inserted_primary_key[0])


def arrival_times(
    conn: Connection, start_ms: int, end_ms: int, team: str | None, language: str | None
) -> list[int]:
    """When conversations were opened (the forecast's history), of one team and language."""
    query = (
        sa.select(conversations_t.c.created_ms)
        .where(conversations_t.c.created_ms >= start_ms)
        .where(conversations_t.c.created_ms < end_ms)
    )
    if team is not None:
        query = query.where(conversations_t.c.team == team)
    if language is not None:
        query = query.where(conversations_t.c.language == language)
    return [int(r[0]) for r in conn.execute(query.order_by(conversations_t.c.created_ms))]


def staffed_conversations(conn: Connection, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
    """Conversations an agent held that were assigned in the window (the cap curves)."""
    c = conversations_t.c
    return _dicts(
        conn.execute(
            sa.select(c.id, c.agent_id, c.team, c.assigned_ms, c.closed_ms, c.csat_score)
            .where(c.assigned_ms >= start_ms)
            .where(c.assigned_ms < end_ms)
            .where(c.agent_id.is_not(None))
            .order_by(c.assigned_ms)
        )
    )


def texts_with_authors(conn: Connection, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
    """Like ``texts_between``, with which agent wrote each reply."""
    m = messages_t.c
    return _dicts(
        conn.execute(
            sa.select(m.conversation_id, m.author, m.author_id, m.created_ms)
            .where(m.created_ms >= start_ms)
            .where(m.created_ms < end_ms)
            .where(m.kind == "text")
            .where(m.author.in_(("visitor", "agent")))
            .order_by(m.conversation_id, m.seq)
        )
    )
