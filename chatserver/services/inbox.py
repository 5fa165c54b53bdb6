"""The inbox's actions: an offline message becomes a conversation; a conversation is taken,
picked from the queue, assigned, reopened, answered or closed — every live hand-over through
the router, so no agent ever holds more than their cap.

Every change tells the desk with an ``inbox_changed`` frame on the inbox channel (each
console re-reads its own counts: what a view holds depends on who reads it).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import IntegrityError

from chatserver.backends import inbox_queries as iq
from chatserver.backends.bus import INBOX_CHANNEL
from chatserver.backends.models import Conversation, Visitor
from chatserver.backends.store import Append, Appended
from chatserver.core.errors import LivedeskError
from router import RouterError

log = logging.getLogger(__name__)

# Called after an agent's reply to an offline conversation is stored:
# (conversation, the stored message row, the visitor's e-mail). The mail sender registers here.
OfflineReplyListener = Callable[[Conversation, dict[str, Any], str | None], Awaitable[None] | None]


class InboxRefused(LivedeskError):
    """An inbox action that cannot be done now; ``code`` says why (for the HTTP answer)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Inbox:
    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.store = hub.store
        self.offline_reply_listeners: list[OfflineReplyListener] = []

    @property
    def dispatch(self) -> Any:
        return self.hub.dispatch

    def changed(self, conv_id: str | None = None) -> None:
        """Consoles re-read their counts (and the open view) on this frame."""
        self.hub.publish(INBOX_CHANNEL, {"type": "inbox_changed", "conversation_id": conv_id})

    def on_closed(self, conv: Conversation) -> None:
        """A conversation closed: consoles re-read their counts."""
        self.changed(conv.id)

    # ------------------------------------------------------------------ offline messages

    async def offline_message(
        self, visitor: Visitor, name: str | None, email: str, text: str
    ) -> str:
        """The offline form's message as a conversation in state ``offline``."""
        current = await self.store.open_conversation_of(visitor.id)
        conv_id: str = await self.store.write(
            lambda conn: iq.create_offline_conversation(
                conn,
                visitor_id=visitor.id,
                site=visitor.site,
                language=visitor.language,
                name=name or visitor.name,
                email=email,
                text=text,
                from_conversation=current.id if current else None,
            )
        )
        self.changed(conv_id)
        return conv_id

    async def assign_offline(self, conv: Conversation, agent_id: int | None, actor: str) -> None:
        ok = await self.store.write(lambda c: iq.assign_offline(c, conv.id, agent_id, actor))
        if not ok:
            raise InboxRefused("not_offline", "this is not an offline message any more")
        self.changed(conv.id)

    async def reply_offline(self, conv: Conversation, agent_id: int, name: str, text: str) -> int:
        """An agent's answer to an offline message, stored as a normal message; the mail
        sender (a listener) carries it to the visitor. Returns its seq."""
        if conv.state != iq.OFFLINE:
            raise InboxRefused("not_offline", "this is not an offline message")
        if conv.agent_id != agent_id:
            await self.assign_offline(conv, agent_id, f"agent:{agent_id}")
            conv = conv.model_copy(update={"agent_id": agent_id})
        item = Append(
            conv.id,
            "agent",
            text,
            author_id=str(agent_id),
            author_name=name,
            data={"via": "email"},
        )
        done: Appended = await self.store.append(item)
        email = await self.store.read(lambda c: iq.offline_email(c, conv.id))
        for listener in self.offline_reply_listeners:
            try:
                outcome = listener(conv, done.row, email)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                log.exception("an offline-reply listener failed for %s", conv.id)
        self.changed(conv.id)
        return int(done.row["seq"])

    # ------------------------------------------------------------------ live hand-overs

    async def take(self, conv: Conversation, agent_id: int, actor: str) -> None:
        """A closed chat or an offline message back into routing, and to this agent if they
        have room (the router says; NoRoom leaves it waiting in the queue for the next)."""
        try:
            row = await self.store.write(lambda c: iq.reopen(c, conv.id, actor))
        except IntegrityError:
            raise InboxRefused(
                "visitor_busy", "the visitor has another open chat: continue there"
            ) from None
        if row is None:
            raise InboxRefused("not_reopenable", "only closed chats and offline messages")
        reopened = Conversation.model_validate(row)
        self.hub.remember(reopened)
        await self.dispatch.conversation_waiting(reopened)
        self.changed(conv.id)
        await self.pick(reopened, agent_id, actor)

    async def pick(self, conv: Conversation, agent_id: int, actor: str) -> None:
        """A waiting chat to this agent, within their cap (the router refuses past it)."""
        try:
            await self.dispatch.transfer(conv.id, actor, to_agent=agent_id, note="picked")
        except RouterError as exc:
            # The router may already have offered it to this very agent (their earlier
            # chat with the visitor counts): that is the take done.
            now = await self.store.get_conversation(conv.id)
            if now is None or now.agent_id != agent_id:
                raise InboxRefused("agent_full", f"cannot take it now: {exc}") from None
        finally:
            self.changed(conv.id)
