"""Full-text search in the database's own engine: the indexer's batches and the queries,
as sync functions of one connection. Texts arrive folded (the caller folds with
``kb.normalize``); SQLite answers through FTS5 (``search_fts``), PostgreSQL through the
``tsv`` column and its GIN index (migration 0009_search)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from chatserver.backends.inbox_queries import Filters, visible_where
from chatserver.backends.models import (
    Conversation,
    Message,
    OfflineMessage,
    SearchDoc,
    Visitor,
)
from chatserver.backends.plain_sql import PlainSql, in_list

docs_t: sa.Table = SearchDoc.__table__  # type: ignore[attr-defined]
messages_t: sa.Table = Message.__table__  # type: ignore[attr-defined]
conversations_t: sa.Table = Conversation.__table__  # type: ignore[attr-defined]
visitors_t: sa.Table = Visitor.__table__  # type: ignore[attr-defined]
offline_t: sa.Table = OfflineMessage.__table__  # type: ignore[attr-defined]

# Counting every hit of a common word costs more than the page itself: totals stop here
# (the answer says "at least" past it, and a next page is there while there are more).
COUNT_CAP = 100
MESSAGES_MARK = "messages"
VISITORS_MARK = "visitors"

# The indexer's marks, in plain SQL: the message chunks' writes run on SQLite's driver
# connection (``Store.write_plain``).
_MARK = "SELECT value FROM search_marks WHERE name = :name"
_SET_MARK = "UPDATE search_marks SET value = :value WHERE name = :name"
_INSERT_MARK = "INSERT INTO search_marks (name, value) VALUES (:name, :value)"

# (text, language) -> the folded form to index.
Folder = Callable[[str, str | None], str]


def _stored_mark(sql: PlainSql, name: str) -> int | None:
    rows = sql.rows(_MARK, {"name": name})
    return int(rows[0]["value"]) if rows else None


def _mark(conn: Connection, name: str) -> int:
    return _stored_mark(PlainSql(conn), name) or 0


def _set_mark(conn: Connection, name: str, value: int) -> None:
    sql = PlainSql(conn)
    if not sql.count(_SET_MARK, {"name": name, "value": value}):
        sql.count(_INSERT_MARK, {"name": name, "value": value})


def _customers_since(since: int) -> sa.Select[Any]:
    """Visitors seen since ``since`` who gave a name or an e-mail, in the order indexed."""
    return (
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
    )


def pending(conn: Connection) -> bool:
    """Whether anything waits to be indexed: a read, so that a search with nothing new to
    index never queues behind the writer."""
    after = _mark(conn, MESSAGES_MARK)
    if conn.execute(sa.select(messages_t.c.id).where(messages_t.c.id > after).limit(1)).first():
        return True
    if PlainSql(conn).rows(_ANY_HOLE, {}):
        return True
    since = _mark(conn, VISITORS_MARK)
    seen = sa.select(visitors_t.c.id).where(visitors_t.c.last_seen_ms >= since).limit(1)
    return conn.execute(seen).first() is not None


# Message ids the indexer read past without seeing their row. On PostgreSQL several writers
# (hub processes) commit in any order: a message whose id was taken before a later one's
# may commit after the indexer read that later one and moved its mark past both. Each gap
# is kept as a search mark ``hole:<id>`` (its value: when it was seen) and looked for on
# every pass until its message is there, or until HOLE_TTL_MS, after which the id is taken
# to have been rolled back (a refused batch leaves such ids).
HOLE_PREFIX = "hole:"
HOLE_TTL_MS = 15 * 60 * 1000
# A jump of more ids than this is a sequence moved on (a crash, a restore), not writes in
# flight: those hold far fewer (a group commit's batch is at most max_batch, 256 by default).
MAX_HOLES_PER_GAP = 1024


@dataclass(frozen=True)
class MessageDocs:
    """A slice of messages read for the index: the mark it was read after, the last id
    read, how many new rows, and the docs made of their texts (events have none) and of
    the texts of holes that have since arrived; the holes found (seen at ``read_ms``) and
    the holes closed (arrived, or given up)."""

    after: int
    last_id: int
    read: int
    docs: list[dict[str, Any]]
    new_holes: list[int]
    closed_holes: list[int]
    read_ms: int

    @property
    def writes(self) -> bool:
        return bool(self.read or self.docs or self.new_holes or self.closed_holes)


_MESSAGE_COLUMNS_READ = (
    "SELECT m.id, m.conversation_id, m.body, m.kind, m.created_ms, c.visitor_id, c.language "
    "FROM messages AS m JOIN conversations AS c ON c.id = m.conversation_id "
)
_UNINDEXED_MESSAGES = _MESSAGE_COLUMNS_READ + "WHERE m.id > :after ORDER BY m.id LIMIT :limit"
_MESSAGES_BY_ID = _MESSAGE_COLUMNS_READ + "WHERE m.id IN {ids}"
_HOLES = f"SELECT name, value FROM search_marks WHERE name LIKE '{HOLE_PREFIX}%'"
_ANY_HOLE = _HOLES + " LIMIT 1"
_DOC_COLUMNS = (
    "kind",
    "ref",
    "visitor_id",
    "conversation_id",
    "message_id",
    "folded",
    "created_ms",
)
_INSERT_DOCS = f"INSERT INTO search_docs ({', '.join(_DOC_COLUMNS)}) VALUES "
_INSERT_MARKS = "INSERT INTO search_marks (name, value) VALUES "
_MOVE_MARK = "UPDATE search_marks SET value = :to WHERE name = :name AND value = :after"


def _message_doc(r: Mapping[str, Any], fold: Folder) -> dict[str, Any]:
    return {
        "kind": "message",
        "ref": str(r["id"]),
        "visitor_id": r["visitor_id"],
        "conversation_id": r["conversation_id"],
        "message_id": r["id"],
        "folded": fold(r["body"], r["language"]),
        "created_ms": r["created_ms"],
    }


def _gaps(after: int, rows: list[dict[str, Any]], recent_ms: int) -> list[int]:
    """Ids between ``after`` and the rows' ids that no row holds, where the row after the
    gap is recent (an old gap is a deleted message, not a write in flight)."""
    missing: list[int] = []
    previous = after
    for r in rows:
        if r["id"] > previous + 1 and r["created_ms"] >= recent_ms:
            missing.extend(range(max(previous + 1, r["id"] - MAX_HOLES_PER_GAP), r["id"]))
        previous = r["id"]
    return missing


def message_docs(conn: Connection, fold: Folder, limit: int, now: int) -> MessageDocs:
    """Read and fold up to ``limit`` messages written since the mark, and the messages of
    earlier holes that have arrived since (``store_message_docs`` writes what it made)."""
    sql = PlainSql(conn)
    after = _mark(conn, MESSAGES_MARK)
    rows = sql.rows(_UNINDEXED_MESSAGES, {"after": after, "limit": limit})
    holes = {int(h["name"][len(HOLE_PREFIX) :]): int(h["value"]) for h in sql.rows(_HOLES, {})}
    arrived: list[dict[str, Any]] = []
    if holes:
        params: dict[str, Any] = {}
        ids = in_list("h", sorted(holes), params)
        arrived = sql.rows(_MESSAGES_BY_ID.format(ids=ids), params)
    found = {r["id"] for r in arrived}
    closed = [h for h, seen in holes.items() if h in found or seen < now - HOLE_TTL_MS]
    docs = [_message_doc(r, fold) for r in (*arrived, *rows) if r["kind"] == "text" and r["body"]]
    return MessageDocs(
        after,
        int(rows[-1]["id"]) if rows else after,
        len(rows),
        docs,
        _gaps(after, rows, now - HOLE_TTL_MS),
        closed,
        now,
    )


def index_messages(conn: Connection, fold: Folder, limit: int, now: int) -> MessageDocs:
    """``message_docs`` and ``store_message_docs`` in one transaction: what was read.
    Plain SQL only (``Store.write_plain``)."""
    made = message_docs(conn, fold, limit, now)
    if made.writes:
        store_message_docs(conn, made)
    return made


def store_message_docs(conn: Connection, made: MessageDocs) -> bool:
    """Store the docs, note the new holes, forget the closed ones and move the mark past
    the rows read, unless the mark moved since they were read (another hub process
    indexed them): then nothing is written. Plain SQL only (``Store.write_plain``): on
    SQLite this holds the one writer, every conversation's commits with it."""
    sql = PlainSql(conn)
    moved = sql.count(_MOVE_MARK, {"to": made.last_id, "name": MESSAGES_MARK, "after": made.after})
    if not moved:
        if made.after != 0 or _stored_mark(sql, MESSAGES_MARK) is not None:
            return False
        sql.count(_INSERT_MARK, {"name": MESSAGES_MARK, "value": made.last_id})
    if made.docs:
        sql.insert_rows(_INSERT_DOCS, _DOC_COLUMNS, made.docs)
    if made.closed_holes:
        params: dict[str, Any] = {}
        names = in_list("n", [f"{HOLE_PREFIX}{h}" for h in made.closed_holes], params)
        sql.count(f"DELETE FROM search_marks WHERE name IN {names}", params)
    if made.new_holes:
        holes = [{"name": f"{HOLE_PREFIX}{h}", "value": made.read_ms} for h in made.new_holes]
        sql.insert_rows(_INSERT_MARKS, ("name", "value"), holes)
    return True


