"""The routing leader dies (kill -9): another node routes on, from the store and presence,
and the dead node's capacity leases are taken over. Real processes, Redis, PostgreSQL."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from chatserver.backends.redis_keys import leader_key, owners_key
from chatserver.testing.loadtest import HubProcess
from tests.cluster_nodes import agent_on, cluster, running, until, visitor_on
from tests.servers import RedisServer

# Short leases, so the test sees a takeover in seconds rather than the production 10-30 s.
FAST_FAILOVER = {
    "LIVEDESK_LEADER_LEASE_TTL_S": "2",
    "LIVEDESK_PRESENCE_TTL_S": "3",
    "LIVEDESK_CAPACITY_LEASE_TTL_S": "4",
}


async def leader_pid(redis_url: str) -> int | None:
    """The pid in the node id holding the leader lease (node ids are host-pid-random)."""
    async with Redis.from_url(redis_url) as redis:
        holder = await redis.get(leader_key())
    return int(holder.decode().split("-")[-2]) if holder else None


async def lease_owners(redis_url: str, agent_id: int) -> dict[str, int]:
    """Conversation → pid of the node whose capacity lease holds it."""
    async with Redis.from_url(redis_url) as redis:
        owners = await redis.hgetall(owners_key(str(agent_id)))
    return {k.decode(): int(v.decode().split("-")[-2]) for k, v in owners.items()}


async def test_the_leader_dies_and_the_survivor_routes_on_with_the_caps_intact(
    postgres_url: str, redis_srv: RedisServer
) -> None:
    redis_srv.restart()  # no lease or capacity lease of an earlier test
    hubs = cluster(postgres_url, redis_srv.url, 2, agents=1, cap=1, **FAST_FAILOVER)
    await hubs[0].seed()
    async with running(*hubs):
        pid = await until(lambda: leader_pid(redis_srv.url), "a leader")
        leader = next(h for h in hubs if h.pid == pid)
        survivor: HubProcess = next(h for h in hubs if h is not leader)

        # Everyone is on the survivor; only the routing happens on the leader.
        agent, welcome = await agent_on(survivor, "agent0@bench.livedesk")
        agent_id = welcome["agent"]["id"]
        first, _ = await visitor_on(survivor)
        held = (await first.send_text("first in"))["conversation_id"]
        assert (await agent.recv_type("assigned", timeout=30))["conversation"][
            "conversation_id"
        ] == held
        second, _ = await visitor_on(survivor)
        waiting = (await second.send_text("second in, agent full"))["conversation_id"]
        await second.recv_type("queue", conversation_id=waiting, timeout=30)
        assert (await lease_owners(redis_srv.url, agent_id)) == {held: leader.pid}

        leader.kill()

        # The survivor takes the lease, rebuilds the router, and its ledger owns the lease
        # the dead leader had made for the agent's chat (and nothing more: cap 1 holds).
        await until(
            lambda: _is(leader_pid(redis_srv.url), survivor.pid), "the survivor to lead", 30
        )
        await until(
            lambda: _is(lease_owners(redis_srv.url, agent_id), {held: survivor.pid}),
            "the agent's lease to be the survivor's",
            30,
        )

        # The waiting chat is still waiting (cap 1), and a close pulls it in.
        await agent.send({"type": "close", "conversation_id": held})
        pulled = await agent.recv_type("assigned", timeout=30)
        assert pulled["conversation"]["conversation_id"] == waiting
        await second.recv_type("event", event="assigned", conversation_id=waiting, timeout=30)
        reply = await agent.send_text("an agent after the failover", waiting, uuid.uuid4().hex)
        assert reply["conversation_id"] == waiting
        seen = await second.recv_type("message", author="agent", timeout=30)
        assert seen["text"] == "an agent after the failover"
        assert (await lease_owners(redis_srv.url, agent_id)) == {waiting: survivor.pid}

        # A third visitor now waits behind the full agent: the cap still holds.
        third, _ = await visitor_on(survivor)
        queued = (await third.send_text("third in"))["conversation_id"]
        position = await third.recv_type("queue", conversation_id=queued, timeout=30)
        assert position["position"] == 1


async def _is(value_coro, expected):  # type: ignore[no-untyped-def]
    return (await value_coro) == expected
