"""The store is the truth: visitors, agents, conversations and their sequenced messages.

Every operation is one plain function over a SQLAlchemy ``Connection``, run in one hop:
on SQLite in the store's threads (one writer thread, a few readers), on PostgreSQL through
``run_sync`` over asyncpg. Appends go through a group-commit writer: one transaction per
short batch, each sender acknowledged only after that commit (on PostgreSQL its batch runs
straight on asyncpg, ``write_batch_pg``: it is most of the database's work). ``seq`` is allocated inside
the same transaction by bumping ``conversations.last_seq``, whose row lock keeps it gapless
across hub processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import SQLModel

from chatserver.backends.db import (
    DEFAULT_BUSY_TIMEOUT_S,
    DEFAULT_POOL_SIZE,
    is_sqlite,
    make_engine,
    make_sqlite_sync_engine,
)
from chatserver.backends.mail_outbox import (
    RECORD_CONTINUITY_SQL,
    continuity_params,
)
from chatserver.backends.models import (
    OPEN_STATES,
    Agent,
    Conversation,
    ConversationEvent,
    Message,
    Visitor,
)
from chatserver.backends.pg_direct import KeptConnection, PgDirect
from chatserver.backends.plain_sql import PlainSql, in_list
from chatserver.backends.write_group import WriteGroup
from chatserver.billing.due import (
    RECORD_REPLY_SQL,
    record_close_due,
    reply_due_params,
)
from chatserver.core.commit_window import CommitWindow
from chatserver.core.errors import BadData, Conflict, Forbidden, NotActive, StoreUnavailable
from chatserver.core.settings import KNOBS
from chatserver.runtime import metrics

log = logging.getLogger("livedesk.store")
T = TypeVar("T")
M = TypeVar("M", bound=SQLModel)

visitors_t = Visitor.__table__  # type: ignore[attr-defined]
agents_t = Agent.__table__  # type: ignore[attr-defined]
conversations_t = Conversation.__table__  # type: ignore[attr-defined]
messages_t = Message.__table__  # type: ignore[attr-defined]
events_t = ConversationEvent.__table__  # type: ignore[attr-defined]

# Which state may follow which; anything else raises Conflict (a closed chat stays closed).
TRANSITIONS: dict[str, frozenset[str]] = {
    "bot": frozenset({"offered", "active", "closed", "abandoned"}),
    "offered": frozenset({"bot", "active", "closed", "abandoned"}),
    "active": frozenset({"bot", "offered", "active", "closed"}),
    "closed": frozenset({"rated"}),
    "abandoned": frozenset(),
    "rated": frozenset(),
    # An offline-form message (see backends/inbox_queries.py): closed, or reopened there.
    "offline": frozenset({"closed"}),
}
READER_THREADS = 4


def now_ms() -> int:
    return int(time.time() * 1000)


def new_id() -> str:
    return secrets.token_urlsafe(12)


@dataclass(slots=True)
class Append:
    """One item to sequence into a conversation."""

    conversation_id: str
    author: str  # visitor, agent, bot, system
    body: str
    kind: str = "text"  # or "event"
    author_id: str | None = None
    author_name: str | None = None
    data: dict[str, Any] | None = None
    client_msg_id: str | None = None
    # Only the system's own last words (the "closed" event) may follow a close.
    allow_closed: bool = False


@dataclass(frozen=True, slots=True)
class MailContinuity:
    """Set on the store when mail is on: how long an agent's reply waits for the visitor
    before it goes by mail, and the domain of its Message-ID."""

    after_ms: int
    domain: str


@dataclass(frozen=True, slots=True)
class AgentSession:
    """What a standing agent session is checked against (``Store.agent_sessions``)."""

    active: bool
    session_version: int


@dataclass(slots=True)
class Appended:
    row: dict[str, Any]
    duplicate: bool = False
    first_human_reply: bool = False


@dataclass(slots=True)
class _Pending:
    item: Append
    future: asyncio.Future[Appended] = field(repr=False)


def _is_bad_data(exc: BaseException) -> bool:
    """A value the database cannot hold (SQLSTATE class 22, or text Python cannot encode):
    the client's fault, and the same write would fail again."""
    if isinstance(exc, (DataError, UnicodeError)):
        return True
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(exc, DBAPIError) and isinstance(state, str) and state.startswith("22")


@contextlib.contextmanager
def _mapped_errors() -> Iterator[None]:
    """A database error leaves the store as ``StoreUnavailable`` or ``BadData`` (raised
    from it); the store's own errors and anything it does not recognise pass unchanged."""
    try:
        yield
    except (StoreUnavailable, BadData):
        raise
    except Exception as exc:
        mapped = _store_error(exc)
        if mapped is exc:
            raise
        raise mapped from exc


def _store_error(exc: Exception) -> Exception:
    """What a failed store call raises: StoreUnavailable for an outage, BadData for a value
    the database refused, anything else (IntegrityError included: callers branch on it)
    unchanged."""
    if _is_outage(exc):
        return _unavailable(exc)
    if _is_bad_data(exc):
        return BadData(f"the store refused the data ({type(exc).__name__})")
    return exc


def _refused(item: Append, exc: BaseException) -> BadData:
    # The body is the sender's and may be anything: log what failed, not what was sent.
    log.warning(
        "refused one %s item in %s: %s", item.author, item.conversation_id, type(exc).__name__
    )
    return BadData(f"the store refused this item ({type(exc).__name__})")


def _unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"store unavailable: {type(exc).__name__}")


# PostgreSQL SQLSTATE classes that say "not now" rather than "not this": connection
# exceptions, insufficient resources, operator intervention (shutdown), transaction rollback
# (deadlock, serialization); and lock_not_available.
_OUTAGE_SQLSTATE_CLASSES = frozenset({"08", "53", "57", "40"})
_OUTAGE_SQLSTATES = frozenset({"55P03"})


def _is_outage(exc: BaseException) -> bool:
    """Would the same write succeed later? Only then is it ``unavailable`` (retryable): a
    value the database refuses fails the same way for ever, and a client told to retry it
    would retry for ever."""
    if isinstance(exc, (OSError, PoolTimeout)):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if isinstance(exc, (IntegrityError, DataError, ProgrammingError)):
        return False
    if isinstance(exc, OperationalError):
        return True  # SQLite: locked past the busy timeout, disk I/O
    if isinstance(exc, InterfaceError):
        # A dropped connection; not a value the driver could not bind (also InterfaceError).
        return "connection" in str(exc.orig).lower()
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(state, str) and (
        state[:2] in _OUTAGE_SQLSTATE_CLASSES or state in _OUTAGE_SQLSTATES
    )


# ---------------------------------------------------------------------------- the batch
# Plain SQL (``plain_sql``): the group-commit path runs for every message.

