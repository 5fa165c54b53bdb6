"""Hub processes for the multi-node tests: ``livedesk serve`` nodes (``HubProcess``, the
same process ``livedesk loadtest`` and the benchmarks start) on one PostgreSQL database and
the test run's Redis, and the client helpers the tests need around them.

Waits here are bounded and on another process's observable state (a port, ``/readyz``,
Redis' own count of subscribers), never a guess of how long something takes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
from redis.asyncio import Redis
from websockets.asyncio.client import connect

from chatserver.backends.bus import conversation_channel
from chatserver.backends.redis_keys import bus_channel
from chatserver.core.settings import Settings
from chatserver.testing.loadtest import EMAIL_PATTERN, PASSWORD, HubProcess
from tests.live import OPEN_CLIENTS, Client, connect_agent, connect_visitor, login_cookie

COOKIE = "livedesk_session"
SUPERVISOR = "sam@bench.livedesk"
POLL_S = 0.02  # between looks at another process's state


def agent_email(i: int) -> str:
    return EMAIL_PATTERN.format(i=i)


def cluster(
    database_url: str, redis_url: str, count: int, *, agents: int = 0, cap: int = 5, **env: str
) -> list[HubProcess]:
    """``count`` nodes on one database and one Redis (not started; ``running`` starts them).
    ``agents`` is how many ``agent{i}@bench.livedesk`` the first node's ``seed`` adds."""
    return [
        HubProcess(agents, cap, database_url=database_url, redis_url=redis_url, **env)
        for _ in range(count)
    ]


@contextlib.asynccontextmanager
async def running(*hubs: HubProcess) -> AsyncIterator[tuple[HubProcess, ...]]:
    """Start the nodes side by side; at the end close every test client, then stop them."""
    try:
        for hub in hubs:
            hub.launch()
        await asyncio.gather(*(asyncio.to_thread(hub.wait_listening) for hub in hubs))
        yield hubs
    finally:
        opened = list(OPEN_CLIENTS)
        OPEN_CLIENTS.clear()
        await asyncio.gather(*(c.close() for c in opened), return_exceptions=True)
        await asyncio.gather(*(asyncio.to_thread(hub.stop) for hub in hubs))


def target(hub: HubProcess) -> Any:
    """What tests.live's helpers need of a server, for a hub in another process."""
    return SimpleNamespace(
        url=hub.base, ws_url=hub.ws_base, settings=Settings(session_cookie=COOKIE)
    )


async def login(hub: HubProcess, email: str, password: str = PASSWORD) -> str:
    return await login_cookie(target(hub), email, password)


async def agent_on(hub: HubProcess, email: str) -> tuple[Client, dict[str, Any]]:
    """An agent's socket on ``hub``, and its welcome."""
    agent = await connect_agent(target(hub), await login(hub, email))
    return agent, await agent.recv_type("welcome", timeout=30)


async def visitor_on(hub: HubProcess, **body: Any) -> tuple[Client, str]:
    """A new visitor's socket on ``hub`` (welcome consumed), and its token."""
    visitor, token = await connect_visitor(target(hub), **body)
    await visitor.recv_type("welcome", timeout=30)
    return visitor, token


async def board_on(hub: HubProcess, cookie: str) -> Client:
    """A supervisor's ``/ws/supervisor`` socket on ``hub`` (JSON, as the dashboard)."""
    ws = await connect(
        f"{hub.ws_base}/ws/supervisor",
        subprotocols=["livedesk.v1.json"],  # type: ignore[list-item]
        origin=hub.base,  # type: ignore[arg-type]
        additional_headers={"Cookie": f"{COOKIE}={cookie}"},
        max_size=None,
    )
    return Client(ws, "json")


# ---------------------------------------------------------------------------- waiting


async def until(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """Poll ``check`` (an async callable) until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if result := await check():
            return result
        if loop.time() > deadline:
            raise AssertionError(f"not after {timeout}s: {what}")
        await asyncio.sleep(POLL_S)  # another process's state: nothing to await


async def readyz(hub: HubProcess) -> int | None:
    """``/readyz``'s status, or None when nothing answers."""
    try:
        async with httpx.AsyncClient(base_url=hub.base, timeout=5) as http:
            return (await http.get("/readyz")).status_code
    except httpx.TransportError:
        return None


async def until_ready(hub: HubProcess, status: int = 200, timeout: float = 30) -> None:
    async def check() -> bool:
        return await readyz(hub) == status

    await until(check, f"/readyz {status} on :{hub.port}", timeout)


async def bus_nodes(redis_url: str, channel: str) -> int:
    """How many nodes Redis has subscribed to a bus channel (each node subscribes once)."""
    async with Redis.from_url(redis_url) as redis:
        counts = await redis.pubsub_numsub(bus_channel(channel))  # type: ignore[no-untyped-call]
    return int(counts[0][1]) if counts else 0


async def until_subscribed(redis_url: str, conv_id: str, nodes: int, timeout: float = 10) -> None:
    """Until ``nodes`` nodes follow the conversation on Redis: a node joins a room at once
    but subscribes a moment later, and a frame published in between never reaches it live."""
    channel = conversation_channel(conv_id)

    async def check() -> bool:
        return await bus_nodes(redis_url, channel) >= nodes

    await until(check, f"{nodes} nodes subscribed to {channel}", timeout)


# ---------------------------------------------------------------------------- one chat


@dataclass
class Chat:
    visitor: Client
    agent: Client
    conv_id: str
    first: dict[str, Any]  # the ack of the visitor's first text
    agent_id: int


async def chat_across(
    visitor_node: HubProcess, agent_node: HubProcess, email: str = agent_email(0), **body: Any
) -> Chat:
    """The agent online on one node, a visitor on another writes, the agent is assigned;
    returns once both sides saw the assignment and both nodes follow the conversation on
    Redis."""
    agent, welcome = await agent_on(agent_node, email)
    visitor, _ = await visitor_on(visitor_node, **body)
    first = await visitor.send_text("hello from the visitor's node")
    conv_id = first["conversation_id"]
    assigned = await agent.recv_type("assigned", timeout=30)
    assert assigned["conversation"]["conversation_id"] == conv_id
    # The visitor's node has heard of the assignment too: it no longer lets the bot answer.
    await visitor.recv_type("event", event="assigned", timeout=10)
    assert visitor_node.redis_url is not None
    await until_subscribed(visitor_node.redis_url, conv_id, len({visitor_node, agent_node}))
    return Chat(visitor, agent, conv_id, first, welcome["agent"]["id"])
