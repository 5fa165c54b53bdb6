"""Rooms: which of this node's sockets listen on which bus channel, and the fan-out to them.

The bus's handler is ``Rooms.deliver``: a frame from any node reaches every local socket on
its channel through the socket's bounded ``Connection.push`` (``push_to``), never waiting.
An agent's ``assigned`` and ``unassigned`` frames move that agent's sockets into or out of
the conversation's room here, whichever node made them. Control channels (the KB and
settings announcements) go to the handler given for them instead of to sockets, and every
stored event seen on a conversation's channel goes to ``on_event`` (the hub's cache).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

from chatserver.backends.bus import Bus, Handler, conversation_channel
from chatserver.core.protocol import Audience, OutFrame, audience_of, for_audience
from chatserver.live.connection import Connection
from chatserver.runtime import metrics
from chatserver.runtime.tasks import TaskSet

log = logging.getLogger("livedesk.rooms")

CONV_PREFIX = conversation_channel("")
STORED_ITEM_TYPES = frozenset({"message", "event"})
# How long an `assigned` frame may wait for this node to hear its conversation live.
SUBSCRIBE_WAIT_S = 2.0

# A stored event seen on a conversation's channel: (conversation id, event, its data).
EventListener = Callable[[str, str, dict[str, Any]], None]


def push_to(conns: tuple[Connection, ...], frame: OutFrame, *, in_room: bool = False) -> None:
    """Hand ``frame`` to each socket as its audience may see it (``protocol.AUDIENCES``),
    each view encoded once; ``in_room`` (a conversation's channel): note the seq each
    socket was sent, for a catch-up."""
    views: dict[Audience, OutFrame | None] = {}
    body = frame.body
    # Only stored items carry a seq of the conversation's transcript (`seen` carries a mark).
    stored = in_room and body.get("type") in STORED_ITEM_TYPES
    seq: int = body.get("seq", -1) if stored else -1
    conv_id: str | None = body.get("conversation_id") if seq >= 0 else None
    sent = 0
    origin = frame.origin
    for conn in conns:
        if conn is origin:
            if conv_id is not None:
                conn.first_send(conv_id, seq)  # its ack carried the seq
            continue
        # A supervisor's watch socket is the team: it sees both sides' typing and receipts.
        who: Audience = "team" if conn.info.get("supervisor") else audience_of(conn.role)
        if who not in views:
            views[who] = for_audience(frame, who)
        view = views[who]
        if view is None:
            continue
        if conv_id is not None and not conn.first_send(conv_id, seq):
            continue  # this socket has it already (a catch-up raced a live frame)
        conn.push(view)
        sent += 1
    metrics.FRAMES_OUT.inc(sent)


class Rooms:
    def __init__(
        self,
        make_bus: Callable[[Handler], Bus],
        tasks: TaskSet,
        *,
        control: Mapping[str, Callable[[dict[str, Any]], None]] | None = None,
        on_event: EventListener | None = None,
    ) -> None:
        """The bus is made around ``deliver``; ``tasks`` owns the waits for a subscription;
        ``control``: channels whose frames go to a handler, not to sockets."""
        self.tasks = tasks
        self._control = dict(control or {})
        self._on_event = on_event
        # channel -> local sockets listening on it
        self.listeners: defaultdict[str, set[Connection]] = defaultdict(set)
        self.bus = make_bus(self.deliver)

    def deliver(self, channel: str, frame: OutFrame) -> None:
        """Bus handler: hand a frame to every local socket on the channel (never waits)."""
        body = frame.body
        control = self._control.get(channel)
        if control is not None:
            control(body)
            return
        kind = body.get("type")
        listeners = tuple(self.listeners.get(channel, ()))
        if kind == "assigned" and channel.startswith("agent:") and listeners:
            summary = body["conversation"]
            room = conversation_channel(summary["conversation_id"])
            for conn in listeners:
                self.join(conn, room)
                # The console reads the history up to here on `assigned`.
                conn.sent_seq.setdefault(summary["conversation_id"], summary["last_seq"])
            if not self.bus.subscribed(room):
                # The agent's console reads the history on `assigned`; if it did so before
                # this node hears the conversation live, a message in between would be lost.
                self.tasks.spawn(self._push_when_subscribed(room, listeners, frame))
                return
        elif kind == "unassigned" and channel.startswith("agent:"):
            room = conversation_channel(body["conversation_id"])
            for conn in listeners:
                self.leave(conn, room)
        elif kind == "event" and channel.startswith(CONV_PREFIX) and self._on_event is not None:
            self._on_event(body["conversation_id"], body["event"], body.get("data", {}))
        push_to(listeners, frame, in_room=channel.startswith(CONV_PREFIX))

    async def _push_when_subscribed(
        self, room: str, listeners: tuple[Connection, ...], frame: OutFrame
    ) -> None:
        if not await self.bus.until_subscribed(room, SUBSCRIBE_WAIT_S):
            log.warning("%s not subscribed after %ss; assigning anyway", room, SUBSCRIBE_WAIT_S)
        push_to(listeners, frame)

    def join(self, conn: Connection, channel: str) -> None:
        if channel in conn.rooms:
            return
        conn.rooms.add(channel)
        first = not self.listeners[channel]
        self.listeners[channel].add(conn)
        if first:
            self.bus.subscribe(channel)

    def leave(self, conn: Connection, channel: str) -> None:
        conn.rooms.discard(channel)
        if channel.startswith(CONV_PREFIX):
            conn.forget_sent(channel[len(CONV_PREFIX) :])
        room = self.listeners.get(channel)
        if room is None:
            return
        room.discard(conn)
        if not room:
            del self.listeners[channel]
            self.bus.unsubscribe(channel)

    def leave_all(self, conn: Connection) -> None:
        for channel in tuple(conn.rooms):
            self.leave(conn, channel)

    def publish(self, channel: str, body: dict[str, Any]) -> None:
        self.bus.publish(channel, OutFrame(body))