# What a batch's plan reads of its conversations (``plan_batch``).
_READ_COLUMNS = ("id", "state", "visitor_id", "agent_id", "last_seq", "first_human_reply_ms")
_CONVS = f"SELECT {', '.join(_READ_COLUMNS)} FROM conversations WHERE id IN {{ids}} ORDER BY id"
# Locks in a fixed order until commit: the checks hold, and two hub processes' batches
# can never deadlock.
_LOCK = " FOR UPDATE"
_RETRY_KEYS_PER_QUERY = 64
_BUMP = (
    "UPDATE conversations SET last_seq = :last_seq, "
    "first_human_reply_ms = COALESCE(first_human_reply_ms, :first_reply) WHERE id = :id"
)
_INSERT = (
    "INSERT INTO messages (conversation_id, seq, kind, author, author_id, author_name, body, "
    "data, client_msg_id, created_ms) VALUES (:conversation_id, :seq, :kind, :author, "
    ":author_id, :author_name, :body, :data, :client_msg_id, :created_ms)"
)

# The rows that open a conversation, prepared once (an arrival burst opens hundreds).
_INSERT_CONVERSATION = sa.insert(conversations_t)
_INSERT_EVENT = sa.insert(events_t)

# The lookups every arrival makes, built once: building a statement costs more than
# running it on SQLite.
_VISITOR_BY_ID = sa.select(visitors_t).where(visitors_t.c.id == sa.bindparam("id"))
_AGENT_BY_ID = sa.select(agents_t).where(agents_t.c.id == sa.bindparam("id"))
_AGENT_BY_EMAIL = sa.select(agents_t).where(agents_t.c.email == sa.bindparam("email"))
_CONVERSATION_BY_ID = sa.select(conversations_t).where(conversations_t.c.id == sa.bindparam("id"))
_OPEN_CONVERSATION_OF = sa.select(conversations_t).where(
    conversations_t.c.visitor_id == sa.bindparam("visitor_id"),
    conversations_t.c.state.in_(OPEN_STATES),
)


@functools.lru_cache(maxsize=256)
def _select_retried(null_author: tuple[bool, ...]) -> str:
    """The stored rows for these retry keys, one full probe of ``uq_messages_sender_msg``
    each (by ``conversation_id`` alone the probe read every message of the conversation,
    longer with each message). ``null_author``: whether each key's ``author_id`` is null,
    which ``=`` never matches."""
    keys = [
        f"(conversation_id = :c{i} AND author = :a{i} AND "
        + ("author_id IS NULL" if null else f"author_id = :u{i}")
        + f" AND client_msg_id = :m{i})"
        for i, null in enumerate(null_author)
    ]
    return "SELECT * FROM messages WHERE " + " OR ".join(keys)


def write_batch(
    conn: Connection,
    items: list[Append],
    mail: MailContinuity | None = None,
    *,
    probe: bool = True,
) -> list[Appended | Exception]:
    """Sequence and insert a batch in the caller's transaction; one outcome per item.
    With ``mail``, an agent's reply also makes a continuity mail due (``mail_outbox``).
    Plain SQL only (``PlainSql``): on SQLite the transaction is the driver's own
    (``WriteGroup.run_here``).

    ``probe=False``: the items with an author id are taken for new sends without looking
    for their client message ids among the stored rows. A retried one then breaks
    ``uq_messages_sender_msg`` and the whole batch raises ``IntegrityError`` (nothing
    written); the group commit redoes it item by item with the probe, which answers the
    retry from the store. The bot's and the system's steps (no author id) are looked for
    all the same: the unique index holds nulls apart, so it would never refuse their
    retries."""
    sql = PlainSql(conn)
    ts = now_ms()
    params: dict[str, Any] = {}
    ids = in_list("i", sorted({it.conversation_id for it in items}), params)
    query = _CONVS.format(ids=ids) + (_LOCK if conn.dialect.name == "postgresql" else "")
    convs = {row["id"]: row for row in sql.rows(query, params)}
    keys = _retry_keys(items)
    if not probe:
        keys = [key for key in keys if key[2] is None]
    plan = plan_batch(items, convs, _stored_retries(sql, keys) if keys else {}, ts)
    if plan.rows:
        sql.many(_BUMP, plan.bumps())
        sql.many(_INSERT, plan.rows)
        # The debit falls due in the reply's own transaction: no crash can split them.
        if plan.first_reply:
            sql.many(RECORD_REPLY_SQL, reply_due_params(plan.first_reply, ts))
        if mail is not None and (replied := plan.replied()):
            sql.many(
                RECORD_CONTINUITY_SQL,
                continuity_params(replied, ts, mail.after_ms, mail.domain),
            )
    return plan.outcomes()


# PostgreSQL, straight on asyncpg (``pg_direct``): one statement text whatever the batch's
# size (arrays, not lists of parameters), so each is prepared once per connection.
#
# A batch first reads its conversations and probes its retry keys without a lock and
# without a transaction, plans, then writes in one statement that locks the conversations,
# checks that each still holds every value the plan read (compare and set) and writes only
# then; the statement is its own transaction. Two round trips, and the row locks last one
# statement, not the four round trips of BEGIN, lock, write, COMMIT on a busy event loop.
# If a conversation changed in between (another node wrote into it, it was transferred or
# closed), nothing is written and the batch goes the locked way: BEGIN, the same read under
# FOR UPDATE, the write, COMMIT. A batch that may owe a debit (an agent's text where no first
# reply is known) or a continuity mail goes the locked way at once, so that those rows keep
# their one SQL text (``billing.due``, ``mail_outbox``) in the reply's transaction.
#
# The probe reads a snapshot: a row another process committed meanwhile with the same retry
# key is missed, and the insert then breaks ``uq_messages_sender_msg``; the group commit
# redoes that batch item by item, which finds it. Only a send retried on two nodes at once
# pays that.
#
# Each retry key is a full probe of ``uq_messages_sender_msg``; keys without an author id
# apart, since ``=`` never matches null.
def _probe_pg(first: int) -> str:
    """``retried``: the stored rows of the batch's retry keys, given as seven arrays from
    parameter ``$first`` on (``_retry_key_arrays``)."""
    c, a, u, i, c_null, a_null, i_null = (f"${first + n}" for n in range(7))
    return (
        "retried AS ("
        f"SELECT m.* FROM unnest({c}::text[], {a}::text[], {u}::text[], {i}::text[]) "
        "AS k(c, a, u, i) "
        "JOIN messages m ON m.conversation_id = k.c AND m.author = k.a AND m.author_id = k.u "
        "AND m.client_msg_id = k.i "
        f"UNION ALL SELECT m.* FROM unnest({c_null}::text[], {a_null}::text[], {i_null}::text[]) "
        "AS k(c, a, i) "
        "JOIN messages m ON m.conversation_id = k.c AND m.author = k.a AND m.author_id IS NULL "
        "AND m.client_msg_id = k.i)"
    )


