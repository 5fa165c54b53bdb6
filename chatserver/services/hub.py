"""The hub: what each frame does, and who hears about it.

Frames arrive already checked (``protocol.parse_client_frame``). Stored items are
published by the store's commit listener (``live/commits.py``) in seq order; ephemeral
ones (typing, seen, queue) are published directly. Which local sockets hear a channel is
``live/rooms.py``'s; every socket gets frames only through its bounded ``Connection.push``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from chatserver.backends.bus import (
    INBOX_CHANNEL,
    KB_CHANNEL,
    SETTINGS_CHANNEL,
    SUPERVISORS_CHANNEL,
    Bus,
    InMemoryBus,
    agent_channel,
    conversation_channel,
    customer_channel,
    visitor_channel,
)
from chatserver.backends.models import OPEN_STATES, Conversation, Visitor
from chatserver.backends.store import Append, Appended, Store
from chatserver.bot.brain import BotReply, HumanRequested, message_data
from chatserver.bot.transcript import STILL_WANTS_A_PERSON, handoff_summary
from chatserver.core.errors import (
    BadData,
    Conflict,
    Forbidden,
    LivedeskError,
    NotActive,
    StoreUnavailable,
)
from chatserver.core.names import visitor_alias
from chatserver.core.protocol import (
    Answer,
    Close,
    OutFrame,
    Ping,
    ProtocolError,
    Rate,
    Resume,
    Seen,
    Send,
    SetStatus,
    Typing,
    Working,
    audience_of,
    error_frame,
    for_audience,
    message_frame,
)
from chatserver.core.settings import Settings
from chatserver.live.auth import Principal
from chatserver.live.commits import Commits, ack_frame
from chatserver.live.connection import Connection
from chatserver.live.rooms import CONV_PREFIX, Rooms, push_to
from chatserver.runtime import metrics
from chatserver.runtime.tasks import TaskSet
from router import RouterError, Snapshot

if TYPE_CHECKING:
    from sqlalchemy import Connection as SaConnection

    from chatserver.backends.bus import Handler
    from chatserver.backends.presence import Presence
    from chatserver.services.assist import Assistant
    from chatserver.services.ports import CreditsPort, Routing

# A fact's listener: called with the conversation, awaited when it returns an awaitable.
ClosedListener = Callable[[Conversation], object]

log = logging.getLogger("livedesk.hub")

RESUME_PAGE = 500
# What a bot turn asks of routing: take the chat out of the queue (an article helped), or
# queue it again (it was set aside, and a person is wanted after all).
BotOutcome = Literal["set_aside", "waiting"] | None
# Only ever handed to the boards' wakers (never to a socket: no client knows it).
QUEUE_CHANGED = OutFrame({"type": "queue_changed"})


@dataclass(slots=True)
class ConvRef:
    """What the hub needs to know of a conversation to route a frame."""

    id: str
    visitor_id: str
    agent_id: int | None
    state: str
    language: str | None = None
    team: str | None = None


def _refusal(exc: Exception, ref: str | None) -> ProtocolError:
    """What the sender hears when the store refused an append."""
    if isinstance(exc, Forbidden):
        return ProtocolError("forbidden", "not your conversation", ref)
    if isinstance(exc, NotActive):
        return ProtocolError("conflict", "the conversation is not active", ref)
    if isinstance(exc, Conflict):
        return ProtocolError("conversation_closed", "the conversation is closed", ref)
    if isinstance(exc, BadData):
        return ProtocolError("invalid_field", "the store cannot hold this; not saved", ref)
    return ProtocolError("unavailable", "not saved; retry the same frame", ref)


def _appended(future: asyncio.Future[Appended], ref: str | None) -> Appended:
    """The result of a done append; a refusal as the sender's ProtocolError."""
    exc = future.exception() if not future.cancelled() else StoreUnavailable("cancelled")
    if exc is None:
        return future.result()
    if isinstance(exc, (Forbidden, Conflict, StoreUnavailable, BadData)):
        raise _refusal(exc, ref) from exc
    raise exc


def refuse(conn: Connection, exc: ProtocolError) -> None:
    """An `error` frame for a refused frame; the socket stays (ws.py closes on a flood)."""
    conn.strikes += 1
    metrics.ERRORS.labels(code=exc.code).inc()
    conn.push(error_frame(exc.code, exc.message, exc.ref))


# conn.info: a visitor whose row is not written yet (``NewVisitor``); the hub takes it out
# once the rows are committed.
NEW_VISITOR = "new_visitor"


@dataclass(frozen=True, slots=True)
class NewVisitor:
    """A visitor writing for the first time: their language, and their rows as one step of
    the transaction that opens their conversation (one write, not three)."""

    language: str | None
    rows: Callable[[SaConnection], None]
    # Rows beyond the visitor's own (page views): written alone if another tab of theirs
    # opened the conversation (whose transaction wrote the visitor's row).
    more: bool


def _system_event(
    conv_id: str, event: str, data: dict[str, Any], client_msg_id: str | None = None
) -> Append:
    """The conversation may have just closed, so a system event is written even then (the
    close event is the last word). ``client_msg_id``: an event that must be stored once
    even if two nodes (or a retry) write it."""
    return Append(
        conversation_id=conv_id,
        author="system",
        kind="event",
        body=event,
        data=data,
        client_msg_id=client_msg_id,
        allow_closed=True,
    )