def index_customers(conn: Connection, fold: Folder, limit: int) -> int:
    """(Re-)index visitors seen since the last batch who gave a name or an e-mail: their
    name, typed e-mail, verified e-mail and offline-form e-mails."""
    since = _mark(conn, VISITORS_MARK)
    rows = conn.execute(_customers_since(since).limit(limit)).fetchall()
    if not rows:
        # Only anonymous visitors came by: step past them, so that the next look (and
        # ``pending``) starts after them instead of reading them all again.
        top = conn.execute(sa.select(sa.func.max(visitors_t.c.last_seen_ms))).scalar()
        if top is not None and int(top) >= since:
            _set_mark(conn, VISITORS_MARK, int(top) + 1)
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
#
# A search answers newest first, one page and a total that stops at COUNT_CAP. Ranking
# or sorting every match costs as much as there are matches (tens of thousands for a common
# word in a million messages); instead the matching doc ids are walked newest first (doc
# ids grow with time: messages are indexed in the order they were written, a customer is
# re-indexed when seen again) and the walk stops once it has the page and COUNT_CAP + 1 readable hits.
# Only the page's rows are then joined to their messages or visitors.


def _ts_query(variants: Sequence[Sequence[str]]) -> str:
    return " | ".join("(" + " & ".join(f"{t}:*" for t in v) + ")" for v in variants)