_AS_READ_PG = f"SELECT {', '.join(_READ_COLUMNS)} FROM conversations WHERE id = ANY($1::text[])"
_READ_AND_PROBE_PG = (
    f"WITH convs AS ({_AS_READ_PG} ORDER BY id{{lock}}), "
    + _probe_pg(2)
    + " SELECT (SELECT json_agg(convs)::text FROM convs) AS convs, "
    "(SELECT json_agg(retried)::text FROM retried) AS retried"
)
_READ_PG = _READ_AND_PROBE_PG.format(lock="")
# Locks in a fixed order until commit: the checks hold, and two hub processes' batches
# can never deadlock.
_LOCK_AND_READ_PG = _READ_AND_PROBE_PG.format(lock=" FOR UPDATE")
_MESSAGE_ARRAYS = (
    "unnest({0}::text[], {1}::integer[], {2}::text[], {3}::text[], {4}::text[], {5}::text[], "
    "{6}::text[], {7}::text[], {8}::text[], {9}::bigint[])"
)
_INSERT_MESSAGES_PG = (
    "INSERT INTO messages (conversation_id, seq, kind, author, author_id, author_name, body, "
    "data, client_msg_id, created_ms) SELECT * FROM "
)
_WRITE_PG = (
    "WITH bump AS (UPDATE conversations c SET last_seq = b.last_seq, "
    "first_human_reply_ms = COALESCE(c.first_human_reply_ms, b.first_reply) "
    "FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS b(id, last_seq, first_reply) "
    "WHERE c.id = b.id) "
    + _INSERT_MESSAGES_PG
    + _MESSAGE_ARRAYS.format(*(f"${n}" for n in range(4, 14)))
)
# FOR UPDATE re-reads a row another transaction changed before granting the lock, and
# drops it if it no longer matches: the count says whether every conversation is as read.
# The writes' condition is evaluated once, before they touch a row.
_HELD_AS_READ_PG = (
    "read AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], "
    "$5::bigint[], $6::bigint[]) AS r(id, state, visitor_id, agent_id, last_seq, first_reply)), "
    "held AS (SELECT c.id FROM conversations c JOIN read r ON c.id = r.id "
    "WHERE c.state = r.state AND c.visitor_id = r.visitor_id "
    "AND c.agent_id IS NOT DISTINCT FROM r.agent_id AND c.last_seq = r.last_seq "
    "AND c.first_human_reply_ms IS NOT DISTINCT FROM r.first_reply "
    "ORDER BY c.id FOR UPDATE OF c), "
)
_WRITE_IF_STILL_PG = (
    "bump AS (UPDATE conversations c SET last_seq = b.last_seq "
    "FROM unnest($7::text[], $8::bigint[]) AS b(id, last_seq) "
    "WHERE c.id = b.id AND (SELECT yes FROM unchanged)), "
    "ins AS ("
    + _INSERT_MESSAGES_PG
    + _MESSAGE_ARRAYS.format(*(f"${n}" for n in range(9, 19)))
    + " WHERE (SELECT yes FROM unchanged)) "
)
_WRITE_IF_UNCHANGED_PG = (
    "WITH "
    + _HELD_AS_READ_PG
    + "unchanged AS (SELECT count(*) = cardinality($1::text[]) AS yes FROM held), "
    + _WRITE_IF_STILL_PG
    + "SELECT yes FROM unchanged"
)
# A batch planned from the conversations as this process last wrote them (``LastWritten``),
# with no read first: the same check, and also that none of its retry keys is stored. One
# round trip while nothing changed; when something did, nothing is written and the answer
# carries what the read would have (the conversations and the retried rows), so a stale
# cache costs no round trip more than having none.
_WRITE_IF_AS_CACHED_PG = (
    "WITH "
    + _HELD_AS_READ_PG
    + _probe_pg(19)
    + ", unchanged AS (SELECT count(*) = cardinality($1::text[]) "
    "AND NOT EXISTS (SELECT 1 FROM retried) AS yes FROM held), "
    + _WRITE_IF_STILL_PG
    + f", convs AS ({_AS_READ_PG} AND NOT (SELECT yes FROM unchanged)) "
    "SELECT (SELECT yes FROM unchanged) AS yes, (SELECT json_agg(convs)::text FROM convs) AS convs, "
    "(SELECT json_agg(retried)::text FROM retried) AS retried"
)
_MESSAGE_COLUMNS = (
    "conversation_id",
    "seq",
    "kind",
    "author",
    "author_id",
    "author_name",
    "body",
    "data",
    "client_msg_id",
    "created_ms",
)


class LastWritten:
    """PostgreSQL: each conversation as this process last read or wrote it (the columns a
    batch's plan reads). Never trusted: the write planned from it checks every value in
    its own statement (``write_if_as_cached_pg``), so a stale entry costs a statement that
    writes nothing, a little dearer than the read it replaces.

    A conversation found changed is one another process writes into too (visitors on one
    node, agents on another): the next write would find it changed again, so it is not
    kept any more. The process's own moves (``Store.transition``) forget it instead."""

    MAX = 10_000

    def __init__(self) -> None:
        self._rows: dict[str, dict[str, Any]] = {}
        self._shared: set[str] = set()

    def rows(self, ids: Iterable[str]) -> dict[str, dict[str, Any]] | None:
        """Every one of these conversations, or None if one is not known."""
        try:
            return {cid: self._rows[cid] for cid in ids}
        except KeyError:
            return None

    def wrote(self, convs: dict[str, dict[str, Any]], plan: BatchPlan) -> None:
        """``convs`` as read, now that ``plan`` (which did not change who holds them or
        their first reply) was written into them."""
        if len(self._rows) > self.MAX or len(self._shared) > self.MAX:
            self._rows.clear()  # what is dropped is read again
            self._shared.clear()
        for cid, conv in convs.items():
            if cid not in self._shared:
                self._rows[cid] = {**conv, "last_seq": plan.last_seq[cid]}

    def forget(self, ids: Iterable[str]) -> None:
        for cid in ids:
            self._rows.pop(cid, None)

    def changed(self, ids: Iterable[str]) -> None:
        """These were found changed by someone else: stop keeping them."""
        for cid in ids:
            self._rows.pop(cid, None)
            self._shared.add(cid)