def _log_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("background append failed: %s", future.exception())


def reply_eta_s(snapshot: Snapshot) -> int | None:
    """How soon a new chat can expect a person, for the widget's welcome line: now when an
    online agent has a free slot, else the queue ahead of it shared among the slots that
    free up; None when nobody is online."""
    online = [a for a in snapshot.agents if a.status == "online" and a.connected]
    if not online:
        return None
    if any(a.load < a.cap for a in online):
        return 0
    slots = sum(a.cap for a in online)
    return round((snapshot.queued + 1) * snapshot.mean_handle_s / slots)


def visitor_summary(visitor: Visitor) -> dict[str, Any]:
    return {
        "id": visitor.id,
        "name": visitor.name,
        # The same friendly name in every conversation of an anonymous visitor.
        "alias": visitor_alias(visitor.id),
        "verified": visitor.customer_email is not None,
        "customer_email": visitor.customer_email,
        "language": visitor.language,
    }


def conversation_summary(conv: Conversation, agent_name: str | None = None) -> dict[str, Any]:
    return {
        "conversation_id": conv.id,
        "state": conv.state,
        "last_seq": conv.last_seq,
        "visitor_seen_seq": conv.visitor_seen_seq,
        "agent_seen_seq": conv.agent_seen_seq,
        "agent": {"id": conv.agent_id, "name": agent_name} if conv.agent_id else None,
        "created_ms": conv.created_ms,
    }


