"""The inbox's reads and writes, as sync functions of one SQLAlchemy connection (for
``Store.read`` / ``Store.write``): offline messages as conversations, the views and their
filters, the counts, a reopen.

An offline-form message is a conversation in state ``offline``: outside the open states (so
the one-open-conversation-per-visitor index does not count it and the router never sees it),
with the visitor's text as its first message and the e-mail on its ``offline_messages`` row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from chatserver.backends.models import (
    OPEN_STATES,
    Agent,
    Conversation,
    ConversationEvent,
    Message,
    OfflineMessage,
    Visitor,
)
from chatserver.backends.store import new_id, now_ms
from chatserver.billing.models import CreditEntry

conversations_t: sa.Table = Conversation.__table__  # type: ignore[attr-defined]
messages_t: sa.Table = Message.__table__  # type: ignore[attr-defined]
visitors_t: sa.Table = Visitor.__table__  # type: ignore[attr-defined]
agents_t: sa.Table = Agent.__table__  # type: ignore[attr-defined]
events_t: sa.Table = ConversationEvent.__table__  # type: ignore[attr-defined]
offline_t: sa.Table = OfflineMessage.__table__  # type: ignore[attr-defined]
entries_t: sa.Table = CreditEntry.__table__  # type: ignore[attr-defined]

OFFLINE = "offline"
CLOSED_STATES = ("closed", "rated", "abandoned")
# What a reopen may start from: a finished chat or an offline message.
REOPENABLE = (*CLOSED_STATES, OFFLINE)
VIEWS = ("mine", "waiting", "open", "offline", "closed")
PAGE_MAX = 100


# ---------------------------------------------------------------------------- offline messages


def create_offline_conversation(
    conn: Connection,
    *,
    visitor_id: str,
    site: str,
    language: str | None,
    name: str | None,
    email: str,
    text: str,
    from_conversation: str | None,
) -> str:
    """The conversation, its first event, the visitor's text as seq 1 and the offline row,
    in the caller's transaction: the message is never stored without its conversation."""
    ts = now_ms()
    conv_id = new_id()
    conn.execute(
        sa.insert(conversations_t).values(
            id=conv_id,
            visitor_id=visitor_id,
            site=site,
            state=OFFLINE,
            language=language,
            created_ms=ts,
            last_seq=1,
            visitor_seen_seq=1,
            agent_seen_seq=0,
        )
    )
    detail = {"email": email, "from_conversation": from_conversation}
    conn.execute(
        sa.insert(events_t).values(
            conversation_id=conv_id,
            from_state=None,
            to_state=OFFLINE,
            actor=f"visitor:{visitor_id}",
            detail=json.dumps(detail),
            created_ms=ts,
        )
    )
    conn.execute(
        sa.insert(messages_t).values(
            conversation_id=conv_id,
            seq=1,
            kind="text",
            author="visitor",
            author_id=visitor_id,
            author_name=name,
            body=text,
            data=json.dumps({"via": "offline_form", "email": email}),
            created_ms=ts,
        )
    )
    conn.execute(
        sa.insert(offline_t).values(
            visitor_id=visitor_id,
            conversation_id=conv_id,
            name=name,
            email=email,
            text=text,
            language=language,
            created_ms=ts,
        )
    )
    return conv_id