async def write_batch_pg(
    db: PgDirect,
    items: list[Append],
    mail: MailContinuity | None,
    replied: set[str],
    last: LastWritten,
) -> list[Appended | Exception]:
    """``write_batch`` on PostgreSQL on ``db`` (not in a transaction): the same checks and
    outcomes, in one round trip when this process wrote the batch's conversations last and
    nothing changed since (``last``, filled here), in two when nothing changed between a
    read and the write.

    ``replied``: the caller's cache of conversations known to have had their first human
    reply (filled here; it only ever holds what is true). An agent's text in any other may
    owe a debit, so its batch goes the locked way at once instead of reading twice."""
    ids = sorted({it.conversation_id for it in items})
    agent_texts = {it.conversation_id for it in items if it.author == "agent" and it.kind == "text"}
    may_owe = bool(agent_texts) and (mail is not None or not agent_texts <= replied)
    if not may_owe:
        ts = now_ms()
        read: tuple[dict[str, dict[str, Any]], dict[_RetryKey, dict[str, Any]]] | None = None
        cached = last.rows(ids)
        if cached is not None:
            plan = plan_batch(items, cached, {}, ts)
            if plan.rows and not plan.first_reply and not plan.refuses:
                read = await write_if_as_cached_pg(db, items, cached, plan)
                if read is None:
                    metrics.COMMIT_ONE_TRIP.inc()
                    last.wrote(cached, plan)
                    return plan.outcomes()
                last.changed(ids)
        convs, stored = read or await read_batch_pg(db, items, lock=False)
        _remember_replied(replied, convs)
        plan = plan_batch(items, convs, stored, ts)
        if not plan.first_reply and (not plan.rows or await write_if_unchanged_pg(db, convs, plan)):
            last.wrote(convs, plan)
            return plan.outcomes()
    last.forget(ids)
    metrics.COMMIT_LOCKED.inc()
    async with db.pg.transaction():
        plan = await _write_batch_locked_pg(db, items, mail, replied)
    replied.update(plan.first_reply)  # committed
    return plan.outcomes()


_REPLIED_CACHE_MAX = 100_000


def _remember_replied(known: set[str], convs: dict[str, dict[str, Any]]) -> None:
    if len(known) > _REPLIED_CACHE_MAX:
        known.clear()  # a cache: what is dropped is read again
    known.update(cid for cid, c in convs.items() if c["first_human_reply_ms"] is not None)


async def read_batch_pg(
    db: PgDirect, items: list[Append], *, lock: bool
) -> tuple[dict[str, dict[str, Any]], dict[_RetryKey, dict[str, Any]]]:
    """The batch's conversations (``lock``: locked until the transaction ends) and the
    stored rows of its retry keys, in one round trip."""
    (found,) = await db.fetch(
        _LOCK_AND_READ_PG if lock else _READ_PG,
        sorted({it.conversation_id for it in items}),
        *_retry_key_arrays(items),
    )
    return _as_read(found)


def _retry_key_arrays(items: list[Append]) -> list[list[Any]]:
    """The batch's retry keys as ``_probe_pg`` takes them: four arrays of the keys with an
    author id, three of those without."""
    keys = _retry_keys(items)
    named = [k for k in keys if k[2] is not None]
    null = [k for k in keys if k[2] is None]
    return [[k[j] for k in named] for j in range(4)] + [[k[j] for k in null] for j in (0, 1, 3)]


def _as_read(
    found: Mapping[str, Any],
) -> tuple[dict[str, dict[str, Any]], dict[_RetryKey, dict[str, Any]]]:
    """The conversations and the retried rows from a statement's ``convs`` and ``retried``."""
    convs = {row["id"]: row for row in json.loads(found["convs"] or "[]")}
    stored: dict[_RetryKey, dict[str, Any]] = {
        (r["conversation_id"], r["author"], r["author_id"], r["client_msg_id"]): r
        for r in json.loads(found["retried"] or "[]")
    }
    return convs, stored


async def write_if_unchanged_pg(
    db: PgDirect, convs: dict[str, dict[str, Any]], plan: BatchPlan
) -> bool:
    """Write ``plan`` in one statement if every conversation in ``convs`` is still as read;
    whether it was (if not, nothing was written)."""
    return bool(await db.pg.fetchval(_WRITE_IF_UNCHANGED_PG, *_checked_write(convs, plan)))


async def write_if_as_cached_pg(
    db: PgDirect, items: list[Append], cached: dict[str, dict[str, Any]], plan: BatchPlan
) -> tuple[dict[str, dict[str, Any]], dict[_RetryKey, dict[str, Any]]] | None:
    """Write ``plan`` (made from ``cached``, with no retried rows) in one statement if every
    conversation is as cached and none of the batch's retry keys is stored: None if it was
    written; if not, nothing was, and this is what ``read_batch_pg`` would have read."""
    found = await db.pg.fetchrow(
        _WRITE_IF_AS_CACHED_PG, *_checked_write(cached, plan), *_retry_key_arrays(items)
    )
    return None if found["yes"] else _as_read(found)


def _checked_write(convs: dict[str, dict[str, Any]], plan: BatchPlan) -> list[list[Any]]:
    """The parameters ``_HELD_AS_READ_PG`` and ``_WRITE_IF_STILL_PG`` take: the
    conversations as read, the bumps, the rows."""
    read = list(convs.values())
    bumps = plan.bumps()
    return [
        *([c[k] for c in read] for k in _READ_COLUMNS),
        [b["id"] for b in bumps],
        [b["last_seq"] for b in bumps],
        *([row[c] for row in plan.rows] for c in _MESSAGE_COLUMNS),
    ]


async def _write_batch_locked_pg(
    db: PgDirect, items: list[Append], mail: MailContinuity | None, known: set[str]
) -> BatchPlan:
    """In ``db``'s transaction: the conversations locked and read, the write, and the debit
    and the mail the batch owes."""
    ts = now_ms()
    convs, stored = await read_batch_pg(db, items, lock=True)
    _remember_replied(known, convs)
    plan = plan_batch(items, convs, stored, ts)
    if plan.rows:
        bumps = plan.bumps()
        await db.execute(
            _WRITE_PG,
            [b["id"] for b in bumps],
            [b["last_seq"] for b in bumps],
            [b["first_reply"] for b in bumps],
            *([row[c] for row in plan.rows] for c in _MESSAGE_COLUMNS),
        )
        # The debit falls due in the reply's own transaction: no crash can split them.
        await db.many(RECORD_REPLY_SQL, reply_due_params(plan.first_reply, ts))
        if mail is not None:
            params = continuity_params(plan.replied(), ts, mail.after_ms, mail.domain)
            await db.many(RECORD_CONTINUITY_SQL, params)
    return plan