class Hub:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        make_bus: Callable[[Handler], Bus] = InMemoryBus,
        presence: Presence | None = None,
        assist: Assistant | None = None,
        make_credits: Callable[[Hub], CreditsPort] | None = None,
        make_routing: Callable[[Hub], Routing] | None = None,
        on_settings_changed: Callable[[], None] | None = None,
    ) -> None:
        """Everything is given here: the bus is made around the rooms' ``deliver``; credits
        and routing take the hub in their constructors (they call back into it), so the hub
        calls the constructors it is handed rather than having them assigned afterwards."""
        self.store = store
        self.settings = settings
        self.tasks = TaskSet("hub")
        # This node's sockets by channel, and the bus that feeds them (live/rooms.py); the
        # store's commits go out through ``commits`` (live/commits.py), registered by the
        # composition root as the store's commit listener. Stored events keep the cache
        # below in step, whichever way they come.
        self.rooms = Rooms(
            make_bus,
            self.tasks,
            control={KB_CHANNEL: self._kb_changed, SETTINGS_CHANNEL: self._settings_changed},
            on_event=self._note_event,
        )
        self.bus: Bus = self.rooms.bus
        self.listeners = self.rooms.listeners
        self.commits = Commits(self.bus, on_event=self._note_event)
        self.agent_names: dict[int, str] = {}
        # Open conversations this node has seen: a hint that spares a read per frame.
        self.convs: dict[str, ConvRef] = {}
        self.visitor_open: dict[str, str] = {}
        # Who the connected visitors are, for the agent's "assigned" frame.
        self.visitors: dict[str, dict[str, Any]] = {}
        self.assist = assist
        self.presence = presence
        self._catching_up: asyncio.Task[None] | None = None
        self._catch_up_again = False
        # "Conversation closed" reaches the other services through these (registered by
        # the composition root), in registration order.
        self.closed_listeners: list[ClosedListener] = []
        # A visitor wrote in a chat that an agent holds (by this node's cache; a listener
        # reads the conversation again before acting): the conversation's id and its agent's.
        self.agent_chat_listeners: list[Callable[[str, int], None]] = []
        # A node announced new settings (this one too).
        self.on_settings_changed = on_settings_changed
        self.credits = make_credits(self) if make_credits is not None else None
        self.dispatch = make_routing(self) if make_routing is not None else None

    # ------------------------------------------------------------------ fan-out

    def _kb_changed(self, body: dict[str, Any]) -> None:
        if body.get("type") == "kb_changed" and self.assist is not None:
            self.assist.on_bus(body.get("articles"), body.get("canned"))

    def _settings_changed(self, body: dict[str, Any]) -> None:
        if body.get("type") == "settings_changed" and self.on_settings_changed is not None:
            self.on_settings_changed()

    def wake_boards(self) -> None:
        """The routing picture changed with nothing stored (a chat queued): this node's
        supervisor boards push now rather than at their next tick."""
        for listener in tuple(self.listeners.get(SUPERVISORS_CHANNEL, ())):
            listener.push(QUEUE_CHANGED)

    def join(self, conn: Connection, channel: str) -> None:
        self.rooms.join(conn, channel)

    def leave(self, conn: Connection, channel: str) -> None:
        self.rooms.leave(conn, channel)

    def leave_all(self, conn: Connection) -> None:
        self.rooms.leave_all(conn)

    def publish(self, channel: str, body: dict[str, Any]) -> None:
        self.rooms.publish(channel, body)

    # ------------------------------------------------------------------ attach / detach

    async def attach_visitor(self, conn: Connection, visitor: Visitor) -> None:
        visitor_id = visitor.id
        verified = visitor.customer_email is not None
        conn.hold()
        self.visitors[visitor_id] = visitor_summary(visitor)
        conv = await self.store.open_conversation_of(visitor_id)
        self.join(conn, visitor_channel(visitor_id))
        summary = None
        if conv is not None:
            self.remember(conv)
            self.join(conn, conversation_channel(conv.id))
            conn.sent_seq.setdefault(conv.id, conv.last_seq)  # the client resumes from it
            summary = conversation_summary(conv, await self.agent_name(conv.agent_id))
        credits = None
        if visitor.customer_email and self.credits is not None:
            self.join(conn, customer_channel(visitor.customer_email))
            credits = {"balance": await self.credits.balance(visitor.customer_email)}
        available, snapshot = True, None
        if self.dispatch is not None:
            # One snapshot of the router for both (each arrival builds one).
            snapshot = self.dispatch.snapshot()
            available = await self.dispatch.available(conn.info.get("team"), snapshot)
        conn.push_first(
            OutFrame(
                {
                    "type": "welcome",
                    "role": "visitor",
                    "visitor_id": visitor_id,
                    "verified": verified,
                    "conversation": summary,
                    "available": available,
                    "reply_eta_s": reply_eta_s(snapshot) if snapshot is not None else None,
                    "credits": credits,
                    "shop_url": self.settings.billing.shop_url,
                    "limits": self._limits(),
                }
            )
        )

    async def attach_agent(self, conn: Connection, principal: Principal) -> None:
        self.agent_names[principal.agent_id] = principal.name
        conn.hold()
        self.join(conn, agent_channel(principal.agent_id))
        self.join(conn, INBOX_CHANNEL)
        if self.presence is not None:
            await self.presence.agent_connected(principal.agent_id)
        convs = await self.store.conversations_of_agent(principal.agent_id)
        for conv in convs:
            self.remember(conv)
            self.join(conn, conversation_channel(conv.id))
            conn.sent_seq.setdefault(conv.id, conv.last_seq)  # the client resumes from it
        status = "online"
        if self.dispatch is not None:
            status = await self.dispatch.agent_connected(principal.agent_id)
        conn.push_first(
            OutFrame(
                {
                    "type": "welcome",
                    "role": principal.role,
                    "agent": {"id": principal.agent_id, "name": principal.name, "status": status},
                    "conversations": [conversation_summary(c, principal.name) for c in convs],
                    "limits": self._limits(),
                }
            )
        )

    async def detach(self, conn: Connection) -> None:
        self.leave_all(conn)
        if conn.role == "visitor" and not self.listeners.get(visitor_channel(conn.identity)):
            self.visitors.pop(conn.identity, None)
        if conn.role == "agent" and self.dispatch is not None:
            principal: Principal = conn.identity
            if self.presence is not None:
                await self.presence.agent_disconnected(principal.agent_id)
            if not await self._still_connected(principal.agent_id):
                await self.dispatch.agent_disconnected(principal.agent_id)

    async def _still_connected(self, agent_id: int) -> bool:
        """Does the agent keep a socket open here or on another node?"""
        if self.listeners.get(agent_channel(agent_id)):
            return True
        if self.presence is None:
            return False
        try:
            return agent_id in await self.presence.online_agents()
        except LivedeskError:
            return False

    def _limits(self) -> dict[str, int]:
        return {
            "max_text_chars": self.settings.limits.max_text_chars,
            "max_frame_bytes": self.settings.limits.max_frame_bytes,
        }

    async def agent_name(self, agent_id: int | None) -> str | None:
        if agent_id is None:
            return None
        if agent_id not in self.agent_names:
            agent = await self.store.get_agent(agent_id)
            self.agent_names[agent_id] = agent.name if agent else "Agent"
        return self.agent_names[agent_id]

    # ------------------------------------------------------------------ frames

    async def handle(self, conn: Connection, frame: Any) -> None:
        """Carry out one checked frame. A store that is down or locked (a visitor's first
        message opens a conversation, which writes) is the client's `unavailable`, never
        the socket's end."""
        try:
            await self._handle(conn, frame)
        except (StoreUnavailable, BadData) as exc:
            raise _refusal(exc, getattr(frame, "client_msg_id", None)) from exc

    async def _handle(self, conn: Connection, frame: Any) -> None:
        if isinstance(frame, Ping):
            conn.push(OutFrame({"type": "pong"}))
        elif isinstance(frame, Send):
            await self._send(conn, frame)
        elif isinstance(frame, Typing):
            await self._typing(conn, frame)
        elif isinstance(frame, Seen):
            await self._seen(conn, frame)
        elif isinstance(frame, Resume):
            await self._resume(conn, frame)
        elif isinstance(frame, Close):
            await self._close(conn, frame)
        elif isinstance(frame, SetStatus):
            await self._status(conn, frame)
        elif isinstance(frame, Rate):
            await self._rate(conn, frame)
        elif isinstance(frame, Working):
            conv = await self._conversation_for(conn, frame.conversation_id, write=True)
            await self._agent_working(conn, conv)
        elif isinstance(frame, Answer):
            principal: Principal = conn.identity
            if self.dispatch is not None:
                try:
                    await self.dispatch.answer_offer(
                        frame.conversation_id, principal.agent_id, accept=frame.accept
                    )
                except RouterError:
                    raise ProtocolError(
                        "conflict", "that offer is no longer yours (it moved on or ended)"
                    ) from None

    # ------------------------------------------------------------------ the cache

    def remember(self, conv: Conversation) -> ConvRef:
        ref = ConvRef(conv.id, conv.visitor_id, conv.agent_id, conv.state, conv.language, conv.team)
        if conv.state in OPEN_STATES:
            self.convs[conv.id] = ref
            self.visitor_open[conv.visitor_id] = conv.id
        else:
            self.forget(conv.id)
        return ref

    def forget_all(self) -> None:
        """The bus was down: stored events other nodes published meanwhile never reached
        this cache, so every entry is re-read from the store on its next use."""
        self.convs.clear()
        self.visitor_open.clear()

    def request_catch_up(self) -> None:
        """``catch_up`` after the cache is dropped, one at a time: a request made while one
        runs is served by one more pass after it (the bus may report many gaps at once)."""
        if self._catching_up is not None and not self._catching_up.done():
            self._catch_up_again = True
            return
        self._catching_up = self.tasks.spawn(self._catch_up_passes())

    async def _catch_up_passes(self) -> None:
        again = True
        while again:
            self._catch_up_again = False
            self.forget_all()
            await self.catch_up()
            again = self._catch_up_again

    async def catch_up(self) -> None:
        """Frames published while the bus was down (here or on another node) never reached
        this node's sockets: replay from the store what each one was not sent, one read per
        conversation. A seq goes out on a socket once (``Connection.first_send``), whether
        the catch-up or a late live frame brings it first."""
        rooms = [
            (channel[len(CONV_PREFIX) :], tuple(conns))
            for channel, conns in tuple(self.listeners.items())
            if channel.startswith(CONV_PREFIX)
        ]
        replayed = 0
        for conv_id, conns in rooms:
            # Marks taken before the read: an item pushed live meanwhile may overtake an
            # older one the read brings, and the older one must still go out.
            marks = {c: c.sent_seq[conv_id] for c in conns if conv_id in c.sent_seq}
            if not marks:
                continue
            after = min(marks.values())
            try:
                while True:
                    rows = await self.store.messages_after(conv_id, after, RESUME_PAGE)
                    for row in rows:
                        late = tuple(c for c, mark in marks.items() if row["seq"] > mark)
                        if late:
                            # push_to skips a socket that got this seq live meanwhile.
                            push_to(late, message_frame(row), in_room=True)
                            replayed += 1
                    if len(rows) < RESUME_PAGE:
                        break
                    after = rows[-1]["seq"]
            except StoreUnavailable as exc:  # those sockets catch up on their next resume
                log.warning("catch-up of %s failed: %s", conv_id, exc)
        if replayed:
            log.info("caught up %d items missed while the bus was down", replayed)

    def forget(self, conv_id: str) -> None:
        if self.assist is not None:
            self.assist.drop_state(conv_id)
        ref = self.convs.pop(conv_id, None)
        if ref is not None and self.visitor_open.get(ref.visitor_id) == conv_id:
            del self.visitor_open[ref.visitor_id]

    def _note_event(self, conv_id: str, event: str, data: dict[str, Any]) -> None:
        """Keep the cache in step with a stored event (ours, or another node's via the bus)."""
        ref = self.convs.get(conv_id)
        if event == "closed":
            self.forget(conv_id)
        elif ref is None:
            return
        elif event == "assigned":
            ref.agent_id = data.get("agent", {}).get("id")
            ref.state = "active"
        elif event == "requeued":
            ref.agent_id = None
            ref.state = "bot"

    async def _conversation_for(
        self, conn: Connection, conv_id: str | None, *, write: bool
    ) -> ConvRef:
        """The conversation the frame names, if this socket may touch it; else forbidden.

        The cache answers the common case; the store is read on a miss. Missing and
        foreign conversations get the same answer, so ids leak nothing. (Appends are
        checked again by the store itself, so a stale cache can never let a write through.)
        """
        if conn.role == "visitor":
            visitor_id: str = conn.identity
            if conv_id is None:
                conv_id = self.visitor_open.get(visitor_id)
                if conv_id is None:
                    conv = await self.store.open_conversation_of(visitor_id)
                    if conv is None:
                        raise ProtocolError("no_conversation", "no open conversation")
                    return self.remember(conv)
            ref = self.convs.get(conv_id)
            if ref is None or ref.visitor_id != visitor_id:
                conv = await self.store.get_conversation(conv_id)
                if conv is None or conv.visitor_id != visitor_id:
                    raise ProtocolError("forbidden", "not your conversation")
                ref = self.remember(conv)
            return ref
        principal: Principal = conn.identity
        ref = self.convs.get(conv_id or "")
        if ref is None or ref.agent_id != principal.agent_id:
            conv = await self.store.get_conversation(conv_id or "")
            if conv is None:
                raise ProtocolError("forbidden", "not your conversation")
            ref = self.remember(conv)
        if ref.agent_id == principal.agent_id:
            return ref
        if not write and principal.has_role("supervisor"):
            return ref  # supervisors may watch any conversation
        raise ProtocolError("forbidden", "not your conversation")

    async def _send(self, conn: Connection, frame: Send) -> None:
        if conn.role != "visitor":
            self._agent_send(conn, frame)
            return
        # A visitor with no row yet has had no conversation before this one.
        first_visit = NEW_VISITOR in conn.info
        result, conv_id, created = await self._visitor_send(conn, frame)
        self._ack(conn, frame, result, conv_id, "visitor")
        await self._after_send(frame, result, conv_id, created, "visitor", first_visit)

    def _agent_send(self, conn: Connection, frame: Send) -> None:
        """An agent's text, without waiting for its commit: an agent writes into several
        chats at once, and the socket's next frame must not wait behind this one's commit.
        The store commits in the order submitted, so acks (or errors) go out in order too;
        the store checks that the agent holds the conversation."""
        principal: Principal = conn.identity
        conv_id = frame.conversation_id or ""
        item = Append(
            conversation_id=conv_id,
            author="agent",
            author_id=str(principal.agent_id),
            author_name=principal.name,
            body=frame.text,
            client_msg_id=frame.client_msg_id,
        )

        def committed(future: asyncio.Future[Appended]) -> None:
            try:
                result = _appended(future, frame.client_msg_id)
            except ProtocolError as exc:
                self.commits.not_waiting(conn, conv_id, frame.client_msg_id)
                refuse(conn, exc)
                return
            self._ack(conn, frame, result, conv_id, "agent")
            if result.first_human_reply:
                self.tasks.spawn(self._after_send(frame, result, conv_id, None, "agent"))

        self.commits.waiting(conn, conv_id, frame.client_msg_id)
        self.store.writer.submit(item).add_done_callback(committed)

    def _ack(
        self, conn: Connection, frame: Send, result: Appended, conv_id: str, author: str
    ) -> None:
        """Ack a repeated send; a new message was acked by its commit (``Commits.committed``)."""
        if result.duplicate:
            self.commits.not_waiting(conn, conv_id, frame.client_msg_id)
            conn.push(ack_frame(frame.client_msg_id, conv_id, result.row["seq"], True))
        metrics.MESSAGES_BY_AUTHOR[author].inc()

    async def _after_send(
        self,
        frame: Send,
        result: Appended,
        conv_id: str,
        created: Conversation | None,
        author: str,
        first_visit: bool = False,
    ) -> None:
        """What a stored send sets off: routing, billing, the bot or suggestions."""
        if self.dispatch is not None:
            if created is not None:
                await self.dispatch.conversation_waiting(created, first_visit=first_visit)
            if result.first_human_reply:
                await self.dispatch.first_human_reply(conv_id)
        if result.first_human_reply and self.credits is not None:
            self.credits.spawn_debit(conv_id)
        if author == "visitor" and not result.duplicate:
            ref = self.convs.get(conv_id)
            if ref is not None and ref.state == "active" and ref.agent_id is not None:
                if created is not None:
                    # Its routing just assigned the chat: the agent was told of it (the
                    # offer's push) and given suggestions for these words on arrival.
                    return
                for listener in self.agent_chat_listeners:
                    listener(conv_id, ref.agent_id)
            if self.assist is not None:
                await self._visitor_wrote(conv_id, result.row["seq"], frame.text)

    async def _visitor_send(
        self, conn: Connection, frame: Send
    ) -> tuple[Appended, str, Conversation | None]:
        """Append to the visitor's open conversation, opening one if there is none.
        Returns the new conversation too when this send opened it."""
        visitor_id: str = conn.identity
        if frame.conversation_id is not None:
            ref = await self._conversation_for(conn, frame.conversation_id, write=True)
            if ref.state not in OPEN_STATES:
                raise ProtocolError(
                    "conversation_closed", "that conversation is closed", frame.client_msg_id
                )
        created: Conversation | None = None
        first: NewVisitor | None = conn.info.get(NEW_VISITOR)
        for _attempt in range(2):
            conv_id = self.visitor_open.get(visitor_id)
            if conv_id is None:
                # A visitor without a row has no conversation to read (one another tab of
                # theirs opens meanwhile is found by ``open_conversation``).
                conv = None if first else await self.store.open_conversation_of(visitor_id)
                opened: Appended | None = None
                if conv is None:
                    if first is not None:
                        language = first.language
                    else:
                        visitor = await self.store.get_visitor(visitor_id)
                        language = visitor.language if visitor else None
                    # The message is stored in the transaction that opens the conversation
                    # (its id is filled in there); not one meant for another conversation.
                    message = None
                    if frame.conversation_id is None:
                        message = self._visitor_item(conn, "", frame)
                    conv, is_new, opened = await self.store.open_with_message(
                        visitor_id,
                        conn.info.get("site", "default"),
                        language,
                        message,
                        team=conn.info.get("team"),
                        first=first.rows if first is not None else None,
                    )
                    if first is not None and (is_new or not first.more):
                        conn.info.pop(NEW_VISITOR, None)  # written (or nothing to write)
                        first = None
                    created = conv if is_new else None
                    for sibling in tuple(self.listeners.get(visitor_channel(visitor_id), ())):
                        self.join(sibling, conversation_channel(conv.id))
                        sibling.sent_seq.setdefault(conv.id, 0)
                conv_id = self.remember(conv).id
                if opened is not None:
                    # Published only now that every tab of the visitor's is in the room; the
                    # sender is acked by that publish, as by a group commit.
                    self.commits.waiting(conn, conv_id, frame.client_msg_id)
                    self.store.writer.published(opened.row)
                    return opened, conv_id, created
            if frame.conversation_id is not None and frame.conversation_id != conv_id:
                raise ProtocolError(
                    "conversation_closed", "that conversation is closed", frame.client_msg_id
                )
            if first is not None:  # another tab opened the conversation (and wrote the row)
                if first.more:
                    await self.store.write(first.rows)
                conn.info.pop(NEW_VISITOR, None)
                first = None
            self.commits.waiting(conn, conv_id, frame.client_msg_id)
            item = self._visitor_item(conn, conv_id, frame)
            try:
                return await self._append(item, frame.client_msg_id), conv_id, created
            except BaseException as exc:
                self.commits.not_waiting(conn, conv_id, frame.client_msg_id)
                if not isinstance(exc, ProtocolError):
                    raise
                if exc.code != "conversation_closed" or frame.conversation_id is not None:
                    raise
                self.forget(conv_id)  # closed elsewhere: open a new one and try once more
        raise ProtocolError("conflict", "could not open a conversation", frame.client_msg_id)

    @staticmethod
    def _visitor_item(conn: Connection, conv_id: str, frame: Send) -> Append:
        return Append(
            conversation_id=conv_id,
            author="visitor",
            author_id=conn.identity,
            author_name=conn.info.get("name"),
            body=frame.text,
            client_msg_id=frame.client_msg_id,
        )

    async def _visitor_wrote(self, conv_id: str, seq: int, text: str) -> None:
        """After a visitor's message: an agent in the chat gets the knowledge base's best
        replies beside it. Otherwise the bot may hold the chat, and its turn belongs to the
        routing node (``bot_turn``): there it comes after whatever routing is still being
        carried out for the conversation, so "waiting, greeting, first answer" is one
        ordered sequence whichever node the visitor is on."""
        assert self.assist is not None
        ref = self.convs.get(conv_id)
        if ref is not None and ref.state == "active" and ref.agent_id is not None:
            self._suggest(conv_id, ref, text, seq)
        elif self.dispatch is not None:
            await self.dispatch.visitor_wrote(conv_id, seq)
        else:
            self.assist.spawn(self.bot_turn(conv_id, seq))

    async def bot_turn(self, conv_id: str, seq: int) -> BotOutcome:
        """The bot's reply to visitor message ``seq``, decided from the stored transcript's
        fold (``bot/transcript.py``), never from this process's memory. Its messages carry
        client message ids made of ``seq``, so a turn run twice (a new routing node
        retrying, say) is stored once. Returns what routing should do about it."""
        if self.assist is None:
            return None
        conv = await self.store.get_conversation(conv_id)
        if conv is None:
            return None
        if conv.state == "active" and conv.agent_id is not None:
            # The visitor's node still thought the bot held it: an agent does.
            rows = await self.store.messages_after(conv_id, seq - 1, 1)
            if rows and rows[0]["seq"] == seq and rows[0]["author"] == "visitor":
                self._suggest(conv_id, self.remember(conv), rows[0]["body"], seq)
            return None
        if conv.state != "bot":
            return None
        before, replies = await self.assist.bot_replies(conv_id, conv.language, seq)
        wants_person = helped = False
        for i, reply in enumerate(replies):
            if isinstance(reply, HumanRequested):
                wants_person = True
                self.post_event(conv_id, "human_requested", {}, f"bot-{seq}-human")
            else:
                wants_person |= reply.kind in STILL_WANTS_A_PERSON
                helped |= reply.kind == "helped"
                await self.bot_says(conv_id, reply, f"bot-{seq}-{i}")
        if helped:
            # Nobody needs to come. Out of the queue, not closed: the End chat button
            # closes it; a visitor who walks away is not handed to an agent.
            return "set_aside"
        return "waiting" if wants_person and before.set_aside else None

    def _suggest(self, conv_id: str, ref: ConvRef, text: str, seq: int | None) -> None:
        """The knowledge base's best replies, pushed to the conversation's agent."""
        assert self.assist is not None and ref.agent_id is not None
        channel = agent_channel(ref.agent_id)

        def deliver(items: list[dict[str, Any]]) -> None:
            self.publish(
                channel,
                {
                    "type": "suggestions",
                    "conversation_id": conv_id,
                    "for_seq": seq,
                    "items": items,
                },
            )

        self.assist.suggest_latest(conv_id, text, ref.language, deliver)

    async def _suggest_soon(self, ref: ConvRef, preview: str) -> None:
        self._suggest(ref.id, ref, preview, None)

    async def bot_says(self, conv_id: str, reply: BotReply, client_msg_id: str) -> None:
        """Store a bot message; ``client_msg_id`` names the bot's step, so writing the same
        step again (another node, a retry) stores nothing twice."""
        appended = await self.store.append(
            Append(
                conversation_id=conv_id,
                author="bot",
                author_name=reply.label,
                body=reply.text,
                data=message_data(reply),
                client_msg_id=client_msg_id,
            )
        )
        if not appended.duplicate:
            metrics.MESSAGES_BY_AUTHOR["bot"].inc()

    async def bot_greet(self, conv_id: str, position: int | None, eta_s: float | None) -> None:
        """The bot takes a waiting conversation: who it is, the place in the queue, and,
        when nobody will come, the offline form. Once per spell: the transcript says
        whether it greeted already (before a restart, or from another routing node)."""
        if self.assist is None:
            return
        ref = self.convs.get(conv_id)
        if ref is None:  # the visitor may be on another node: the store knows
            conv = await self.store.get_conversation(conv_id)
            if conv is None:
                return
            ref = self.remember(conv)
        state = await self.assist.bot_state(conv_id)
        if state.greeted:
            return
        brain = self.assist.brain(ref.language, state)
        await self.bot_says(conv_id, brain.greet(position, eta_s), f"bot-greet-{state.spell}")
        if self.dispatch is not None and not await self.dispatch.available(ref.team):
            await self.bot_says(conv_id, brain.offline_prompt(), f"bot-offline-{state.spell}")
            self.post_event(conv_id, "offline", {}, f"offline-{state.spell}")

    async def handoff(self, conv: Conversation) -> None:
        """A human takes over from the bot: leave them the bot's summary, folded from the
        transcript (so it holds whatever node the bot spoke from, and what it said before a
        restart). Stored once, however many nodes or retries write it."""
        if self.assist is None:
            return
        if conv.last_seq < 3:
            # A question, the bot's reply and the ``assigned`` event stored with the move
            # are three items: with fewer the bot never answered, and nothing needs reading.
            return
        try:
            state = await self.assist.bot_state(conv.id)
        except StoreUnavailable as exc:
            log.warning("no hand-off summary for %s: %s", conv.id, exc)
            return
        self.assist.drop_state(conv.id)  # a person holds it now: the bot has nothing to do
        if state.exchanges:
            summary = handoff_summary(state, conv.language)
            last = state.exchanges[-1].question_seq
            self.post_event(conv.id, "handoff", {"summary": summary}, f"handoff-{last}")

    async def _append(self, item: Append, ref: str | None) -> Appended:
        try:
            return await self.store.append(item)
        except (Forbidden, Conflict, StoreUnavailable, BadData) as exc:
            raise _refusal(exc, ref) from exc

    async def _typing(self, conn: Connection, frame: Typing) -> None:
        conv = await self._conversation_for(conn, frame.conversation_id, write=True)
        if conv.state not in ("bot", "offered", "active"):
            raise ProtocolError("conversation_closed", "the conversation is closed")
        self.publish(
            conversation_channel(conv.id),
            {
                "type": "typing",
                "conversation_id": conv.id,
                "who": conn.role,
                "active": frame.active,
            },
        )
        if conn.role == "agent" and frame.active:
            await self._agent_working(conn, conv)
        if conn.role == "visitor" and frame.preview and self.assist is not None:
            if conv.state == "active" and conv.agent_id is not None:
                preview, ref = frame.preview, conv
                self.assist.debounce(conv.id, lambda: self._suggest_soon(ref, preview))

    async def _agent_working(self, conn: Connection, conv: ConvRef) -> None:
        """Typing, or a draft held: work the first-reply clock counts."""
        if self.dispatch is not None and conv.state == "active":
            await self.dispatch.agent_working(conv.id, conn.identity.agent_id)

    async def _seen(self, conn: Connection, frame: Seen) -> None:
        conv = await self._conversation_for(conn, frame.conversation_id, write=False)
        if conn.role == "agent" and conv.agent_id != conn.identity.agent_id:
            return  # a supervisor watching silently leaves no read receipt
        mark = await self._guard(self.store.mark_seen(conv.id, conn.role, frame.seq))
        self.publish(
            conversation_channel(conv.id),
            {"type": "seen", "conversation_id": conv.id, "who": conn.role, "seq": mark},
        )

    async def _resume(self, conn: Connection, frame: Resume) -> None:
        conv = await self._conversation_for(conn, frame.conversation_id, write=False)
        if conv.state in ("bot", "offered", "active"):
            self.join(conn, conversation_channel(conv.id))
        after = frame.after_seq
        # Marks only for a room it is in: a catch-up replays rooms.
        in_room = conversation_channel(conv.id) in conn.rooms
        if in_room:
            conn.sent_seq.setdefault(conv.id, after)
        who = audience_of(conn.role)
        while True:
            rows = await self._guard(self.store.messages_after(conv.id, after, RESUME_PAGE))
            for row in rows:
                view = for_audience(message_frame(row), who)
                if view is not None:
                    await conn.push_waiting(view)
                if in_room:
                    conn.first_send(conv.id, row["seq"])  # asked for: sent even if sent before
            if len(rows) < RESUME_PAGE:
                break
            after = rows[-1]["seq"]
        fresh = await self.store.get_conversation(conv.id)
        assert fresh is not None
        conn.push(
            OutFrame(
                {
                    "type": "resumed",
                    "conversation": conversation_summary(
                        fresh, await self.agent_name(fresh.agent_id)
                    ),
                }
            )
        )

    async def _close(self, conn: Connection, frame: Close) -> None:
        conv = await self._conversation_for(conn, frame.conversation_id, write=True)
        if conv.state not in OPEN_STATES:
            raise ProtocolError("conversation_closed", "already closed")
        actor = "visitor" if conn.role == "visitor" else "agent"
        await self.close_conversation(conv.id, actor, f"{actor}:{self._actor_id(conn)}")

    async def _rate(self, conn: Connection, frame: Rate) -> None:
        conv_id = frame.conversation_id
        if conv_id is None:
            raise ProtocolError("invalid_field", "`conversation_id` is required")
        ref = await self._conversation_for(conn, conv_id, write=True)
        try:
            await self.store.transition(
                ref.id,
                "rated",
                f"visitor:{conn.identity}",
                expect_states=("closed",),
                csat_score=frame.score,
                csat_comment=frame.comment,
            )
        except Conflict as exc:
            now = await self.store.get_conversation(ref.id)
            if now is not None and now.state == "rated":
                raise ProtocolError(
                    "already_rated", "this conversation is rated already; a rating is final"
                ) from exc
            raise ProtocolError("conflict", "only a closed conversation can be rated") from exc
        except StoreUnavailable as exc:
            raise ProtocolError("unavailable", "not saved; retry") from exc
        conn.push(OutFrame({"type": "rated", "conversation_id": ref.id, "score": frame.score}))

    async def _status(self, conn: Connection, frame: SetStatus) -> None:
        principal: Principal = conn.identity
        if self.dispatch is not None:
            await self.dispatch.agent_status(principal.agent_id, frame.status)
        self.publish(
            agent_channel(principal.agent_id),
            {"type": "status", "agent_id": principal.agent_id, "status": frame.status},
        )

    @staticmethod
    def _actor_id(conn: Connection) -> str:
        return conn.identity if conn.role == "visitor" else str(conn.identity.agent_id)

    async def _guard(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except StoreUnavailable as exc:
            raise ProtocolError("unavailable", "store unavailable; retry") from exc

    # ------------------------------------------------------------------ transitions

    async def close_conversation(
        self, conv_id: str, closed_by: str, actor: str, **values: Any
    ) -> None:
        """Close (``values``: e.g. tags and outcome set by the agent in the same write)."""
        try:
            # The close and its `closed` event commit together: a close nobody hears of
            # would keep the agent's slot for ever.
            closed = await self.store.transition(
                conv_id,
                "closed",
                actor,
                event=("closed", {"by": closed_by}),
                closed_by=closed_by,
                **values,
            )
        except Conflict as exc:
            raise ProtocolError("conversation_closed", "already closed") from exc
        except StoreUnavailable as exc:
            raise ProtocolError("unavailable", "store unavailable; retry") from exc
        try:
            self.forget(closed.id)
            metrics.CONVERSATIONS.labels(outcome="closed").inc()
        finally:
            # Committed is ended: every listener hears it (the router frees the agent's slot)
            # whatever failed above or in another listener.
            for listener in self.closed_listeners:
                try:
                    outcome = listener(closed)
                    if inspect.isawaitable(outcome):
                        await outcome
                except Exception:
                    log.exception("a conversation-closed listener failed for %s", closed.id)

    async def append_event(self, conv_id: str, event: str, data: dict[str, Any]) -> None:
        """A sequenced system event, waiting for its commit."""
        await self.store.writer.submit(_system_event(conv_id, event, data))

    def post_event(
        self, conv_id: str, event: str, data: dict[str, Any], client_msg_id: str | None = None
    ) -> None:
        """Like ``append_event`` without waiting for the commit (it keeps its place in the
        commit order): for the dispatcher, which must not hold everyone up on one write."""
        item = _system_event(conv_id, event, data, client_msg_id)
        self.store.writer.submit(item).add_done_callback(_log_failure)

    @staticmethod
    def assigned_event(agent_id: int, name: str | None) -> tuple[str, dict[str, Any]]:
        """The ``assigned`` event, stored in the transaction that makes the chat active."""
        return "assigned", {"agent": {"id": agent_id, "name": name}}

    async def assigned(self, conv: Conversation, agent_id: int) -> None:
        """Carry out an assignment already made durable, its ``assigned`` event stored with
        it (``assigned_event``) and so already on its way to the visitor: tell the agent."""
        name = await self.agent_name(agent_id)
        self.remember(conv)
        channel = agent_channel(agent_id)
        visitor = self.visitors.get(conv.visitor_id)
        if visitor is None:
            found = await self.store.get_visitor(conv.visitor_id)
            visitor = (
                visitor_summary(found)
                if found
                else {"id": conv.visitor_id, "alias": visitor_alias(conv.visitor_id)}
            )
        summary = conversation_summary(conv, name)
        summary["visitor"] = visitor
        self.publish(channel, {"type": "assigned", "conversation": summary})
        if self.assist is not None:
            # An agent taking a chat mid-way (transfer, hand-off from the bot) would otherwise
            # see no suggestion until the visitor writes again.
            self.assist.spawn(self._suggest_on_arrival(conv, agent_id))
        await self.handoff(conv)

    async def _suggest_on_arrival(self, conv: Conversation, agent_id: int) -> None:
        """Suggestions for the visitor's latest words, to the agent who just took the chat."""
        assert self.assist is not None
        conv_id, lang = conv.id, conv.language
        rows = await self.store.messages_after(conv_id, max(0, conv.last_seq - 50), 500)
        said = [r for r in rows if r["author"] == "visitor" and r["kind"] == "text"]
        if not said:
            return
        last = said[-1]
        items = await self.assist.suggestion_items(last["body"], lang)
        if not items:
            return
        self.publish(
            agent_channel(agent_id),
            {
                "type": "suggestions",
                "conversation_id": conv_id,
                "for_seq": last["seq"],
                "items": items,
            },
        )

    def queue_update(self, conv_id: str, visitor_id: str, position: int, eta_s: float) -> None:
        self.publish(
            visitor_channel(visitor_id),
            {
                "type": "queue",
                "conversation_id": conv_id,
                "position": position,
                "eta_s": round(eta_s),
            },
        )

    def unassigned(self, conv_id: str, agent_id: int, reason: str | None = None) -> None:
        """The agent lost the chat (transfer, grace expired, no first reply): their sockets
        stop hearing it (``deliver`` takes them out of the room on whichever node they are).
        ``reason``: the router's, for the console to say why."""
        body: dict[str, Any] = {"type": "unassigned", "conversation_id": conv_id}
        if reason is not None:
            body["reason"] = reason
        self.publish(agent_channel(agent_id), body)
