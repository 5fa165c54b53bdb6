"""A socket's first frame is its `welcome`, even when something for it arrives while the
welcome is still being built. In a cluster that happens: an agent's node forwards "agent
connected" to the routing leader, and the leader's assignment can come back over Redis
before the forward has returned and the welcome has gone out. One process cannot provoke
that order on demand (there the welcome is pushed before the assignment's effects run), so
here the dispatcher's part is played by a leader that answers at once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgpack

from chatserver.backends.bus import agent_channel
from chatserver.backends.db import upgrade
from chatserver.backends.store import Store
from chatserver.live.auth import Principal
from chatserver.live.connection import Connection
from chatserver.services.hub import Hub
from tests.integration.conftest import make_settings
from tests.integration.test_slow_consumer import FakeServerProtocol

AGENT_ID = 7


class RecordingSocket:
    """Takes every frame at once and keeps them, decoded, in order."""

    def __init__(self) -> None:
        self.server = FakeServerProtocol()
        self._receive = self.server.receive
        self.frames: list[dict[str, Any]] = []
        self._arrived = asyncio.Condition()

    async def send(self, message: dict[str, Any]) -> None:
        async with self._arrived:
            self.frames.append(msgpack.unpackb(message["bytes"]))
            self._arrived.notify_all()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        return None

    async def until(self, n: int) -> list[str]:
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.frames) >= n), 10)
        return [f["type"] for f in self.frames]


class LeaderThatAnswersAtOnce:
    """The cluster's routing leader as the agent's node sees it: the assignment of a chat
    that waited for this agent arrives over the bus before ``agent_connected`` returns."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def agent_connected(self, agent_id: int) -> str:
        conversation = {"conversation_id": "c-waiting", "state": "active", "last_seq": 1}
        self.hub.publish(
            agent_channel(agent_id), {"type": "assigned", "conversation": conversation}
        )
        return "online"


async def test_an_assignment_arriving_while_the_welcome_is_built_is_sent_after_it(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    await asyncio.to_thread(upgrade, settings.server.database_url)
    store = Store(settings.server.database_url)
    await store.start()
    hub = Hub(store, settings, make_routing=LeaderThatAnswersAtOnce)  # type: ignore[arg-type]
    ws = RecordingSocket()
    conn = Connection(ws, "msgpack", "agent", None, 100, rate=1e6, burst=1_000_000)  # type: ignore[arg-type]
    conn.start()
    principal = Principal(AGENT_ID, "Ana", "ana@example.com", "agent", 1, "csrf")
    try:
        await hub.attach_agent(conn, principal)
        assert await ws.until(2) == ["welcome", "assigned"]
        assert ws.frames[1]["conversation"]["conversation_id"] == "c-waiting"
    finally:
        await conn.stop()
        await store.stop()