@dataclass(slots=True)
class BatchPlan:
    """What a batch writes, decided from its conversations as read and the retried rows."""

    results: list[Appended | Exception | None]
    rows: list[dict[str, Any]] = field(default_factory=list)
    last_seq: dict[str, int] = field(default_factory=dict)
    first_reply: dict[str, int] = field(default_factory=dict)

    def bumps(self) -> list[dict[str, Any]]:
        bumped = sorted({r["conversation_id"] for r in self.rows})
        return [
            {"id": cid, "last_seq": self.last_seq[cid], "first_reply": self.first_reply.get(cid)}
            for cid in bumped
        ]

    @property
    def refuses(self) -> bool:
        """Whether an item is refused (not written, and not a copy of another)."""
        return any(isinstance(r, Exception) and not isinstance(r, _SameAs) for r in self.results)

    def replied(self) -> list[str]:
        return [
            r["conversation_id"]
            for r in self.rows
            if r["author"] == "agent" and r["kind"] == "text"
        ]

    def outcomes(self) -> list[Appended | Exception]:
        results = self.results
        for i, outcome in enumerate(results):
            if isinstance(outcome, _SameAs):
                original = results[outcome.index]
                results[i] = (
                    Appended(original.row, duplicate=True)
                    if isinstance(original, Appended)
                    else original
                )
        return results  # type: ignore[return-value]


def plan_batch(
    items: list[Append],
    convs: dict[str, dict[str, Any]],
    stored: dict[_RetryKey, dict[str, Any]],
    ts: int,
) -> BatchPlan:
    """What a batch writes and each item's outcome, from its conversations as read
    (``convs``, by id) and the stored rows of its retried keys (``stored``)."""
    plan = BatchPlan([None] * len(items))
    results = plan.results
    fresh = _drop_duplicates(items, stored, results)
    last_seq = plan.last_seq
    last_seq.update({cid: row["last_seq"] for cid, row in convs.items()})
    first_reply = plan.first_reply
    for i in fresh:
        item = items[i]
        conv = convs.get(item.conversation_id)
        verdict = _verdict(item, conv)
        if verdict is not None:
            results[i] = verdict
            continue
        assert conv is not None
        seq = last_seq[item.conversation_id] + 1
        last_seq[item.conversation_id] = seq
        row = {
            "conversation_id": item.conversation_id,
            "seq": seq,
            "kind": item.kind,
            "author": item.author,
            "author_id": item.author_id,
            "author_name": item.author_name,
            "body": item.body,
            "data": json.dumps(item.data) if item.data is not None else None,
            "client_msg_id": item.client_msg_id,
            "created_ms": ts,
        }
        plan.rows.append(row)
        appended = Appended(row)
        results[i] = appended
        if (
            item.author == "agent"
            and item.kind == "text"
            and conv["first_human_reply_ms"] is None
            and item.conversation_id not in first_reply
        ):
            first_reply[item.conversation_id] = ts
            appended.first_human_reply = True
    return plan


def _verdict(item: Append, conv: dict[str, Any] | None) -> Exception | None:
    """The store, not the hub's cache, decides who may write where: a visitor only into
    their own open conversation, an agent only into an active one assigned to them."""
    if conv is None:
        return Forbidden("no such conversation")
    if item.author == "visitor" and conv["visitor_id"] != item.author_id:
        return Forbidden("not the visitor's conversation")
    if item.author == "agent" and str(conv["agent_id"]) != item.author_id:
        return Forbidden("not the agent's conversation")
    # An agent's reply to an offline message is stored like any message (the mail sender
    # carries it to the visitor's e-mail).
    offline_reply = item.author == "agent" and conv["state"] == "offline"
    if conv["state"] not in OPEN_STATES and not item.allow_closed and not offline_reply:
        return Conflict("conversation_closed")
    if item.author == "agent" and conv["state"] != "active" and not offline_reply:
        return NotActive("not_active")
    return None


_RetryKey = tuple[str, str, str | None, str | None]


class _SameAs(Exception):
    """The same retried item twice in one batch: it gets the first copy's outcome."""

    def __init__(self, index: int) -> None:
        self.index = index


def _retry_keys(items: list[Append]) -> list[_RetryKey]:
    return list(
        dict.fromkeys(
            (it.conversation_id, it.author, it.author_id, it.client_msg_id)
            for it in items
            if it.client_msg_id is not None
        )
    )


def _stored_retries(sql: PlainSql, keys: list[_RetryKey]) -> dict[_RetryKey, dict[str, Any]]:
    """The stored rows of these retry keys."""
    stored: dict[_RetryKey, dict[str, Any]] = {}
    # In slices: SQLite parses a chain of ORs as a tree of that depth, and caps the depth.
    for start in range(0, len(keys), _RETRY_KEYS_PER_QUERY):
        chunk = keys[start : start + _RETRY_KEYS_PER_QUERY]
        params: dict[str, Any] = {}
        for i, (conv_id, author, author_id, client_msg_id) in enumerate(chunk):
            params[f"c{i}"], params[f"a{i}"], params[f"m{i}"] = conv_id, author, client_msg_id
            if author_id is not None:
                params[f"u{i}"] = author_id
        query = _select_retried(tuple(key[2] is None for key in chunk))
        for r in sql.rows(query, params):
            stored[(r["conversation_id"], r["author"], r["author_id"], r["client_msg_id"])] = r
    return stored


def _drop_duplicates(
    items: list[Append],
    stored: dict[_RetryKey, dict[str, Any]],
    results: list[Appended | Exception | None],
) -> list[int]:
    """Indexes of items to write; retried client message ids are answered from the store."""
    fresh: list[int] = []
    first_in_batch: dict[_RetryKey, int] = {}
    for i, it in enumerate(items):
        # Per sender, not per role: after a transfer, the new agent's ids are their own.
        key = (it.conversation_id, it.author, it.author_id, it.client_msg_id)
        if it.client_msg_id is not None and key in stored:
            results[i] = Appended(stored[key], duplicate=True)
        elif it.client_msg_id is not None and key in first_in_batch:
            results[i] = _SameAs(first_in_batch[key])
        else:
            if it.client_msg_id is not None:
                first_in_batch[key] = i
            fresh.append(i)
    return fresh


# ---------------------------------------------------------------------------- the store


