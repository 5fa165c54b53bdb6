"""The platform's limit for the hub's round trip: a bare ``websockets`` server on uvloop
doing the visitor → agent → visitor path with the same frames, and storing nothing.

Agents connect to ``/ws/agent``, visitors to ``/ws/visitor`` (msgpack, as the hub's
``livedesk.v1.msgpack``). A visitor's first ``send`` opens a conversation with the agent
holding fewest (``assigned`` to the agent, an ``assigned`` event to both). Every ``send``
gets a per-conversation seq, an ``ack`` to the sender (and, with ``--echo``, the message
back to the sender) and the message, shaped as the hub's, to the other side; frames are
written with ``websockets.broadcast`` (no task per frame). ``hub_roundtrip --bare`` drives it with the same client.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from typing import Any

import msgpack
from websockets import ConnectionClosed, broadcast
from websockets.asyncio.server import ServerConnection, serve

PROTO = "livedesk.v1.msgpack"


class Conversation:
    def __init__(self, conv_id: str, visitor: ServerConnection, agent: ServerConnection) -> None:
        self.id = conv_id
        self.visitor = visitor
        self.agent = agent
        self.seq = 0


class Relay:
    def __init__(self, echo: bool) -> None:
        self.echo = echo
        self.load: dict[ServerConnection, int] = {}
        self.convs: dict[str, Conversation] = {}
        self.ids = itertools.count(1)

    def _message(
        self, conv: Conversation, sender: ServerConnection, author: str, frame: dict[str, Any]
    ) -> None:
        conv.seq += 1
        ack = {
            "type": "ack",
            "client_msg_id": frame["client_msg_id"],
            "conversation_id": conv.id,
            "seq": conv.seq,
            "duplicate": False,
        }
        body = {
            "type": "message",
            "conversation_id": conv.id,
            "seq": conv.seq,
            "author": author,
            "ts": int(time.time() * 1000),
            "author_name": author,
            "author_id": "1",
            "text": frame["text"],
            "client_msg_id": frame["client_msg_id"],
        }
        other = conv.agent if sender is conv.visitor else conv.visitor
        broadcast((sender,), msgpack.packb(ack))
        data = msgpack.packb(body)
        if self.echo:
            broadcast((sender,), data)
        broadcast((other,), data)

    def _open(self, visitor: ServerConnection) -> Conversation:
        agent = min(self.load, key=self.load.__getitem__)
        self.load[agent] += 1
        conv = Conversation(f"c{next(self.ids)}", visitor, agent)
        self.convs[conv.id] = conv
        summary = {"conversation_id": conv.id, "last_seq": 0}
        broadcast((agent,), msgpack.packb({"type": "assigned", "conversation": summary}))
        return conv

    def _assigned_event(self, conv: Conversation) -> None:
        conv.seq += 1
        event = {
            "type": "event",
            "conversation_id": conv.id,
            "seq": conv.seq,
            "author": "system",
            "ts": int(time.time() * 1000),
            "event": "assigned",
            "data": {"agent_id": 1},
        }
        data = msgpack.packb(event)
        for ws in (conv.visitor, conv.agent):
            broadcast((ws,), data)

    async def handler(self, ws: ServerConnection) -> None:
        try:
            await self._serve(ws)
        except ConnectionClosed:  # a generator's socket closing at the end of its run
            pass

    async def _serve(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else ""
        if path.startswith("/ws/agent"):
            self.load[ws] = 0
            try:
                async for data in ws:
                    frame = msgpack.unpackb(data)
                    if frame["type"] == "send":
                        conv = self.convs[frame["conversation_id"]]
                        self._message(conv, ws, "agent", frame)
            finally:
                del self.load[ws]
            return
        conv: Conversation | None = None
        async for data in ws:
            frame = msgpack.unpackb(data)
            if frame["type"] != "send":
                continue
            if conv is None:
                conv = self._open(ws)
                self._message(conv, ws, "visitor", frame)
                self._assigned_event(conv)
            else:
                self._message(conv, ws, "visitor", frame)


async def main(port: int, echo: bool) -> None:
    relay = Relay(echo)

    def pick(_conn: ServerConnection, offered: Any) -> Any:
        return PROTO

    async with serve(
        relay.handler,
        "127.0.0.1",
        port,
        max_size=None,
        compression=None,
        select_subprotocol=pick,
    ):
        await asyncio.Future()


if __name__ == "__main__":
    import uvloop

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--echo", action="store_true")
    args = parser.parse_args()
    uvloop.run(main(args.port, args.echo))
