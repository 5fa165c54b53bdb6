"""A node that does not route forwards its routing events to the leader; while Redis
refuses them they are offered again, and a later event for the same agent or conversation
must not overtake them (the leader runs each key's events in the order they were sent).

The real-process case (Redis stopped under two nodes) is
tests/integration/test_cluster_redis_refuses.py; this pins the order, which that cannot
provoke on demand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatserver.backends.cluster import Cluster, ClusterParts
from chatserver.backends.leader import RouterUnavailable
from chatserver.core.events import AgentConnected, RoutingEvent, to_wire
from chatserver.runtime.tasks import TaskSet
from chatserver.services.dispatch import Dispatcher
from tests.integration.conftest import make_settings


class Follower:
    """What a non-leading node's dispatcher needs of its hub: an owner for its tasks."""

    def __init__(self) -> None:
        self.tasks = TaskSet("test")


class RedisThatRefuses:
    """The forward: refuses while ``down``, records what it took, in order."""

    def __init__(self) -> None:
        self.down = True
        self.taken: list[RoutingEvent] = []
        self.refused = 0
        self.changed = asyncio.Condition()

    async def forward(self, event: RoutingEvent) -> None:
        async with self.changed:
            if self.down:
                self.refused += 1
                self.changed.notify_all()
                raise RouterUnavailable("routing event not queued: connection refused")
            self.taken.append(event)
            self.changed.notify_all()

    async def until_refused(self, n: int) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: self.refused >= n), 10)

    async def until_taken(self, n: int) -> list[str]:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: len(self.taken) >= n), 10)
        return [e.op for e in self.taken]


def follower(tmp_path: Path, redis: RedisThatRefuses) -> tuple[Dispatcher, Follower]:
    hub = Follower()
    dispatcher = Dispatcher(hub, None, make_settings(tmp_path), forward=redis.forward)  # type: ignore[arg-type]
    return dispatcher, hub


async def test_an_event_sent_after_a_refused_one_for_the_same_agent_does_not_overtake_it(
    tmp_path: Path,
) -> None:
    redis = RedisThatRefuses()
    dispatcher, hub = follower(tmp_path, redis)
    try:
        await dispatcher.agent_disconnected(7)
        await redis.until_refused(1)  # refused: offered again later
        redis.down = False
        # Redis is back before the retry comes round: the reconnect must still go second,
        # or the leader would take a connected agent for gone.
        await dispatcher.agent_connected(7)
        assert await redis.until_taken(2) == ["agent_disconnected", "agent_connected"]
    finally:
        await hub.tasks.stop()


async def test_events_for_other_keys_are_not_held_behind_a_refused_one(tmp_path: Path) -> None:
    redis = RedisThatRefuses()
    dispatcher, hub = follower(tmp_path, redis)
    try:
        await dispatcher.agent_disconnected(7)
        await redis.until_refused(1)
        redis.down = False
        await dispatcher.agent_connected(8)  # another agent: straight through
        # Agent 8's event is taken while agent 7's still waits out its backoff.
        assert await redis.until_taken(1) == ["agent_connected"]
        assert await redis.until_taken(2) == ["agent_connected", "agent_disconnected"]
    finally:
        await hub.tasks.stop()


class Leader:
    """The routing host as the cluster drives it: records the forwarded events it runs."""

    def __init__(self) -> None:
        self.is_leader = True
        self.ran: list[RoutingEvent] = []
        self.got_one = asyncio.Event()

    async def handle_forwarded(self, event: RoutingEvent) -> None:
        self.ran.append(event)
        self.got_one.set()


async def test_the_leader_drops_a_malformed_forwarded_event_and_runs_the_next(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # No Redis is reached: the cluster's client connects only when used.
    parts = ClusterParts(make_settings(tmp_path, redis_url="redis://127.0.0.1:9/0"), "leader")
    leader = Leader()
    cluster = Cluster(parts, leader)  # type: ignore[arg-type]  # runs forwarded events only

    async def inbox() -> AsyncIterator[object]:
        yield {"op": "reboot_leader"}
        yield {"op": "agent_connected", "agent_id": "seven"}
        yield to_wire(AgentConnected(7))

    try:
        await cluster._consume(inbox())  # type: ignore[arg-type]
        await asyncio.wait_for(leader.got_one.wait(), 10)
        await cluster.tasks.stop()
        assert leader.ran == [AgentConnected(7)]
        dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
        assert len(dropped) == 2
    finally:
        await parts.redis.aclose()