class Store:
    def __init__(
        self,
        url: str,
        max_batch: int = 256,
        max_delay_ms: float = KNOBS["group_commit_max_delay_ms"].default,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        pool_size: int = DEFAULT_POOL_SIZE,
        *,
        mail: MailContinuity | None = None,
        checkpoint_interval_s: float = 1.0,
    ) -> None:
        """``mail``: when outbound mail is configured, how a reply continues a mailed
        conversation (the group commit writes the mail outbox with it)."""
        self.url = url
        # The async engine is for the rooms that talk to the database themselves (billing).
        self.engine = make_engine(url, busy_timeout_s, pool_size)
        # Reads need no transaction: under READ COMMITTED every statement takes its own
        # snapshot anyway, and skipping BEGIN/ROLLBACK saves two round trips per read.
        self._read_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._sqlite = is_sqlite(url)
        if self._sqlite:
            self._sync_engine = make_sqlite_sync_engine(
                url, pool_size=READER_THREADS + 1, busy_timeout_s=busy_timeout_s
            )
            self._write_engine = make_sqlite_sync_engine(
                url, pool_size=1, immediate=True, busy_timeout_s=busy_timeout_s
            )
            self._readers = ThreadPoolExecutor(
                READER_THREADS, thread_name_prefix="livedesk-db-read"
            )
            self._checkpointer = ThreadPoolExecutor(1, thread_name_prefix="livedesk-db-checkpoint")
            # One writer thread: SQLite has one writer at a time, and queueing here beats its
            # busy handler, which sleeps up to 100 ms between retries.
            self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="livedesk-db-write")
            self._writes = WriteGroup(self._write_engine, self._writer_thread, busy_timeout_s)
        self.writer = GroupCommitter(self, max_batch, max_delay_ms / 1000)
        self.mail = mail
        # PostgreSQL: conversations seen with a first human reply (``write_batch_pg``).
        self._replied: set[str] = set()
        self._last_written = LastWritten()
        self._batch_connection = KeptConnection(self.engine)
        self.checkpoint_interval_s = checkpoint_interval_s
        self._checkpoints: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._sqlite:
            # SQLite copies its log into the file from whichever commit crosses 1,000
            # pages: a pause for the messages in that batch. The
            # writer leaves that to a thread of its own, which never holds a write lock.
            await self.write(lambda conn: conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0"))
            self._checkpoints = asyncio.create_task(
                self._checkpoint_loop(), name="livedesk-sqlite-checkpoint"
            )
        self.writer.start()

    async def _checkpoint_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.checkpoint_interval_s)
            try:
                await loop.run_in_executor(self._checkpointer, self._checkpoint)
                await self._writes.checkpoint_tail()
            except Exception as exc:  # a busy file now is checkpointed next time
                log.warning("SQLite checkpoint failed: %r", exc)

    def _checkpoint(self) -> None:
        with self._sync_engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    async def stop(self) -> None:
        await self.writer.stop()
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            await asyncio.gather(self._checkpoints, return_exceptions=True)
        if self._sqlite:
            self._checkpointer.shutdown(wait=True)
            self._readers.shutdown(wait=True)
            self._writer_thread.submit(self._writes.close)
            self._writer_thread.shutdown(wait=True)
            self._sync_engine.dispose()
            self._write_engine.dispose()
        await self._batch_connection.close()
        await self.engine.dispose()

    # ------------------------------------------------------------------ one hop per operation

    async def read(self, fn: Callable[[Connection], T]) -> T:
        with _mapped_errors():
            if self._sqlite:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._readers, self._sync_read, fn)
            async with self._read_engine.connect() as conn:
                return await conn.run_sync(fn)

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a transaction, committed when it returns. On SQLite the writes
        queued for the writer thread meanwhile share it, each in its own savepoint
        (``write_group.py``): a burst's writes cost one commit, not one each."""
        with _mapped_errors():
            if self._sqlite:
                return cast(T, await self._writes.run(fn))
            async with self.engine.begin() as conn:
                return await conn.run_sync(fn)

    async def write_plain(self, fn: Callable[[Connection], T]) -> T:
        """``write`` for a function of plain SQL alone (``PlainSql``): on SQLite written on
        the event loop itself while the writer thread is idle (``WriteGroup.run_here``)."""
        with _mapped_errors():
            if self._sqlite:
                return cast(T, await self._writes.run_here(fn))
        return await self.write(fn)

    async def write_batch(
        self, items: list[Append], *, probe: bool = True
    ) -> list[Appended | Exception]:
        """The group commit's transaction: ``write_batch``, on SQLite on the event loop
        itself while the writer thread is idle (``WriteGroup.run_here``), on PostgreSQL
        straight on asyncpg (``write_batch_pg``, which decides for itself when to probe).
        ``probe=False``: see ``write_batch``."""
        if self._sqlite:
            return await self.write_plain(
                functools.partial(write_batch, items=items, mail=self.mail, probe=probe)
            )
        with _mapped_errors():
            async with self._batch_connection.use() as db:
                return await write_batch_pg(db, items, self.mail, self._replied, self._last_written)

    def _sync_read(self, fn: Callable[[Connection], T]) -> T:
        with self._sync_engine.connect() as conn:
            return fn(conn)

    async def ping(self) -> bool:
        try:
            await self.read(lambda conn: conn.execute(sa.text("SELECT 1")).scalar())
            return True
        except Exception:
            return False

    # ------------------------------------------------------------------ appends

    async def append(self, item: Append, *, allow_closed: bool = False) -> Appended:
        if allow_closed:
            item.allow_closed = True
        return await self.writer.append(item)

    # ------------------------------------------------------------------ visitors

    async def get_visitor(self, visitor_id: str) -> Visitor | None:
        return await self._one(Visitor, _VISITOR_BY_ID, {"id": visitor_id})

    async def save_visitor(self, visitor: Visitor) -> None:
        values = visitor.model_dump()

        def run(conn: Connection) -> None:
            updated = conn.execute(
                sa.update(visitors_t).where(visitors_t.c.id == visitor.id).values(**values)
            )
            if updated.rowcount == 0:
                conn.execute(sa.insert(visitors_t).values(**values))

        await self.write(run)

    # ------------------------------------------------------------------ agents

    async def get_agent(self, agent_id: int) -> Agent | None:
        return await self._one(Agent, _AGENT_BY_ID, {"id": agent_id})

    async def agent_sessions(self, agent_ids: Iterable[int]) -> dict[int, AgentSession]:
        """Whether each of these agents is active, and their session version: what decides
        if their sessions still stand, for all of them in one read (an agent not in the
        answer is gone)."""
        query = sa.select(agents_t.c.id, agents_t.c.active, agents_t.c.session_version).where(
            agents_t.c.id.in_(sorted(set(agent_ids)))
        )
        rows = await self.read(lambda conn: conn.execute(query).all())
        return {int(r.id): AgentSession(bool(r.active), int(r.session_version)) for r in rows}

    async def get_agent_by_email(self, email: str) -> Agent | None:
        return await self._one(Agent, _AGENT_BY_EMAIL, {"email": email.strip().casefold()})

    async def list_agents(self) -> list[Agent]:
        return await self._all(Agent, sa.select(agents_t).order_by(agents_t.c.id))

    async def add_agent(
        self,
        email: str,
        name: str,
        password_hash: str,
        role: str = "agent",
        cap: int = 5,
        teams: str = "",
        languages: str = "",
    ) -> Agent:
        values: dict[str, Any] = {
            "email": email.strip().casefold(),
            "name": name,
            "password_hash": password_hash,
            "role": role,
            "cap": cap,
            "teams": teams,
            "languages": languages,
            "active": True,
            "session_version": 1,
            "created_ms": now_ms(),
        }

        def run(conn: Connection) -> int:
            key = conn.execute(sa.insert(agents_t).values(**values)).inserted_primary_key
            assert key is not None
            return int(key[0])

        values["id"] = await self.write(run)
        return Agent.model_validate(values)

    async def set_agent_caps(self, caps: dict[int, int]) -> int:
        """Supervisor-accepted caps, in one transaction; how many agents exist to take them."""

        def run(conn: Connection) -> int:
            done = 0
            for agent_id, cap in caps.items():
                done += conn.execute(
                    sa.update(agents_t).where(agents_t.c.id == agent_id).values(cap=cap)
                ).rowcount
            return done

        return await self.write(run)

    async def end_agent_sessions(self, agent_id: int, **values: Any) -> None:
        """Password change or deactivation: every cookie issued before is dead at once."""
        await self.write(
            lambda conn: conn.execute(
                sa.update(agents_t)
                .where(agents_t.c.id == agent_id)
                .values(session_version=agents_t.c.session_version + 1, **values)
            )
        )

    # ------------------------------------------------------------------ conversations

    async def get_conversation(self, conv_id: str) -> Conversation | None:
        return await self._one(Conversation, _CONVERSATION_BY_ID, {"id": conv_id})

    async def open_conversation_of(self, visitor_id: str) -> Conversation | None:
        return await self._one(Conversation, _OPEN_CONVERSATION_OF, {"visitor_id": visitor_id})

    async def open_conversations(self) -> list[Conversation]:
        return await self._all(
            Conversation,
            sa.select(conversations_t)
            .where(conversations_t.c.state.in_(OPEN_STATES))
            .order_by(conversations_t.c.created_ms),
        )

    async def conversations_of_agent(self, agent_id: int) -> list[Conversation]:
        return await self._all(
            Conversation,
            sa.select(conversations_t)
            .where(conversations_t.c.agent_id == agent_id)
            .where(conversations_t.c.state.in_(("offered", "active")))
            .order_by(conversations_t.c.created_ms),
        )

    async def previous_agent_of(self, visitor_id: str, except_conv: str) -> int | None:
        """The agent of the visitor's most recent earlier conversation, if any."""
        return await self.read(
            lambda conn: conn.execute(
                sa.select(conversations_t.c.agent_id)
                .where(conversations_t.c.visitor_id == visitor_id)
                .where(conversations_t.c.id != except_conv)
                .where(conversations_t.c.agent_id.is_not(None))
                .order_by(conversations_t.c.created_ms.desc())
                .limit(1)
            ).scalar_one_or_none()
        )

    async def open_conversation(
        self,
        visitor_id: str,
        site: str,
        language: str | None,
        channel: str = "chat",
        team: str | None = None,
        *,
        first: Callable[[Connection], None] | None = None,
    ) -> tuple[Conversation, bool]:
        """The visitor's open conversation, created if there is none. ``(conv, created)``.

        ``first``: rows the new conversation needs (a new visitor's own), written in its
        transaction; not written when the visitor has a conversation open already."""
        conv, created, _ = await self._open(visitor_id, site, language, None, channel, team, first)
        return conv, created

    async def open_with_message(
        self,
        visitor_id: str,
        site: str,
        language: str | None,
        message: Append | None,
        channel: str = "chat",
        team: str | None = None,
        *,
        first: Callable[[Connection], None] | None = None,
    ) -> tuple[Conversation, bool, Appended | None]:
        """``open_conversation``, and the conversation's first message (``message``, for
        any conversation id) stored in the same transaction: an arrival costs one write,
        not two. ``(conv, created, appended)``; ``appended`` is None when no message was
        written (none given, or the visitor had a conversation open already: the caller
        appends to that one). The row is not published: the caller does it
        (``writer.published``) once whoever should hear it is listening."""
        return await self._open(visitor_id, site, language, message, channel, team, first)

    async def _open(
        self,
        visitor_id: str,
        site: str,
        language: str | None,
        message: Append | None,
        channel: str,
        team: str | None,
        first: Callable[[Connection], None] | None,
    ) -> tuple[Conversation, bool, Appended | None]:
        ts = now_ms()
        conv_id = new_id()
        values: dict[str, Any] = {
            "id": conv_id,
            "visitor_id": visitor_id,
            "site": site,
            "state": "bot",
            "language": language,
            "channel": channel,
            "team": team,
            "created_ms": ts,
            "last_seq": 0,
            "visitor_seen_seq": 0,
            "agent_seen_seq": 0,
        }
        opened = {
            "conversation_id": conv_id,
            "from_state": None,
            "to_state": "bot",
            "actor": f"visitor:{visitor_id}",
            "detail": None,
            "created_ms": ts,
        }

        def run(conn: Connection) -> Appended | None:
            if first is not None:
                first(conn)
            conn.execute(_INSERT_CONVERSATION, values)
            conn.execute(_INSERT_EVENT, opened)
            if message is None:
                return None
            message.conversation_id = conv_id
            (outcome,) = write_batch(conn, [message])
            if isinstance(outcome, Exception):
                raise outcome
            values["last_seq"] = outcome.row["seq"]
            return outcome

        try:
            appended = await self.write(run)
        except IntegrityError:
            # The unique partial index says the visitor already has one open (another tab
            # or another hub process won the race): use that one.
            existing = await self.open_conversation_of(visitor_id)
            if existing is None:
                raise
            return existing, False, None
        return Conversation.model_validate(values), True, appended

    async def transition(
        self,
        conv_id: str,
        to_state: str,
        actor: str,
        *,
        expect_states: tuple[str, ...] | None = None,
        detail: dict[str, Any] | None = None,
        event: tuple[str, dict[str, Any]] | None = None,
        **values: Any,
    ) -> Conversation:
        """Move a conversation to ``to_state`` and log it; Conflict if not allowed.

        ``event`` (name, data): a sequenced system event written in the same transaction,
        so the move and the event everyone sees commit together or not at all."""
        allowed_from = tuple(s for s, nxt in TRANSITIONS.items() if to_state in nxt)
        if expect_states is not None:
            allowed_from = tuple(s for s in allowed_from if s in expect_states)

        def run(conn: Connection) -> tuple[dict[str, Any], dict[str, Any] | None]:
            ts = now_ms()
            current = conn.execute(
                sa.select(conversations_t.c.state).where(conversations_t.c.id == conv_id)
            ).scalar_one_or_none()
            if current is None:
                raise Conflict("no such conversation")
            if to_state == "closed":
                values.setdefault("closed_ms", ts)
            row = conn.execute(
                sa.update(conversations_t)
                .where(conversations_t.c.id == conv_id)
                .where(conversations_t.c.state.in_(allowed_from))
                .values(state=to_state, **values)
                .returning(*conversations_t.c)
            ).first()
            if row is None:
                raise Conflict(f"cannot go from {current} to {to_state}")
            conn.execute(
                sa.insert(events_t).values(
                    conversation_id=conv_id,
                    from_state=current,
                    to_state=to_state,
                    actor=actor,
                    detail=json.dumps(detail) if detail else None,
                    created_ms=ts,
                )
            )
            if to_state == "closed":
                record_close_due(conn, conv_id, ts)
            if event is None:
                return dict(row._mapping), None
            name, data = event
            item = Append(conv_id, "system", name, "event", data=data, allow_closed=True)
            (outcome,) = write_batch(conn, [item])
            if isinstance(outcome, Exception):
                raise outcome
            conv = dict(row._mapping)
            conv["last_seq"] = outcome.row["seq"]
            return conv, outcome.row

        conv, event_row = await self.write(run)
        self._last_written.forget((conv_id,))
        if event_row is not None:
            self.writer.published(event_row)
        return Conversation.model_validate(conv)

    async def mark_seen(self, conv_id: str, who: str, seq: int) -> int:
        """Raise the reader's "seen up to" mark (never lower it, never past the end)."""
        column = (
            conversations_t.c.visitor_seen_seq
            if who == "visitor"
            else conversations_t.c.agent_seen_seq
        )

        def run(conn: Connection) -> int:
            capped = sa.case(
                (conversations_t.c.last_seq < seq, conversations_t.c.last_seq), else_=seq
            )
            conn.execute(
                sa.update(conversations_t)
                .where(conversations_t.c.id == conv_id)
                .where(column < seq)
                .values({column.name: capped})
            )
            return int(
                conn.execute(sa.select(column).where(conversations_t.c.id == conv_id)).scalar_one()
            )

        return await self.write(run)

    async def messages_after(
        self, conv_id: str, after_seq: int, limit: int = 500
    ) -> list[dict[str, Any]]:
        def run(conn: Connection) -> list[dict[str, Any]]:
            result = conn.execute(
                sa.select(messages_t)
                .where(messages_t.c.conversation_id == conv_id)
                .where(messages_t.c.seq > after_seq)
                .order_by(messages_t.c.seq)
                .limit(limit)
            )
            return [dict(r._mapping) for r in result]

        return await self.read(run)

    async def events_of(self, conv_id: str) -> list[ConversationEvent]:
        return await self._all(
            ConversationEvent,
            sa.select(events_t)
            .where(events_t.c.conversation_id == conv_id)
            .order_by(events_t.c.id),
        )

    # ------------------------------------------------------------------ helpers

    async def _one(
        self, model: type[M], statement: sa.Select[Any], params: dict[str, Any]
    ) -> M | None:
        """The row ``statement`` (built once, at import) finds with ``params``, if any."""

        def run(conn: Connection) -> dict[str, Any] | None:
            row = conn.execute(statement, params).first()
            return None if row is None else dict(row._mapping)

        found = await self.read(run)
        return None if found is None else model.model_validate(found)

    async def _all(self, model: type[M], query: sa.Select[Any]) -> list[M]:
        rows = await self.read(lambda conn: [dict(r._mapping) for r in conn.execute(query)])
        return [model.model_validate(r) for r in rows]


