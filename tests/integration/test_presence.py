"""Presence on a real redis-server (two nodes), and the in-memory twin."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from chatserver.backends.presence import InMemoryPresence, PresenceUnavailable
from chatserver.backends.presence_redis import RedisPresence
from chatserver.backends.redis_keys import presence_agents_key
from tests.servers import RedisServer, free_port

pytestmark = pytest.mark.redis

WAIT_S = 10.0


@pytest.fixture
async def clients(redis_srv: RedisServer) -> AsyncIterator[tuple[Redis, Redis]]:
    """Two connection pools, as two hub processes would have."""
    one, two = Redis.from_url(redis_srv.url), Redis.from_url(redis_srv.url)
    try:
        yield one, two
    finally:
        await one.aclose()
        await two.aclose()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}"  # the server is shared by the whole session


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = WAIT_S) -> None:
    """Expiry is Redis server time passing, which nothing can signal: poll under a bound."""
    async with asyncio.timeout(timeout_s):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_agents_on_two_nodes_are_seen_from_both(
    clients: tuple[Redis, Redis], prefix: str
) -> None:
    a = RedisPresence(clients[0], "node-a", ttl_s=30, prefix=prefix)
    b = RedisPresence(clients[1], "node-b", ttl_s=30, prefix=prefix)
    await a.heartbeat()
    await b.heartbeat()
    await a.agent_connected(1)
    await b.agent_connected(2)
    await b.agent_connected(3)
    assert await a.online_agents() == await b.online_agents() == {1, 2, 3}
    assert await a.nodes() == {"node-a", "node-b"}
    await b.agent_disconnected(3)
    assert await a.online_agents() == {1, 2}


async def test_an_agent_stays_online_until_the_last_socket_on_a_node_leaves(
    clients: tuple[Redis, Redis], prefix: str
) -> None:
    a = RedisPresence(clients[0], "node-a", ttl_s=30, prefix=prefix)
    b = RedisPresence(clients[1], "node-b", ttl_s=30, prefix=prefix)
    await a.heartbeat()
    await b.heartbeat()
    await a.agent_connected(7)  # two tabs on A, one on B
    await a.agent_connected(7)
    await b.agent_connected(7)
    await a.agent_disconnected(7)
    await b.agent_disconnected(7)
    assert await b.online_agents() == {7}  # A still has one tab open
    await a.agent_disconnected(7)
    assert await b.online_agents() == set()
    await a.agent_disconnected(7)  # one too many: harmless
    assert await b.online_agents() == set()


async def test_a_node_that_stops_heartbeating_disappears_after_its_ttl(
    clients: tuple[Redis, Redis], prefix: str
) -> None:
    alive = RedisPresence(clients[0], "alive", ttl_s=30, prefix=prefix)
    dead = RedisPresence(clients[1], "dead", ttl_s=1, prefix=prefix)
    await alive.start()  # its own heartbeat task
    try:
        await alive.agent_connected(1)
        await dead.heartbeat()  # once, then never again: the process died
        await dead.agent_connected(2)
        assert await alive.online_agents() == {1, 2}
        assert await alive.nodes() == {"alive", "dead"}

        async def dead_gone() -> bool:
            return await alive.nodes() == {"alive"}

        await eventually(dead_gone)
        assert await alive.online_agents() == {1}

        async def keys_gone() -> bool:  # its agent set lapses too, a write's TTL later
            return not await clients[0].exists(presence_agents_key("dead", prefix))

        await eventually(keys_gone)
    finally:
        await alive.stop()


async def test_stop_leaves_at_once_and_heartbeat_restores_what_redis_lost(
    clients: tuple[Redis, Redis], prefix: str
) -> None:
    a = RedisPresence(clients[0], "node-a", ttl_s=30, prefix=prefix)
    b = RedisPresence(clients[1], "node-b", ttl_s=30, prefix=prefix)
    await a.heartbeat()
    await b.heartbeat()
    await a.agent_connected(1)
    await b.agent_connected(2)
    await clients[0].delete(presence_agents_key("node-a", prefix))  # as after a Redis restart
    assert await b.online_agents() == {2}
    await a.heartbeat()
    assert await b.online_agents() == {1, 2}
    await a.stop()
    assert await b.online_agents() == {2}
    assert await b.nodes() == {"node-b"}


async def test_redis_errors_become_presence_unavailable_and_writes_wait_for_the_heartbeat() -> None:
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    presence = RedisPresence(client, "n", ttl_s=30)
    try:
        await presence.agent_connected(1)  # kept locally; no error for the hub
        assert presence.last_error is not None
        with pytest.raises(PresenceUnavailable) as info:
            await presence.online_agents()
        assert info.value.__cause__ is not None
        with pytest.raises(PresenceUnavailable):
            await presence.heartbeat()
    finally:
        await client.aclose()


async def test_in_memory_presence_counts_sockets() -> None:
    presence = InMemoryPresence("solo")
    await presence.agent_connected(1)
    await presence.agent_connected(1)
    await presence.agent_connected(2)
    await presence.agent_disconnected(1)
    assert await presence.online_agents() == {1, 2}
    await presence.agent_disconnected(1)
    assert await presence.online_agents() == {2}
    assert await presence.nodes() == {"solo"}


async def test_a_visitor_on_one_node_is_online_for_the_other_until_that_node_leaves(
    clients: tuple[Redis, Redis], prefix: str
) -> None:
    a = RedisPresence(clients[0], "node-a", ttl_s=30, prefix=prefix)
    b = RedisPresence(clients[1], "node-b", ttl_s=30, prefix=prefix)
    here = {"v-on-a"}
    a.watch_visitors(lambda: here)
    await a.heartbeat()
    await b.heartbeat()
    assert await b.visitor_online("v-on-a")
    assert not await b.visitor_online("v-nowhere")
    here.discard("v-on-a")
    await a.heartbeat()  # the next heartbeat mirrors the node's map as it is now
    assert not await b.visitor_online("v-on-a")
    here.add("v-back")
    await a.heartbeat()
    assert await b.visitor_online("v-back")
    await a.stop()
    assert not await b.visitor_online("v-back")


async def test_in_memory_presence_asks_the_hubs_own_map_of_visitors() -> None:
    presence = InMemoryPresence("solo")
    here = {"v1"}
    presence.watch_visitors(lambda: here)
    assert await presence.visitor_online("v1")
    assert not await presence.visitor_online("v2")
