"""The leader lease and the router event queue on a real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from chatserver.backends.leader import (
    InMemoryLeader,
    LeaderLease,
    LeaseUnavailable,
    RouterBacklogFull,
    RouterInbox,
    RouterOutbox,
)
from tests.servers import RedisServer, free_port

pytestmark = pytest.mark.redis

WAIT_S = 10.0
TTL_S = 0.4  # short, so failovers happen within the test; no assert depends on it


@pytest.fixture
async def client(redis_srv: RedisServer) -> AsyncIterator[Redis]:
    redis = Redis.from_url(redis_srv.url, socket_timeout=5)
    try:
        yield redis
    finally:
        await redis.aclose()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}"  # the server is shared by the whole session


class Contender:
    """A node running ``LeaderLease.run``, recording its terms."""

    def __init__(self, client: Redis, name: str, prefix: str) -> None:
        self.lease = LeaderLease(client, name, ttl_s=TTL_S, prefix=prefix)
        self.terms: list[str] = []
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _elected(self) -> None:
        self.terms.append("elected")
        self.changed.set()

    async def _lost(self) -> None:
        self.terms.append("lost")
        self.changed.set()

    def start(self) -> None:
        self.task = asyncio.create_task(self.lease.run(self._elected, self._lost))

    async def wait_terms(self, count: int) -> None:
        async with asyncio.timeout(WAIT_S):
            while len(self.terms) < count:
                self.changed.clear()
                await self.changed.wait()

    async def die(self) -> None:
        """kill -9: no more renewals and no release."""

        async def nothing() -> None:
            return None

        self.lease.release = nothing  # type: ignore[method-assign]
        await self.stop()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class Watch:
    """Samples ``is_leader`` of every contender as often as the loop lets it."""

    def __init__(self, contenders: list[Contender]) -> None:
        self.contenders = contenders
        self.most_at_once = 0
        self.leaders_seen: list[str] = []
        self.samples = 0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            leading = [c.lease.node_id for c in self.contenders if c.lease.is_leader]
            self.most_at_once = max(self.most_at_once, len(leading))
            if leading and (not self.leaders_seen or self.leaders_seen[-1] != leading[0]):
                self.leaders_seen.append(leading[0])
            self.samples += 1
            await asyncio.sleep(0.001)

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT_S):
            while not condition():  # noqa: ASYNC110 - sampling is this helper's whole job
                await asyncio.sleep(0.005)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def test_only_one_of_two_holds_the_lease_and_release_hands_it_over(
    client: Redis, prefix: str
) -> None:
    a = LeaderLease(client, "a", ttl_s=30, prefix=prefix)
    b = LeaderLease(client, "b", ttl_s=30, prefix=prefix)
    assert await a.try_acquire() and a.is_leader
    assert not await b.try_acquire() and not b.is_leader
    assert not await b.renew()
    assert await a.renew() and a.is_leader
    await b.release()  # not b's: must not free a's lease
    assert not await b.try_acquire()
    await a.release()
    assert not a.is_leader
    assert await b.try_acquire() and b.is_leader
    assert not await a.renew() and not a.is_leader


async def test_failover_when_the_leader_dies_and_never_two_leaders(
    client: Redis, prefix: str
) -> None:
    contenders = [Contender(client, f"node-{i}", prefix) for i in range(3)]
    watch = Watch(contenders)
    try:
        for c in contenders:
            c.start()
        await watch.wait_for(lambda: len(watch.leaders_seen) == 1)
        alive = list(contenders)  # the watch keeps sampling the dead too
        for killed in (1, 2):  # kill the leader twice: a survivor takes over each time
            leader = next(c for c in alive if c.lease.is_leader)
            await leader.die()
            alive.remove(leader)

            def next_leader_seen(count: int = killed + 1) -> bool:
                return len(watch.leaders_seen) == count

            await watch.wait_for(next_leader_seen)
        assert watch.most_at_once == 1
        assert len(set(watch.leaders_seen)) == 3
    finally:
        await watch.stop()
        for c in contenders:
            await c.stop()


async def test_a_stalled_leader_stops_believing_before_another_takes_over(
    client: Redis, prefix: str
) -> None:
    stalled, other = Contender(client, "stalled", prefix), Contender(client, "other", prefix)
    watch = Watch([stalled, other])
    try:
        stalled.start()
        await stalled.wait_terms(1)
        other.start()

        async def hang() -> bool:
            await asyncio.Event().wait()  # a frozen process: the renewal never comes back
            return True

        stalled.lease.renew = hang  # type: ignore[method-assign]
        await other.wait_terms(1)
        await watch.wait_for(lambda: len(watch.leaders_seen) == 2)
        assert watch.leaders_seen == ["stalled", "other"]
        assert watch.most_at_once == 1
        assert not stalled.lease.is_leader
    finally:
        await watch.stop()
        await stalled.stop()
        await other.stop()


async def test_a_lost_lease_calls_on_lost_and_the_node_runs_again_later(
    client: Redis, prefix: str
) -> None:
    node = Contender(client, "node", prefix)
    node.start()
    try:
        await node.wait_terms(1)
        await client.set(node.lease.key, "usurper")  # as if it lapsed during a blip
        await node.wait_terms(2)
        assert node.terms == ["elected", "lost"]
        assert not node.lease.is_leader
        await client.delete(node.lease.key)
        await node.wait_terms(3)
        assert node.terms == ["elected", "lost", "elected"]
    finally:
        await node.stop()
    assert node.terms == ["elected", "lost", "elected", "lost"]  # stopping ends the term
    assert await client.get(node.lease.key) is None  # and frees the lease


async def test_redis_errors_become_lease_unavailable() -> None:
    redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    lease = LeaderLease(redis, "n", ttl_s=1)
    try:
        with pytest.raises(LeaseUnavailable) as info:
            await lease.try_acquire()
        assert info.value.__cause__ is not None
        assert not lease.is_leader
    finally:
        await redis.aclose()


async def test_in_memory_leader_leads_until_stopped() -> None:
    leader = InMemoryLeader()
    terms: list[str] = []

    async def elected() -> None:
        terms.append("elected")

    async def lost() -> None:
        terms.append("lost")

    task = asyncio.create_task(leader.run(elected, lost))
    await asyncio.sleep(0)  # let it start: run() calls on_elected before anything else
    assert leader.is_leader and terms == ["elected"]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert terms == ["elected", "lost"]


async def test_events_from_any_node_reach_the_leader_in_order(
    redis_srv: RedisServer, prefix: str
) -> None:
    one, two = Redis.from_url(redis_srv.url), Redis.from_url(redis_srv.url)
    try:
        out_a, out_b = RouterOutbox(one, prefix=prefix), RouterOutbox(two, prefix=prefix)
        inbox = RouterInbox(one, prefix=prefix, block_s=0.2)
        for i in range(3):
            await out_a.send({"type": "enqueue", "conv": f"a{i}"})
        await out_b.send({"type": "agent_online", "agent": 7, "langs": ["en", "fi"]})
        got = []
        async with asyncio.timeout(WAIT_S):
            async for event in inbox:
                got.append(event)
                if len(got) == 4:
                    break
        assert got == [
            {"type": "enqueue", "conv": "a0"},
            {"type": "enqueue", "conv": "a1"},
            {"type": "enqueue", "conv": "a2"},
            {"type": "agent_online", "agent": 7, "langs": ["en", "fi"]},
        ]
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_closed_inbox_puts_a_late_event_back_for_the_next_leader(
    redis_srv: RedisServer, prefix: str
) -> None:
    one, two = Redis.from_url(redis_srv.url), Redis.from_url(redis_srv.url)
    try:
        inbox = RouterInbox(one, prefix=prefix, block_s=0.2)
        got: list[dict[str, object]] = []

        async def consume() -> None:
            async for event in inbox:
                got.append(event)

        consumer = asyncio.create_task(consume())
        async with asyncio.timeout(WAIT_S):  # until its BLPOP is waiting on the server
            while (await two.info("clients"))["blocked_clients"] < 1:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
        inbox.close()
        await RouterOutbox(two, prefix=prefix).send({"type": "late"})
        async with asyncio.timeout(WAIT_S):
            await consumer
        assert got == []
        async with asyncio.timeout(WAIT_S):
            async for event in RouterInbox(two, prefix=prefix, block_s=0.2):
                assert event == {"type": "late"}
                break
    finally:
        await one.aclose()
        await two.aclose()


async def test_the_event_queue_is_bounded(client: Redis, prefix: str) -> None:
    outbox = RouterOutbox(client, prefix=prefix, max_backlog=2)
    await outbox.send({"n": 1})
    await outbox.send({"n": 2})
    with pytest.raises(RouterBacklogFull):
        await outbox.send({"n": 3})
    assert await client.llen(outbox.key) == 2
