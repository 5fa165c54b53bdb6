"""The store is the truth: visitors, agents, conversations and their sequenced messages.

Appends go through a group-commit writer: one transaction per short batch, each sender
acknowledged only after that commit. ``seq`` is allocated inside the same transaction by
bumping ``conversations.last_seq``, whose row lock keeps it gapless across hub processes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatserver.errors import Conflict, StoreUnavailable
from chatserver.models import (
    OPEN_STATES,
    Agent,
    Conversation,
    ConversationEvent,
    Message,
    Visitor,
)

log = logging.getLogger("livedesk.store")

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
}


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


@dataclass(slots=True)
class Appended:
    row: dict[str, Any]
    duplicate: bool = False
    first_human_reply: bool = False


@dataclass(slots=True)
class _Pending:
    item: Append
    future: asyncio.Future[Appended] = field(repr=False)


def _unavailable(exc: Exception) -> StoreUnavailable:
    return StoreUnavailable(f"store unavailable: {type(exc).__name__}")


class GroupCommitter:
    """Batches appends from many sockets into few transactions."""

    def __init__(self, engine: AsyncEngine, max_batch: int, max_delay_s: float) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # Called with each newly stored row, in commit order, before any sender is acked.
        self.on_commit: Callable[[dict[str, Any]], None] | None = None
        self.batches = 0
        self.items = 0

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
        if self._task is None:
            raise StoreUnavailable("store not started")
        future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(item, future))
        return await future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            if self.max_delay_s > 0 and self._queue.empty():
                # A short wait lets concurrent senders share the commit.
                await asyncio.sleep(self.max_delay_s)
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit_batch(batch)
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

    async def _commit_batch(self, batch: list[_Pending]) -> None:
        try:
            results = await self._write(batch)
        except IntegrityError:
            # Another hub process stored the same client message id between our check and
            # our insert: redo one by one so each gets its own verdict.
            results = {}
            for pending in batch:
                try:
                    results.update(await self._write([pending]))
                except (OperationalError, DBAPIError, OSError) as exc:
                    results[id(pending)] = _unavailable(exc)
        except (OperationalError, DBAPIError, OSError) as exc:
            err = _unavailable(exc)
            results = {id(p): err for p in batch}
        self.batches += 1
        self.items += len(batch)
        if self.on_commit is not None:
            for pending in batch:
                outcome = results[id(pending)]
                if isinstance(outcome, Appended) and not outcome.duplicate:
                    try:
                        self.on_commit(outcome.row)
                    except Exception:  # publishing must never lose the ack
                        log.exception("commit callback failed")
        for pending in batch:
            outcome = results[id(pending)]
            if isinstance(outcome, _SameAs):
                original = results[id(outcome.original)]
                outcome = (
                    Appended(original.row, duplicate=True)
                    if isinstance(original, Appended)
                    else original
                )
            if pending.future.done():
                continue
            if isinstance(outcome, Exception):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)

    async def _write(self, batch: list[_Pending]) -> dict[int, Appended | Exception]:
        results: dict[int, Appended | Exception] = {}
        ts = now_ms()
        async with self.engine.begin() as conn:
            fresh = await self._drop_duplicates(conn, batch, results)
            per_conv: dict[tuple[str, bool], list[_Pending]] = defaultdict(list)
            for pending in fresh:
                per_conv[(pending.item.conversation_id, pending.item.allow_closed)].append(pending)
            rows: list[dict[str, Any]] = []
            for (conv_id, allow_closed), items in per_conv.items():
                bump = (
                    sa.update(conversations_t)
                    .where(conversations_t.c.id == conv_id)
                    .values(last_seq=conversations_t.c.last_seq + len(items))
                    .returning(conversations_t.c.last_seq)
                )
                if not allow_closed:
                    bump = bump.where(conversations_t.c.state.in_(OPEN_STATES))
                result = await conn.execute(bump)
                last = result.scalar_one_or_none()
                if last is None:
                    for pending in items:
                        results[id(pending)] = Conflict("conversation_closed")
                    continue
                first_seq = last - len(items) + 1
                human_reply = False
                for offset, pending in enumerate(items):
                    item = pending.item
                    row = {
                        "conversation_id": conv_id,
                        "seq": first_seq + offset,
                        "kind": item.kind,
                        "author": item.author,
                        "author_id": item.author_id,
                        "author_name": item.author_name,
                        "body": item.body,
                        "data": json.dumps(item.data) if item.data is not None else None,
                        "client_msg_id": item.client_msg_id,
                        "created_ms": ts,
                    }
                    rows.append(row)
                    results[id(pending)] = Appended(row)
                    human_reply = human_reply or (item.author == "agent" and item.kind == "text")
                if human_reply:
                    first = await conn.execute(
                        sa.update(conversations_t)
                        .where(conversations_t.c.id == conv_id)
                        .where(conversations_t.c.first_human_reply_ms.is_(None))
                        .values(first_human_reply_ms=ts)
                    )
                    if first.rowcount == 1:
                        for pending in items:
                            if pending.item.author == "agent" and pending.item.kind == "text":
                                outcome = results[id(pending)]
                                assert isinstance(outcome, Appended)
                                outcome.first_human_reply = True
                                break
            if rows:
                await conn.execute(sa.insert(messages_t), rows)
        return results

    async def _drop_duplicates(
        self,
        conn: AsyncConnection,
        batch: list[_Pending],
        results: dict[int, Appended | Exception],
    ) -> list[_Pending]:
        keyed = [p for p in batch if p.item.client_msg_id is not None]
        if not keyed:
            return batch
        keys = {(p.item.conversation_id, p.item.author, p.item.client_msg_id) for p in keyed}
        found = await conn.execute(
            sa.select(messages_t).where(
                sa.tuple_(
                    messages_t.c.conversation_id, messages_t.c.author, messages_t.c.client_msg_id
                ).in_(list(keys))
            )
        )
        stored = {(r.conversation_id, r.author, r.client_msg_id): dict(r._mapping) for r in found}
        fresh: list[_Pending] = []
        first_in_batch: dict[tuple[str, str, str | None], _Pending] = {}
        for pending in batch:
            key = (pending.item.conversation_id, pending.item.author, pending.item.client_msg_id)
            if pending.item.client_msg_id is not None and key in stored:
                results[id(pending)] = Appended(stored[key], duplicate=True)
            elif pending.item.client_msg_id is not None and key in first_in_batch:
                # The same retry twice in one batch: answered after the first is written.
                results[id(pending)] = _SameAs(first_in_batch[key])
            else:
                if pending.item.client_msg_id is not None:
                    first_in_batch[key] = pending
                fresh.append(pending)
        return fresh


class _SameAs(Exception):
    """Placeholder resolved to the first copy's result once the batch is written."""

    def __init__(self, original: _Pending) -> None:
        self.original = original


