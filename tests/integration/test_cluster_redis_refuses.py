"""A node that does not route forwards routing events to the leader over Redis; while Redis
refuses them, the node offers each again with backoff (``Dispatcher._hand_over``)
instead of failing the frame that caused it. Real processes: two hub nodes on one
PostgreSQL database and the test run's own Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from tests.cluster_nodes import (
    agent_email,
    agent_on,
    cluster,
    running,
    until,
    until_subscribed,
    visitor_on,
)
from tests.integration.test_cluster import redis_back, redis_outage
from tests.integration.test_cluster_failover import leader_pid
from tests.live import Client
from tests.servers import RedisServer

# The leader keeps its lease through the outage (and Redis keeps it, below): a new term
# would rebuild the router from the store and route the waiting chat without the event.
STEADY_LEADER_LEASE_TTL_S = "60"


@pytest.fixture
def persisted_redis(redis_srv: RedisServer) -> Iterator[RedisServer]:
    """The run's Redis, emptied; a test may stop it with ``stop_keeping_data``. Whatever it
    saved is deleted afterwards, so no later restart loads it."""
    redis_srv.restart()  # empty: no leader lease or leases of an earlier test
    yield redis_srv
    (Path(redis_srv.dir) / "dump.rdb").unlink(missing_ok=True)


async def stop_keeping_data(redis_srv: RedisServer) -> None:
    """SHUTDOWN SAVE: Redis goes away, and ``start`` brings it back with what it held (the
    leader lease among it), as a persisted Redis comes back from a restart."""
    assert redis_srv.proc is not None
    async with Redis.from_url(redis_srv.url) as redis:
        await redis.shutdown(save=True)
    await asyncio.to_thread(redis_srv.proc.wait, 10)  # saved and gone
    redis_srv.stop()


async def still_open(client: Client) -> None:
    """The socket is open and served: a ping gets its pong (earlier frames stay queued)."""
    try:
        await client.send({"type": "ping"})
        await client.recv_type("pong", timeout=10)
    except ConnectionClosed as exc:
        raise AssertionError(f"the socket was closed: {exc.rcvd}") from exc


async def test_first_message_while_redis_refuses_is_acked_keeps_the_socket_and_is_routed_after(
    postgres_url: str, persisted_redis: RedisServer
) -> None:
    """The agent on the routing leader, a new visitor on the other node writing first while
    Redis is down. Redis comes back with its data, so the leader keeps its lease and its
    router: only the event offered again can route the chat (an emptied Redis would start a
    new term, whose rebuild from the store routes it anyway)."""
    redis_srv = persisted_redis
    nodes = cluster(
        postgres_url,
        redis_srv.url,
        2,
        agents=1,
        LIVEDESK_LEADER_LEASE_TTL_S=STEADY_LEADER_LEASE_TTL_S,
    )
    await nodes[0].seed()
    async with running(*nodes):
        pid = await until(lambda: leader_pid(redis_srv.url), "a leader")
        leader = next(n for n in nodes if n.pid == pid)
        follower = next(n for n in nodes if n is not leader)
        agent, _ = await agent_on(leader, agent_email(0))
        visitor, _ = await visitor_on(follower)

        await stop_keeping_data(redis_srv)
        await redis_outage(redis_srv, *nodes)
        # The first message opens the conversation: stored and acknowledged, though the
        # routing event it sets off cannot be handed to the leader. No error (nothing to
        # retry: it is saved), and the socket lives on.
        first = await visitor.send_text("hello while Redis is down", client_msg_id="first")
        conv_id = first["conversation_id"]
        assert (first["seq"], first["duplicate"]) == (1, False)
        await still_open(visitor)
        assert visitor.drop("error") == []

        # Redis is back, with the lease: the same leader routes the event the follower
        # offers again. The visitor neither reconnects nor sends anything.
        await redis_back(redis_srv, *nodes)
        try:
            assigned = await agent.recv_type("assigned", timeout=20)
        except TimeoutError:
            pytest.fail("not assigned after Redis came back: the refused event was not resent")
        assert assigned["conversation"]["conversation_id"] == conv_id
        assert await leader_pid(redis_srv.url) == leader.pid  # no new term routed it
        await until_subscribed(redis_srv.url, conv_id, 2)

        # The visitor hears of the assignment (live, or on resume as after any outage).
        await visitor.send({"type": "resume", "conversation_id": conv_id, "after_seq": 0})
        resumed = await visitor.recv_type("resumed", timeout=10)
        assert resumed["conversation"]["state"] == "active"
        seen: list[dict[str, Any]] = visitor.drop("event")
        assert len({f["seq"] for f in seen if f["event"] == "assigned"}) == 1

        # They talk, live, both ways.
        reply = await agent.send_text("an agent is here", conversation_id=conv_id)
        got = await visitor.recv_type("message", seq=reply["seq"], timeout=10)
        assert (got["author"], got["text"]) == ("agent", "an agent is here")
        answer = await visitor.send_text("thanks")
        got = await agent.recv_type("message", seq=answer["seq"], timeout=10)
        assert (got["author"], got["text"]) == ("visitor", "thanks")

        # The whole history, once: the first message stored once, one assignment.
        agent.inbox.clear()
        await agent.send({"type": "resume", "conversation_id": conv_id, "after_seq": 0})
        await agent.recv_type("resumed", timeout=10)
        history = agent.drop("message") + agent.drop("event")
        seqs = sorted(f["seq"] for f in history)
        assert seqs == list(range(1, answer["seq"] + 1))
        firsts = [f for f in history if f.get("client_msg_id") == "first"]
        assert [(f["seq"], f["text"]) for f in firsts] == [(1, "hello while Redis is down")]
        assert len([f for f in history if f.get("event") == "assigned"]) == 1

        await still_open(visitor)
        assert visitor.drop("error") == []