def _fts_query(variants: Sequence[Sequence[str]]) -> str:
    return " OR ".join("(" + " ".join(f'"{t}"*' for t in v) + ")" for v in variants)


def _readable(kind: str, f: Filters) -> tuple[Any, sa.ColumnElement[bool]]:
    """What to join to the docs and the condition that the reader may read a hit."""
    if kind == "message":
        if f.supervisor:
            return docs_t, sa.true()
        joined = docs_t.join(conversations_t, conversations_t.c.id == docs_t.c.conversation_id)
        return joined, visible_where(f)
    # A customer is readable when one of their conversations is.
    readable = (
        sa.select(conversations_t.c.id)
        .where(conversations_t.c.visitor_id == docs_t.c.visitor_id)
        .where(visible_where(f))
        .exists()
    )
    return docs_t, sa.true() if f.supervisor else readable


def hit_ids(
    conn: Connection, variants: Sequence[Sequence[str]], kind: str, f: Filters
) -> list[int]:
    """Ids of the readable docs of ``kind`` that match, newest first: enough for the page
    and for a total up to COUNT_CAP or the page's end (one more says "there are more")."""
    need = max(COUNT_CAP, f.offset + f.limit) + 1
    joined, readable = _readable(kind, f)
    if conn.dialect.name != "postgresql":
        # FTS5 walks its matches in rowid order itself and stops at the LIMIT.
        fts = sa.table("search_fts", sa.column("rowid", sa.Integer))
        matched = sa.literal_column("search_fts").op("MATCH")(_fts_query(variants))
        rows = conn.execute(
            sa.select(docs_t.c.id)
            .select_from(fts.join(joined, docs_t.c.id == fts.c.rowid))
            .where(matched, docs_t.c.kind == kind, readable)
            .order_by(fts.c.rowid.desc())
            .limit(need)
        )
        return [int(r.id) for r in rows]
    return _pg_hit_ids(
        conn, variants, sa.select(docs_t.c.id).select_from(joined), readable, kind, need
    )