class Store:
    def __init__(self, engine: AsyncEngine, max_batch: int = 256, max_delay_ms: float = 2.0):
        self.engine = engine
        self.writer = GroupCommitter(engine, max_batch, max_delay_ms / 1000)

    async def start(self) -> None:
        self.writer.start()

    async def stop(self) -> None:
        await self.writer.stop()
        await self.engine.dispose()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
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
        return await self._one(Visitor, visitors_t.c.id == visitor_id)

    async def save_visitor(self, visitor: Visitor) -> None:
        values = visitor.model_dump()
        async with self._begin() as conn:
            updated = await conn.execute(
                sa.update(visitors_t).where(visitors_t.c.id == visitor.id).values(**values)
            )
            if updated.rowcount == 0:
                await conn.execute(sa.insert(visitors_t).values(**values))

    # ------------------------------------------------------------------ agents

    async def get_agent(self, agent_id: int) -> Agent | None:
        return await self._one(Agent, agents_t.c.id == agent_id)

    async def get_agent_by_email(self, email: str) -> Agent | None:
        return await self._one(Agent, agents_t.c.email == email.strip().casefold())

    async def list_agents(self) -> list[Agent]:
        async with self._connect() as conn:
            result = await conn.execute(sa.select(agents_t).order_by(agents_t.c.id))
            return [Agent.model_validate(dict(r._mapping)) for r in result]

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
        values = {
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
        async with self._begin() as conn:
            result = await conn.execute(sa.insert(agents_t).values(**values))
            values["id"] = result.inserted_primary_key[0]
        return Agent.model_validate(values)

    async def update_agent(self, agent_id: int, **values: Any) -> None:
        async with self._begin() as conn:
            await conn.execute(
                sa.update(agents_t).where(agents_t.c.id == agent_id).values(**values)
            )

    async def end_agent_sessions(self, agent_id: int, **values: Any) -> None:
        """Password change or deactivation: every cookie issued before is dead at once."""
        async with self._begin() as conn:
            await conn.execute(
                sa.update(agents_t)
                .where(agents_t.c.id == agent_id)
                .values(session_version=agents_t.c.session_version + 1, **values)
            )

    # ------------------------------------------------------------------ conversations

    async def get_conversation(self, conv_id: str) -> Conversation | None:
        return await self._one(Conversation, conversations_t.c.id == conv_id)

    async def open_conversation_of(self, visitor_id: str) -> Conversation | None:
        return await self._one(
            Conversation,
            (conversations_t.c.visitor_id == visitor_id) & conversations_t.c.state.in_(OPEN_STATES),
        )

    async def open_conversations(self) -> list[Conversation]:
        async with self._connect() as conn:
            result = await conn.execute(
                sa.select(conversations_t)
                .where(conversations_t.c.state.in_(OPEN_STATES))
                .order_by(conversations_t.c.created_ms)
            )
            return [Conversation.model_validate(dict(r._mapping)) for r in result]

    async def conversations_of_agent(self, agent_id: int) -> list[Conversation]:
        async with self._connect() as conn:
            result = await conn.execute(
                sa.select(conversations_t)
                .where(conversations_t.c.agent_id == agent_id)
                .where(conversations_t.c.state.in_(("offered", "active")))
                .order_by(conversations_t.c.created_ms)
            )
            return [Conversation.model_validate(dict(r._mapping)) for r in result]

    async def previous_agent_of(self, visitor_id: str, except_conv: str) -> int | None:
        """The agent of the visitor's most recent earlier conversation, if any."""
        async with self._connect() as conn:
            result = await conn.execute(
                sa.select(conversations_t.c.agent_id)
                .where(conversations_t.c.visitor_id == visitor_id)
                .where(conversations_t.c.id != except_conv)
                .where(conversations_t.c.agent_id.is_not(None))
                .order_by(conversations_t.c.created_ms.desc())
                .limit(1)
            )
            return result.scalar_one_or_none()

    async def open_conversation(
        self, visitor_id: str, site: str, language: str | None
    ) -> tuple[Conversation, bool]:
        """The visitor's open conversation, created if there is none. ``(conv, created)``."""
        ts = now_ms()
        values = {
            "id": new_id(),
            "visitor_id": visitor_id,
            "site": site,
            "state": "bot",
            "language": language,
            "created_ms": ts,
            "last_seq": 0,
            "visitor_seen_seq": 0,
            "agent_seen_seq": 0,
        }
        try:
            async with self._begin() as conn:
                await conn.execute(sa.insert(conversations_t).values(**values))
                await conn.execute(
                    sa.insert(events_t).values(
                        conversation_id=values["id"],
                        from_state=None,
                        to_state="bot",
                        actor=f"visitor:{visitor_id}",
                        created_ms=ts,
                    )
                )
        except IntegrityError:
            # The unique partial index says the visitor already has one open (another tab
            # or another hub process won the race): use that one.
            existing = await self.open_conversation_of(visitor_id)
            if existing is None:
                raise
            return existing, False
        return Conversation.model_validate(values), True

    async def transition(
        self,
        conv_id: str,
        to_state: str,
        actor: str,
        *,
        expect_states: tuple[str, ...] | None = None,
        detail: dict[str, Any] | None = None,
        **values: Any,
    ) -> Conversation:
        """Move a conversation to ``to_state`` and log it; Conflict if not allowed."""
        ts = now_ms()
        allowed_from = tuple(s for s, nxt in TRANSITIONS.items() if to_state in nxt)
        if expect_states is not None:
            allowed_from = tuple(s for s in allowed_from if s in expect_states)
        async with self._begin() as conn:
            current = (
                await conn.execute(
                    sa.select(conversations_t.c.state).where(conversations_t.c.id == conv_id)
                )
            ).scalar_one_or_none()
            if current is None:
                raise Conflict("no such conversation")
            if to_state == "closed":
                values.setdefault("closed_ms", ts)
            result = await conn.execute(
                sa.update(conversations_t)
                .where(conversations_t.c.id == conv_id)
                .where(conversations_t.c.state.in_(allowed_from))
                .values(state=to_state, **values)
            )
            if result.rowcount != 1:
                raise Conflict(f"cannot go from {current} to {to_state}")
            await conn.execute(
                sa.insert(events_t).values(
                    conversation_id=conv_id,
                    from_state=current,
                    to_state=to_state,
                    actor=actor,
                    detail=json.dumps(detail) if detail else None,
                    created_ms=ts,
                )
            )
            row = (
                await conn.execute(
                    sa.select(conversations_t).where(conversations_t.c.id == conv_id)
                )
            ).one()
        return Conversation.model_validate(dict(row._mapping))

    async def mark_seen(self, conv_id: str, who: str, seq: int) -> int:
        """Raise the reader's "seen up to" mark (never lower it); returns the mark."""
        column = (
            conversations_t.c.visitor_seen_seq
            if who == "visitor"
            else conversations_t.c.agent_seen_seq
        )
        async with self._begin() as conn:
            capped = sa.case(
                (conversations_t.c.last_seq < seq, conversations_t.c.last_seq), else_=seq
            )
            await conn.execute(
                sa.update(conversations_t)
                .where(conversations_t.c.id == conv_id)
                .where(column < seq)
                .values({column.name: capped})
            )
            mark = (
                await conn.execute(sa.select(column).where(conversations_t.c.id == conv_id))
            ).scalar_one()
        return int(mark)

    async def messages_after(
        self, conv_id: str, after_seq: int, limit: int = 500
    ) -> list[dict[str, Any]]:
        async with self._connect() as conn:
            result = await conn.execute(
                sa.select(messages_t)
                .where(messages_t.c.conversation_id == conv_id)
                .where(messages_t.c.seq > after_seq)
                .order_by(messages_t.c.seq)
                .limit(limit)
            )
            return [dict(r._mapping) for r in result]

    async def events_of(self, conv_id: str) -> list[ConversationEvent]:
        async with self._connect() as conn:
            result = await conn.execute(
                sa.select(events_t)
                .where(events_t.c.conversation_id == conv_id)
                .order_by(events_t.c.id)
            )
            return [ConversationEvent.model_validate(dict(r._mapping)) for r in result]

    # ------------------------------------------------------------------ helpers

    def _connect(self) -> Any:
        return _Guarded(self.engine.connect())

    def _begin(self) -> Any:
        return _Guarded(self.engine.begin())

    async def _one(self, model: Any, where: Any) -> Any:
        async with self._connect() as conn:
            row = (await conn.execute(sa.select(model.__table__).where(where))).first()
        return None if row is None else model.model_validate(dict(row._mapping))


class _Guarded:
    """Maps the driver's connection errors to StoreUnavailable at the boundary."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __aenter__(self) -> AsyncConnection:
        try:
            return await self.inner.__aenter__()
        except IntegrityError:
            raise
        except (OperationalError, DBAPIError, OSError) as exc:
            raise _unavailable(exc) from exc

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            result = await self.inner.__aexit__(exc_type, exc, tb)
        except IntegrityError:
            raise
        except (OperationalError, DBAPIError, OSError) as err:
            raise _unavailable(err) from err
        if isinstance(exc, (OperationalError, DBAPIError, OSError)) and not isinstance(
            exc, IntegrityError
        ):
            raise _unavailable(exc) from exc
        return result
