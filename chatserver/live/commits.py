"""What happens to each item the store commits: its sender is acked, then it is published.

The store's group commit calls ``Commits.committed`` with each new row, in commit order,
before any sender's future resolves. The socket that sent a message (the first one waiting
on its ``client_msg_id``) gets its ``ack`` first, so its later frames keep seq order and it
is left out of the message's own fan-out; then the row goes out on the conversation's
channel (events to the supervisors too). A stored event also goes to ``on_event`` first
(the hub's cache), before any socket can act on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chatserver.backends.bus import SUPERVISORS_CHANNEL, Bus, conversation_channel
from chatserver.core.protocol import OutFrame, message_frame
from chatserver.live.connection import Connection

# A stored event: (conversation id, event, its data).
EventListener = Callable[[str, str, dict[str, Any]], None]


def ack_frame(client_msg_id: str, conv_id: str, seq: int, duplicate: bool = False) -> OutFrame:
    body = {
        "type": "ack",
        "client_msg_id": client_msg_id,
        "conversation_id": conv_id,
        "seq": seq,
        "duplicate": duplicate,
    }
    return OutFrame.with_string_ids(body)


class Commits:
    def __init__(self, bus: Bus, *, on_event: EventListener | None = None) -> None:
        self.bus = bus
        self._on_event = on_event
        # Sends waiting for their commit, by (conversation, client_msg_id), in submit order:
        # the first one's commit stores the message, acks that socket in commit order and
        # leaves it out of the message's fan-out; a repeat is acked as a duplicate.
        self.sending: dict[tuple[str, str], list[Connection]] = {}

    def committed(self, row: dict[str, Any]) -> None:
        """Store commit listener, called in commit order: publish each new item once."""
        frame = message_frame(row)
        if row["kind"] == "event":
            if self._on_event is not None:
                self._on_event(row["conversation_id"], row["body"], frame.body["data"])
        elif row.get("client_msg_id"):
            sender = self._first_sender((row["conversation_id"], row["client_msg_id"]))
            if sender is not None:
                # Before the message reaches anyone: the sender's later frames keep seq order.
                sender.push(ack_frame(row["client_msg_id"], row["conversation_id"], row["seq"]))
                frame.origin = sender
        self.bus.publish(conversation_channel(row["conversation_id"]), frame)
        if row["kind"] == "event":
            self.bus.publish(SUPERVISORS_CHANNEL, frame)

    def waiting(self, conn: Connection, conv_id: str, client_msg_id: str) -> None:
        """Called right before the item is submitted, so this list is in submit order."""
        self.sending.setdefault((conv_id, client_msg_id), []).append(conn)

    def _first_sender(self, key: tuple[str, str]) -> Connection | None:
        waiting = self.sending.get(key)
        if not waiting:
            return None
        first = waiting.pop(0)
        if not waiting:
            del self.sending[key]
        return first

    def not_waiting(self, conn: Connection, conv_id: str, client_msg_id: str) -> None:
        """The send was refused, or was a duplicate: no commit of it will ack this socket."""
        key = (conv_id, client_msg_id)
        waiting = self.sending.get(key)
        if waiting and conn in waiting:
            waiting.remove(conn)
            if not waiting:
                del self.sending[key]