# PostgreSQL: GIN answers a word prefix (``paket:*``) by collecting every match of every
# word it begins into a bitmap first, however rare the other words of the query: "<rare
# word> paket" read 130,000 matches of "paket" to find 60 (40-60 ms at a million messages,
# against 1 ms for the exact word). So only the rarest word of each reading goes to the
# index (its few matches), and each of those rows is tested against the whole query by
# ``ts_match_vq`` (the function behind ``@@``, which no index answers). When even the
# rarest words are common, the primary key is walked backwards instead, testing each row,
# and the walk stops at the page: dense hits are met soon. The planner's own estimates of
# each word (its statistics of the column's words, read by EXPLAIN) choose.
#
# A hit read through the index costs about this many rows read in the walk (a random page
# and the bitmap against the next row of the same pages).
INDEX_HIT_COST = 4


def _estimated_rows(conn: Connection, query: str) -> float:
    """The planner's estimate of the docs that match ``query``, from the column's word
    statistics: planning only, nothing is read."""
    plan = conn.execute(
        sa.text(
            "EXPLAIN (FORMAT JSON) SELECT 1 FROM search_docs WHERE tsv @@ to_tsquery('simple', :q)"
        ).bindparams(q=query)
    ).scalar_one()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return float(plan[0]["Plan"]["Plan Rows"])


def _pg_hit_ids(
    conn: Connection,
    variants: Sequence[Sequence[str]],
    base: sa.Select[Any],
    readable: sa.ColumnElement[bool],
    kind: str,
    need: int,
) -> list[int]:
    # ``tsv`` is the generated column of migration 0009_search (not in the model).
    tsv: sa.ColumnElement[Any] = sa.literal_column("search_docs.tsv")
    whole = sa.func.ts_match_vq(tsv, sa.func.to_tsquery("simple", _ts_query(variants)))
    docs = max(
        1.0,
        float(
            conn.execute(
                sa.text("SELECT reltuples FROM pg_class WHERE oid = 'search_docs'::regclass")
            ).scalar_one()
        ),
    )
    rarest: list[str] = []
    driver_rows = 0.0  # matches of the rarest words, read through the index
    hit_rows = 0.0  # matches of the whole query, met in the walk
    for variant in variants:
        estimates = {t: _estimated_rows(conn, f"{t}:*") for t in variant}
        rare = min(variant, key=lambda t: estimates[t])
        rarest.append(rare)
        driver_rows += estimates[rare]
        share = 1.0
        for t in variant:
            share *= min(1.0, estimates[t] / docs)
        hit_rows += share * docs
    walked_rows = need * docs / max(hit_rows, 1.0)
    query = base.where(whole, docs_t.c.kind == kind, readable)
    if driver_rows * INDEX_HIT_COST < walked_rows:
        drivers = " | ".join(f"{t}:*" for t in dict.fromkeys(rarest))
        query = query.where(tsv.op("@@")(sa.func.to_tsquery("simple", drivers)))
    rows = conn.execute(query.order_by(docs_t.c.id.desc()).limit(need))
    return [int(r.id) for r in rows]


def search_messages(
    conn: Connection, variants: Sequence[Sequence[str]], f: Filters
) -> tuple[list[dict[str, Any]], int]:
    """Messages the reader may read that match, newest first: one page and the total."""
    ids = hit_ids(conn, variants, "message", f)
    page = ids[f.offset : f.offset + f.limit]
    if not page:
        return [], len(ids)
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
        .select_from(
            docs_t.join(conversations_t, conversations_t.c.id == docs_t.c.conversation_id).join(
                messages_t, messages_t.c.id == docs_t.c.message_id
            )
        )
        .where(docs_t.c.id.in_(page))
        .order_by(docs_t.c.id.desc())
    )
    return [dict(r._mapping) for r in rows], len(ids)


def search_customers(
    conn: Connection, variants: Sequence[Sequence[str]], f: Filters
) -> tuple[list[dict[str, Any]], int]:
    """Customers (visitors with a name or an e-mail) that match and of whom the reader may
    read at least one conversation, most recently seen first."""
    ids = hit_ids(conn, variants, "customer", f)
    page = ids[f.offset : f.offset + f.limit]
    if not page:
        return [], len(ids)
    rows = conn.execute(
        sa.select(
            visitors_t.c.id.label("visitor_id"),
            visitors_t.c.name,
            visitors_t.c.email,
            visitors_t.c.customer_email,
            visitors_t.c.language,
            visitors_t.c.last_seen_ms,
        )
        .select_from(docs_t.join(visitors_t, visitors_t.c.id == docs_t.c.visitor_id))
        .where(docs_t.c.id.in_(page))
        .order_by(docs_t.c.id.desc())
    )
    return [dict(r._mapping) for r in rows], len(ids)