class GroupCommitter:
    """Batches appends from many sockets into few transactions."""

    def __init__(self, store: Store, max_batch: int, max_delay_s: float) -> None:
        self.store = store
        self.max_batch = max_batch
        self._window = CommitWindow(max_delay_s)
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # Each is called with each newly stored row, in commit order, before any sender is
        # acked (the composition root registers the hub's fan-out).
        self.commit_listeners: list[Callable[[dict[str, Any]], None]] = []

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="livedesk-group-commit")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(StoreUnavailable("store shutting down"))

    async def append(self, item: Append) -> Appended:
        return await self.submit(item)

    def submit(self, item: Append) -> asyncio.Future[Appended]:
        """Queue an append without waiting for it; items commit in the order submitted."""
        if self._task is None:
            raise StoreUnavailable("store not started")
        loop = asyncio.get_running_loop()
        self._window.arrived(loop.time())
        future: asyncio.Future[Appended] = loop.create_future()
        self._queue.put_nowait(_Pending(item, future))
        return future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if self._queue.empty() and (wait_s := self._window.wait_s()) > 0:
                # A short wait lets concurrent senders share the commit (``CommitWindow``).
                await asyncio.sleep(wait_s)
            batch = [first]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            except asyncio.CancelledError:
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(StoreUnavailable("store shutting down"))
                raise
            except Exception:  # the writer must outlive any one bad batch
                log.exception("group commit failed")
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(StoreUnavailable("store write failed"))

    async def _commit(self, batch: list[_Pending]) -> None:
        items = [p.item for p in batch]
        outcomes: list[Appended | Exception]
        try:
            # Without looking for senders' retried client message ids first: a retry is
            # rare (a client resending what it sent before a reconnect), and the look was a
            # statement in every batch. The unique index finds a retry all the same.
            outcomes = await self.store.write_batch(items, probe=False)
        except StoreUnavailable as exc:
            outcomes = [exc] * len(batch)
        except Exception as exc:
            # Not an outage: a retried send (its client message id is stored already),
            # one item the database refused, or another hub process that stored the same
            # client message id between our check and our insert. Redo one by one, with
            # the look for stored ids, so that each is answered alone and everyone else's
            # commits.
            log.log(  # the name only: the message may quote what a client sent
                logging.INFO if isinstance(exc, IntegrityError) else logging.WARNING,
                "batch of %d refused (%s); writing its items one by one",
                len(items),
                type(exc).__name__,
            )
            outcomes = []
            for item in items:
                if outcomes and isinstance(outcomes[-1], StoreUnavailable):
                    outcomes.append(outcomes[-1])  # down now: don't wait out each item
                else:
                    outcomes.append(await self._write_one(item))
        metrics.COMMIT_BATCHES.inc()
        metrics.COMMIT_ITEMS.inc(len(batch))
        for outcome in outcomes:
            if isinstance(outcome, Appended) and not outcome.duplicate:
                self.published(outcome.row)
        for pending, outcome in zip(batch, outcomes, strict=True):
            if pending.future.done():
                continue
            if isinstance(outcome, Exception):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)

    def published(self, row: dict[str, Any]) -> None:
        """Hand a newly committed row to the listeners; publishing must never lose an ack."""
        for listener in self.commit_listeners:
            try:
                listener(row)
            except Exception:
                log.exception("commit listener failed")

    async def _write_one(self, item: Append) -> Appended | Exception:
        """One item in its own transaction: its outcome, a refusal included."""
        for _attempt in range(2):
            try:
                return (await self.store.write_batch([item]))[0]
            except StoreUnavailable as exc:
                return exc
            except IntegrityError:
                # Lost the race for its client message id: the next try finds the winner.
                continue
            except Exception as exc:
                return _refused(item, exc)
        return BadData("the store refused this item")
