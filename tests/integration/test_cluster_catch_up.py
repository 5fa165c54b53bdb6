"""After a Redis outage: every socket is caught up from the store once the bus is back, with
nothing else sent; and a routing attempt whose capacity reservation raised is a refusal,
never an assignment. Real processes: hub nodes on one PostgreSQL database and the test
run's own Redis, stopped and started again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatserver.testing.loadtest import HubProcess
from tests.cluster_nodes import (
    Chat,
    agent_email,
    agent_on,
    chat_across,
    cluster,
    running,
    until,
    visitor_on,
)
from tests.integration.test_cluster import redis_back, redis_outage
from tests.integration.test_cluster_failover import leader_pid
from tests.integration.test_cluster_redis_refuses import (
    STEADY_LEADER_LEASE_TTL_S,
    stop_keeping_data,
)
from tests.servers import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

# Far longer than a catch-up takes, far shorter than "until something else is sent".
CAUGHT_UP_WITHIN_S = 15


@pytest.fixture
def kept_redis(redis_srv: RedisServer) -> Iterator[RedisServer]:
    """The run's Redis, emptied; what a test saves with ``stop_keeping_data`` is deleted
    afterwards, so no later restart loads it."""
    redis_srv.restart()
    yield redis_srv
    (Path(redis_srv.dir) / "dump.rdb").unlink(missing_ok=True)


@pytest.fixture
async def two_nodes(
    postgres_url: str, kept_redis: RedisServer
) -> AsyncIterator[tuple[HubProcess, HubProcess]]:
    a, b = cluster(
        postgres_url,
        kept_redis.url,
        2,
        agents=2,
        LIVEDESK_LEADER_LEASE_TTL_S=STEADY_LEADER_LEASE_TTL_S,
    )
    await a.seed()
    async with running(a, b):
        yield a, b


async def test_a_message_acked_while_redis_is_down_reaches_the_other_nodes_agent_once_it_is_back(
    two_nodes: tuple[HubProcess, HubProcess], kept_redis: RedisServer
) -> None:
    a, b = two_nodes
    chat: Chat = await chat_across(a, b)
    visitor, agent = chat.visitor, chat.agent
    await redis_outage(kept_redis, a, b)
    # Stored and acknowledged on node a; its publish to node b fails with Redis gone.
    during = await visitor.send_text("written while Redis is down")

    await redis_back(kept_redis, a, b)
    # Nobody sends anything else: node b replays what its agent's socket was not sent.
    try:
        got = await agent.recv_type("message", seq=during["seq"], timeout=CAUGHT_UP_WITHIN_S)
    except TimeoutError:
        pytest.fail("the agent on the other node was not caught up after Redis came back")
    assert (got["author"], got["text"]) == ("visitor", "written while Redis is down")


def joined_or_queued(frame: dict[str, Any]) -> bool:
    return frame.get("type") == "queue" or (
        frame.get("type") == "event" and frame.get("event") == "assigned"
    )


async def test_a_reservation_that_raised_is_refused_the_visitor_waits_and_is_assigned_after(
    postgres_url: str, kept_redis: RedisServer
) -> None:
    """The agent and the visitor on the routing leader: the visitor's first message is
    routed while the capacity ledger's Redis is down. Redis comes back with its data, so
    the same leader keeps routing."""
    (node,) = cluster(
        postgres_url,
        kept_redis.url,
        1,
        agents=1,
        LIVEDESK_LEADER_LEASE_TTL_S=STEADY_LEADER_LEASE_TTL_S,
    )
    await node.seed()
    async with running(node):
        await until(lambda: leader_pid(kept_redis.url), "a leader")
        agent, _ = await agent_on(node, agent_email(0))
        visitor, _ = await visitor_on(node)

        await stop_keeping_data(kept_redis)
        await redis_outage(kept_redis, node)
        first = await visitor.send_text("hello while the ledger is down")
        conv_id = first["conversation_id"]
        # Routing ran: the visitor hears where they stand, not that someone joined.
        told = await visitor.recv_until(joined_or_queued, timeout=30)
        assert told["type"] == "queue", f"told {told} with no slot reserved"
        assert not [f for f in visitor.inbox if joined_or_queued(f) and f["type"] == "event"]
        assert agent.drop("assigned") == []

        await redis_back(kept_redis, node)
        assigned = await agent.recv_type("assigned", timeout=30)
        assert assigned["conversation"]["conversation_id"] == conv_id
        joined = await visitor.recv_type("event", event="assigned", timeout=10)
        assert joined["data"]["agent"]["id"] == assigned["conversation"]["agent"]["id"]