def offline_email(conn: Connection, conv_id: str) -> str | None:
    """The address a reply to an offline conversation goes to (the mail sender reads it)."""
    return conn.execute(
        sa.select(offline_t.c.email)
        .where(offline_t.c.conversation_id == conv_id)
        .order_by(offline_t.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def assign_offline(conn: Connection, conv_id: str, agent_id: int | None, actor: str) -> bool:
    """Give an offline conversation to an agent (or to nobody): it is not live, so no cap."""
    row = conn.execute(
        sa.update(conversations_t)
        .where(conversations_t.c.id == conv_id)
        .where(conversations_t.c.state == OFFLINE)
        .values(agent_id=agent_id, assigned_ms=now_ms() if agent_id is not None else None)
        .returning(conversations_t.c.id)
    ).first()
    if row is None:
        return False
    conn.execute(
        sa.insert(events_t).values(
            conversation_id=conv_id,
            from_state=OFFLINE,
            to_state=OFFLINE,
            actor=actor,
            detail=json.dumps({"assigned_to": agent_id}),
            created_ms=now_ms(),
        )
    )
    return True


def reopen(conn: Connection, conv_id: str, actor: str) -> dict[str, Any] | None:
    """A closed chat or an offline message back to ``bot`` (waiting for a human, routed like
    a new chat); None when it is not reopenable. The visitor's other open conversation, if
    any, makes the unique index refuse (IntegrityError, for the caller to report)."""
    current = conn.execute(
        sa.select(conversations_t.c.state).where(conversations_t.c.id == conv_id)
    ).scalar_one_or_none()
    if current not in REOPENABLE:
        return None
    row = conn.execute(
        sa.update(conversations_t)
        .where(conversations_t.c.id == conv_id)
        .where(conversations_t.c.state == current)
        .values(state="bot", agent_id=None, assigned_ms=None, closed_ms=None, closed_by=None)
        .returning(*conversations_t.c)
    ).first()
    if row is None:
        return None
    conn.execute(
        sa.insert(events_t).values(
            conversation_id=conv_id,
            from_state=current,
            to_state="bot",
            actor=actor,
            detail=json.dumps({"reopened": True}),
            created_ms=now_ms(),
        )
    )
    return dict(row._mapping)


# ---------------------------------------------------------------------------- views


@dataclass(frozen=True, slots=True)
class Filters:
    """A view and its filters; ``None`` means "any"."""

    view: str
    me: int
    supervisor: bool
    teams: frozenset[str] = frozenset()
    state: str | None = None
    agent_id: int | None = None
    team: str | None = None
    language: str | None = None
    tag: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    paying: bool | None = None
    offset: int = 0
    limit: int = 50


def _paying() -> sa.ColumnElement[bool]:
    """A verified customer with credits left."""
    balance = (
        sa.select(sa.func.coalesce(sa.func.sum(entries_t.c.amount), 0))
        .where(entries_t.c.customer_email == visitors_t.c.customer_email)
        .scalar_subquery()
    )
    return sa.and_(visitors_t.c.customer_email.is_not(None), balance > 0)


def _view_where(f: Filters) -> sa.ColumnElement[bool]:
    c = conversations_t.c
    if f.view == "mine":
        return sa.and_(c.agent_id == f.me, c.state.in_((*OPEN_STATES, OFFLINE)))
    if f.view == "waiting":
        return sa.and_(c.state == "bot", c.agent_id.is_(None))
    if f.view == "open":
        return c.state.in_(OPEN_STATES)
    if f.view == "offline":
        return c.state == OFFLINE
    return c.state.in_(CLOSED_STATES)


def visible_where(f: Filters) -> sa.ColumnElement[bool]:
    """What the reader's role may read: supervisors everything; an agent their own
    conversations, the waiting ones of their teams (or with no team), and offline messages
    (the whole team answers those)."""
    c = conversations_t.c
    if f.supervisor:
        return sa.true()
    team_ok = c.team.is_(None) | c.team.in_(sorted(f.teams)) if f.teams else c.team.is_(None)
    return sa.or_(
        c.agent_id == f.me,
        sa.and_(c.state == "bot", team_ok),
        c.state == OFFLINE,
    )


def _where(f: Filters) -> sa.ColumnElement[bool]:
    c = conversations_t.c
    parts = [_view_where(f), visible_where(f)]
    if f.state:
        parts.append(c.state == f.state)
    if f.agent_id is not None:
        parts.append(c.agent_id == f.agent_id)
    if f.team:
        parts.append(c.team == f.team)
    if f.language:
        parts.append(sa.or_(c.language == f.language, c.language.like(f"{f.language}-%")))
    if f.tag:
        # Tags are stored comma-separated: match one whole tag.
        parts.append(sa.literal(",").op("||")(c.tags).op("||")(",").like(f"%,{f.tag},%"))
    if f.since_ms is not None:
        parts.append(c.created_ms >= f.since_ms)
    if f.until_ms is not None:
        parts.append(c.created_ms < f.until_ms)
    if f.paying is not None:
        parts.append(_paying() if f.paying else sa.not_(_paying()))
    return sa.and_(*parts)


def list_view(conn: Connection, f: Filters) -> tuple[list[dict[str, Any]], int]:
    """One page of a view, longest-waiting first (closed: latest closed first), and the
    total it pages through."""
    c = conversations_t.c
    first_text = (
        sa.select(messages_t.c.body)
        .where(messages_t.c.conversation_id == c.id)
        .where(messages_t.c.kind == "text")
        .where(messages_t.c.author == "visitor")
        .order_by(messages_t.c.seq)
        .limit(1)
        .scalar_subquery()
    )
    email = (
        sa.select(offline_t.c.email)
        .where(offline_t.c.conversation_id == c.id)
        .order_by(offline_t.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    joined = conversations_t.join(visitors_t, visitors_t.c.id == c.visitor_id)
    where = _where(f)
    order = (c.closed_ms.desc(), c.id) if f.view == "closed" else (c.created_ms.asc(), c.id)
    rows = conn.execute(
        sa.select(
            c.id,
            c.state,
            c.agent_id,
            c.team,
            c.language,
            c.created_ms,
            c.closed_ms,
            c.tags,
            c.csat_score,
            c.visitor_id,
            visitors_t.c.name.label("visitor_name"),
            sa.func.coalesce(email, visitors_t.c.email).label("email"),
            _paying().label("paying"),
            first_text.label("first_message"),
        )
        .select_from(joined)
        .where(where)
        .order_by(*order)
        .offset(f.offset)
        .limit(min(f.limit, PAGE_MAX))
    )
    total = conn.execute(sa.select(sa.func.count()).select_from(joined).where(where)).scalar_one()
    return [dict(r._mapping) for r in rows], int(total)


def counts(conn: Connection, me: int, supervisor: bool, teams: frozenset[str]) -> dict[str, int]:
    """How many each view holds for this reader."""
    out: dict[str, int] = {}
    for view in VIEWS:
        if view == "open" and not supervisor:
            continue
        f = Filters(view=view, me=me, supervisor=supervisor, teams=teams)
        out[view] = int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(conversations_t)
                .where(_view_where(f))
                .where(visible_where(f))
            ).scalar_one()
        )
    return out


def events_of(conn: Connection, conv_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(
            events_t.c.from_state,
            events_t.c.to_state,
            events_t.c.actor,
            events_t.c.detail,
            events_t.c.created_ms,
        )
        .where(events_t.c.conversation_id == conv_id)
        .order_by(events_t.c.id)
    )
    return [dict(r._mapping) for r in rows]


def credits_used(conn: Connection, conv_id: str) -> int:
    """Credits this conversation cost (debits net of reversals)."""
    total = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(entries_t.c.amount), 0)).where(
            entries_t.c.conversation_id == conv_id
        )
    ).scalar_one()
    return -int(total)
