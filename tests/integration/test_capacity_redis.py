"""The Redis capacity ledger on a real redis-server: two nodes never exceed a cap."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from chatserver.backends.capacity_redis import CapacityUnavailable, RedisCapacityLedger
from chatserver.backends.redis_keys import slots_key
from router import AgentInfo, Decision, Offer, QueuedConversation, Router, RouterConfig, SlotFreed
from tests.servers import RedisServer, free_port

pytestmark = pytest.mark.redis


@pytest.fixture
async def clients(redis_srv: RedisServer) -> AsyncIterator[tuple[Redis, Redis]]:
    """Two independent connection pools, as two hub processes would have."""
    one = Redis.from_url(redis_srv.url)
    two = Redis.from_url(redis_srv.url)
    await one.flushdb()
    try:
        yield one, two
    finally:
        await one.aclose()
        await two.aclose()


@pytest.mark.parametrize("auto_pipeline", [True, False])
async def test_concurrent_reserves_from_two_nodes_never_exceed_cap(
    clients: tuple[Redis, Redis], auto_pipeline: bool
) -> None:
    node_a = RedisCapacityLedger(clients[0], "node-a", auto_pipeline=auto_pipeline)
    node_b = RedisCapacityLedger(clients[1], "node-b", auto_pipeline=auto_pipeline)
    attempts = [
        (node_a if i % 2 else node_b).reserve(f"agent{i % 10}", f"conv{i}", 5) for i in range(200)
    ]
    random.Random(4).shuffle(attempts)
    results = await asyncio.gather(*attempts)
    assert sum(results) == 50
    counts = [await node_a.count(f"agent{i}") for i in range(10)]
    assert counts == [5] * 10


async def test_reserving_a_held_conversation_again_takes_no_extra_slot(
    clients: tuple[Redis, Redis],
) -> None:
    ledger = RedisCapacityLedger(clients[0], "n")
    assert await ledger.reserve("a", "c1", 1)
    assert await ledger.reserve("a", "c1", 1)
    assert not await ledger.reserve("a", "c2", 1)
    assert await ledger.count("a") == 1


async def test_release_frees_the_slot_and_double_release_is_harmless(
    clients: tuple[Redis, Redis],
) -> None:
    ledger = RedisCapacityLedger(clients[0], "n")
    await ledger.reserve("a", "c1", 1)
    assert await ledger.release("a", "c1") is True
    assert await ledger.release("a", "c1") is False
    assert await ledger.reserve("a", "c2", 1)


async def test_force_reserves_beyond_cap(clients: tuple[Redis, Redis]) -> None:
    ledger = RedisCapacityLedger(clients[0], "n")
    await ledger.reserve("a", "c1", 1)
    assert await ledger.reserve("a", "c2", 1, force=True)
    assert await ledger.count("a") == 2


async def test_leases_of_a_dead_node_expire(clients: tuple[Redis, Redis]) -> None:
    dead = RedisCapacityLedger(clients[1], "dead", lease_ttl_s=0.05)
    alive = RedisCapacityLedger(clients[0], "alive")
    assert await dead.reserve("a", "c1", 1)
    assert not await alive.reserve("a", "c2", 1)
    # The dead node never renews. Expiry is Redis server time passing, which nothing can
    # signal, so poll the condition under a bound instead of sleeping a guessed amount.
    async with asyncio.timeout(5):
        while await alive.count("a") != 0:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert await alive.reserve("a", "c2", 1)


async def test_renew_extends_only_the_nodes_own_leases(clients: tuple[Redis, Redis]) -> None:
    mine = RedisCapacityLedger(clients[0], "mine", lease_ttl_s=600)
    other = RedisCapacityLedger(clients[1], "other", lease_ttl_s=60)
    await mine.reserve("a", "c1", 5)
    await other.reserve("a", "c2", 5)
    key = slots_key("a")
    seconds, micros = await clients[0].time()
    soon = seconds * 1000 + micros // 1000 + 5_000
    await clients[0].zadd(key, {"c1": soon}, xx=True)  # as if c1's lease were nearly over
    before = {m: await clients[0].zscore(key, m) or 0.0 for m in ("c1", "c2")}
    assert await mine.renew() == []
    after = {m: await clients[0].zscore(key, m) or 0.0 for m in ("c1", "c2")}
    assert after["c1"] > before["c1"] + 500_000  # ~10 minutes ahead again
    assert after["c2"] == before["c2"] > 0


async def test_renew_reports_a_lapsed_lease_that_another_node_filled(
    clients: tuple[Redis, Redis],
) -> None:
    mine = RedisCapacityLedger(clients[0], "mine")
    other = RedisCapacityLedger(clients[1], "other")
    await mine.reserve("a", "c1", 1)
    await clients[0].zrem(slots_key("a"), "c1")  # as if it lapsed during a long pause
    assert await other.reserve("a", "c2", 1)
    assert await mine.renew() == [("a", "c1")]
    assert await mine.count("a") == 1


async def test_reconcile_keeps_the_store_truth_and_other_nodes_leases(
    clients: tuple[Redis, Redis],
) -> None:
    before_restart = RedisCapacityLedger(clients[0], "node-a")
    node_b = RedisCapacityLedger(clients[1], "node-b")
    for conv in ("c1", "c2", "c3"):
        await before_restart.reserve("a", conv, 5)
    await node_b.reserve("a", "c4", 5)
    restarted = RedisCapacityLedger(clients[0], "node-a")
    assert await restarted.reconcile("a", ["c1", "c5"]) == 3
    raw = await clients[0].zrange(slots_key("a"), 0, -1)
    members = {m.decode() if isinstance(m, bytes) else str(m) for m in raw}
    assert members == {"c1", "c4", "c5"}


async def test_script_flushed_from_redis_is_loaded_again(clients: tuple[Redis, Redis]) -> None:
    ledger = RedisCapacityLedger(clients[0], "n")
    assert await ledger.reserve("a", "c1", 5)
    await clients[0].script_flush()
    assert await ledger.reserve("a", "c2", 5)
    assert await ledger.count("a") == 2


@pytest.mark.parametrize("auto_pipeline", [True, False])
async def test_redis_errors_become_capacity_unavailable(auto_pipeline: bool) -> None:
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    ledger = RedisCapacityLedger(client, "n", auto_pipeline=auto_pipeline)
    try:
        with pytest.raises(CapacityUnavailable) as info:
            await ledger.reserve("a", "c1", 5)
        assert info.value.__cause__ is not None
    finally:
        await client.aclose()


class Node:
    """A hub node in miniature: its own router, the shared ledger, decisions carried out."""

    def __init__(self, client: Redis, name: str) -> None:
        self.router = Router(RouterConfig(first_reply_timeout_s=None, language_fallback_s=None))
        self.ledger = RedisCapacityLedger(client, name)

    async def carry_out(self, decisions: list[Decision], now: float) -> None:
        pending = list(decisions)
        skip: set[str] = set()
        while pending:
            d = pending.pop(0)
            if getattr(d, "conv_id", None) in skip:
                continue
            if isinstance(d, Offer):
                if not await self.ledger.reserve(d.agent_id, d.conv_id, d.ledger_cap):
                    skip.add(d.conv_id)
                    pending = self.router.offer_failed(d.conv_id, d.agent_id, now) + [
                        x for x in pending if getattr(x, "conv_id", None) != d.conv_id
                    ]
                    skip.discard(d.conv_id)
            elif isinstance(d, SlotFreed):
                await self.ledger.release(d.agent_id, d.conv_id)


async def test_two_routers_on_one_ledger_hold_exactly_fifty_and_refill_on_close(
    clients: tuple[Redis, Redis],
) -> None:
    nodes = [Node(clients[0], "node-a"), Node(clients[1], "node-b")]
    for node in nodes:
        for i in range(10):
            await node.carry_out(node.router.agent_online(AgentInfo(id=f"ag{i}", cap=5), 0), 0)

    async def arrive(i: int) -> None:
        node = nodes[i % 2]
        conv = QueuedConversation(id=f"c{i}", enqueued_at=1)
        await node.carry_out(node.router.enqueue(conv, 1), 1)

    await asyncio.gather(*(arrive(i) for i in range(200)))
    counts = [await nodes[0].ledger.count(f"ag{i}") for i in range(10)]
    assert counts == [5] * 10
    active = [
        (n, cid)
        for n in nodes
        for cid in (f"c{i}" for i in range(200))
        if (s := n.router.conversation_state(cid)) is not None and s[0] == "active"
    ]
    assert len(active) == 50
    assert sum(n.router.queued_count for n in nodes) == 150

    node, cid = active[0]
    agent = node.router.conversation_state(cid)[1]  # type: ignore[index]
    await node.carry_out(node.router.release(cid, 2), 2)
    assert await node.ledger.count(agent) == 5  # type: ignore[arg-type]
    assert sum(n.router.queued_count for n in nodes) == 149


async def test_two_nodes_racing_half_weight_mails_and_chats_never_pass_a_cap_of_four(
    clients: tuple[Redis, Redis],
) -> None:
    node_a = RedisCapacityLedger(clients[0], "node-a")
    node_b = RedisCapacityLedger(clients[1], "node-b")
    attempts = [
        (node_a if i % 2 else node_b).reserve(
            f"agent{i % 5}", f"conv{i}", 4, weight=0.5 if i % 3 else 1.0
        )
        for i in range(300)
    ]
    random.Random(17).shuffle(attempts)
    await asyncio.gather(*attempts)
    loads = [await node_a.load(f"agent{i}") for i in range(5)]
    assert all(3.5 <= load <= 4.0 for load in loads), loads
    # Full to the thousandth: 3 chats and 2 mails, no third mail.
    await clients[0].flushdb()
    for conv in ("c1", "c2", "c3"):
        assert await node_a.reserve("x", conv, 4)
    assert await node_b.reserve("x", "m1", 4, weight=0.5)
    assert await node_a.reserve("x", "m2", 4, weight=0.5)
    assert not await node_b.reserve("x", "m3", 4, weight=0.5)
    assert (await node_a.count("x"), await node_a.load("x")) == (5, 4.0)


async def test_renew_and_reconcile_keep_each_lease_at_its_weight(
    clients: tuple[Redis, Redis],
) -> None:
    ledger = RedisCapacityLedger(clients[0], "node-a")
    await ledger.reconcile("a", ["m1", "c1"], weights={"m1": 0.5})
    assert await ledger.load("a") == 1.5
    assert await ledger.renew() == []
    assert await ledger.load("a") == 1.5
    assert await ledger.reserve("a", "m2", 2, weight=0.5)
    assert not await ledger.reserve("a", "c2", 2)
