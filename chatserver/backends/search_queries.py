"""Full-text search in the database's own engine: the indexer's batches and the queries,
as sync functions of one connection. Texts arrive folded (the caller folds with
``kb.normalize``); SQLite answers through FTS5 (``search_fts``), PostgreSQL through the
``tsv`` column and its GIN index (migration 0009_search)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from chatserver.backends.inbox_queries import Filters, visible_where
from chatserver.backends.models import (
    Conversation,
    Message,
    OfflineMessage,
    SearchDoc,
    SearchMark,
    Visitor,
)

docs_t: sa.Table = SearchDoc.__table__  # type: ignore[attr-defined]
marks_t: sa.Table = SearchMark.__table__  # type: ignore[attr-defined]
messages_t: sa.Table = Message.__table__  # type: ignore[attr-defined]
conversations_t: sa.Table = Conversation.__table__  # type: ignore[attr-defined]
visitors_t: sa.Table = Visitor.__table__  # type: ignore[attr-defined]
offline_t: sa.Table = OfflineMessage.__table__  # type: ignore[attr-defined]

# Counting every hit of a common word costs more than the page itself: totals stop here
# (the answer says "at least" past it).
COUNT_CAP = 1000
MESSAGES_MARK = "messages"
VISITORS_MARK = "visitors"

# (text, language) -> the folded form to index.
Folder = Callable[[str, str | None], str]


def _mark(conn: Connection, name: str) -> int:
    value = conn.execute(sa.select(marks_t.c.value).where(marks_t.c.name == name)).scalar()
    return int(value or 0)


def _set_mark(conn: Connection, name: str, value: int) -> None:
    updated = conn.execute(
        sa.update(marks_t).where(marks_t.c.name == name).values(value=value)
    ).rowcount
    if not updated:
        conn.execute(sa.insert(marks_t).values(name=name, value=value))


def index_messages(conn: Connection, fold: Folder, limit: int) -> int:
    """Index up to ``limit`` texts written since the last batch; how many were read."""
    after = _mark(conn, MESSAGES_MARK)
    rows = conn.execute(
        sa.select(
            messages_t.c.id,
            messages_t.c.conversation_id,
            messages_t.c.body,
            messages_t.c.kind,
            messages_t.c.created_ms,
            conversations_t.c.visitor_id,
            conversations_t.c.language,
        )
        .join(conversations_t, conversations_t.c.id == messages_t.c.conversation_id)
        .where(messages_t.c.id > after)
        .order_by(messages_t.c.id)
        .limit(limit)
    ).fetchall()
    if not rows:
        return 0
    docs = [
        {
            "kind": "message",
            "ref": str(r.id),
            "visitor_id": r.visitor_id,
            "conversation_id": r.conversation_id,
            "message_id": r.id,
            "folded": fold(r.body, r.language),
            "created_ms": r.created_ms,
        }
        for r in rows
        if r.kind == "text" and r.body
    ]
    if docs:
        conn.execute(sa.insert(docs_t), docs)
    _set_mark(conn, MESSAGES_MARK, int(rows[-1].id))
    return len(rows)


def index_customers(conn: Connection, fold: Folder, limit: int) -> int:
    """(Re-)index visitors seen since the last batch who gave a name or an e-mail: their
    name, typed e-mail, verified e-mail and offline-form e-mails."""
    since = _mark(conn, VISITORS_MARK)
    rows = conn.execute(
        sa.select(
            visitors_t.c.id,
            visitors_t.c.name,
            visitors_t.c.email,
            visitors_t.c.customer_email,
            visitors_t.c.language,
            visitors_t.c.last_seen_ms,
        )
        .where(visitors_t.c.last_seen_ms >= since)
        .where(
            sa.or_(
                visitors_t.c.name.is_not(None),
                visitors_t.c.email.is_not(None),
                visitors_t.c.customer_email.is_not(None),
                sa.exists().where(offline_t.c.visitor_id == visitors_t.c.id),
            )
        )
        .order_by(visitors_t.c.last_seen_ms, visitors_t.c.id)
        .limit(limit)
    ).fetchall()
    if not rows:
        return 0
    ids = [r.id for r in rows]
    offline_emails: dict[str, set[str]] = {}
    for vid, email in conn.execute(
        sa.select(offline_t.c.visitor_id, offline_t.c.email).where(offline_t.c.visitor_id.in_(ids))
    ):
        offline_emails.setdefault(vid, set()).add(email)
    conn.execute(sa.delete(docs_t).where(docs_t.c.kind == "customer").where(docs_t.c.ref.in_(ids)))
    docs = []
    for r in rows:
        parts = [r.name, r.email, r.customer_email, *sorted(offline_emails.get(r.id, ()))]
        text = " ".join(p for p in parts if p)
        docs.append(
            {
                "kind": "customer",
                "ref": r.id,
                "visitor_id": r.id,
                "conversation_id": None,
                "message_id": None,
                "folded": fold(text, r.language),
                "created_ms": r.last_seen_ms,
            }
        )
    conn.execute(sa.insert(docs_t), docs)
    last = int(rows[-1].last_seen_ms)
    # A full batch of one millisecond would read itself again for ever: step past it.
    _set_mark(conn, VISITORS_MARK, last + 1 if len(rows) < limit or last == since else last)
    return len(rows)


# ---------------------------------------------------------------------------- queries


def _match(conn: Connection, variants: Sequence[Sequence[str]]) -> sa.ColumnElement[bool]:
    """Docs holding every term (as a word prefix) of any one variant of the query."""
    if conn.dialect.name == "postgresql":
        query = " | ".join("(" + " & ".join(f"{t}:*" for t in v) + ")" for v in variants)
        # ``tsv`` is the generated column of migration 0009_search (not in the model).
        tsv: sa.ColumnElement[Any] = sa.literal_column("search_docs.tsv")
        matched: sa.ColumnElement[bool] = tsv.op("@@")(sa.func.to_tsquery("simple", query))
        return matched
    query = " OR ".join("(" + " ".join(f'"{t}"*' for t in v) + ")" for v in variants)
    hits = sa.text("SELECT rowid FROM search_fts WHERE search_fts MATCH :q").bindparams(q=query)
    return docs_t.c.id.in_(hits.columns(sa.column("rowid", sa.Integer)))


def _capped_count(conn: Connection, joined: Any, where: sa.ColumnElement[bool]) -> int:
    hits = sa.select(sa.literal(1)).select_from(joined).where(where).limit(COUNT_CAP + 1)
    return int(conn.execute(sa.select(sa.func.count()).select_from(hits.subquery())).scalar_one())


def search_messages(
    conn: Connection, variants: Sequence[Sequence[str]], f: Filters
) -> tuple[list[dict[str, Any]], int]:
    """Messages the reader may read that match, newest first: one page and the total."""
    joined = docs_t.join(conversations_t, conversations_t.c.id == docs_t.c.conversation_id).join(
        messages_t, messages_t.c.id == docs_t.c.message_id
    )
    where = sa.and_(docs_t.c.kind == "message", _match(conn, variants), visible_where(f))
    rows = conn.execute(
        sa.select(
            docs_t.c.conversation_id,
            messages_t.c.seq,
            messages_t.c.author,
            messages_t.c.author_name,
            messages_t.c.body,
            messages_t.c.created_ms,
            conversations_t.c.state,
            conversations_t.c.language,
        )
        .select_from(joined)
        .where(where)
        .order_by(docs_t.c.created_ms.desc(), docs_t.c.id.desc())
        .offset(f.offset)
        .limit(f.limit)
    )
    return [dict(r._mapping) for r in rows], _capped_count(conn, joined, where)


def search_customers(
    conn: Connection, variants: Sequence[Sequence[str]], f: Filters
) -> tuple[list[dict[str, Any]], int]:
    """Customers (visitors with a name or an e-mail) that match and of whom the reader may
    read at least one conversation."""
    readable = (
        sa.select(conversations_t.c.id)
        .where(conversations_t.c.visitor_id == visitors_t.c.id)
        .where(visible_where(f))
        .exists()
    )
    joined = docs_t.join(visitors_t, visitors_t.c.id == docs_t.c.visitor_id)
    where = sa.and_(docs_t.c.kind == "customer", _match(conn, variants), readable)
    rows = conn.execute(
        sa.select(
            visitors_t.c.id.label("visitor_id"),
            visitors_t.c.name,
            visitors_t.c.email,
            visitors_t.c.customer_email,
            visitors_t.c.language,
            visitors_t.c.last_seen_ms,
        )
        .select_from(joined)
        .where(where)
        .order_by(visitors_t.c.last_seen_ms.desc(), visitors_t.c.id)
        .offset(f.offset)
        .limit(f.limit)
    )
    return [dict(r._mapping) for r in rows], _capped_count(conn, joined, where)
