"""RedisBus on a real redis-server: two buses are two hub nodes."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from chatserver.backends.bus_redis import BusUnavailable, RedisBus
from chatserver.core.protocol import OutFrame
from chatserver.core.settings import Settings
from tests.servers import RedisServer, free_port

pytestmark = pytest.mark.redis

WAIT_S = 10.0
STOP_S = Settings().cluster.bus_stop_timeout_s


class Recorder:
    """A bus handler that remembers what it got and lets a test wait for a condition."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, dict[str, Any]]] = []
        self._changed = asyncio.Event()
        self.reconnected = asyncio.Event()

    def __call__(self, channel: str, frame: OutFrame) -> None:
        self.frames.append((channel, frame.body))
        self._changed.set()

    def on_reconnect(self) -> None:
        self.reconnected.set()

    def values(self, channel: str, key: str = "n") -> list[Any]:
        return [body[key] for ch, body in self.frames if ch == channel and key in body]

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def nodes(
    redis_srv: RedisServer,
) -> AsyncIterator[tuple[RedisBus, Recorder, RedisBus, Recorder]]:
    prefix = f"t{uuid.uuid4().hex[:8]}"  # the server is shared by the whole session
    rec_a, rec_b = Recorder(), Recorder()
    bus_a = RedisBus(
        redis_srv.url, rec_a, "node-a", stop_timeout_s=STOP_S, prefix=prefix, ping_interval_s=0.5
    )
    bus_b = RedisBus(
        redis_srv.url, rec_b, "node-b", stop_timeout_s=STOP_S, prefix=prefix, ping_interval_s=0.5
    )
    bus_a.on_reconnect = rec_a.on_reconnect
    bus_b.on_reconnect = rec_b.on_reconnect
    await bus_a.start()
    await bus_b.start()
    try:
        await bus_a.wait_healthy(WAIT_S)
        await bus_b.wait_healthy(WAIT_S)
        yield bus_a, rec_a, bus_b, rec_b
    finally:
        await bus_a.stop()
        await bus_b.stop()


def frame(n: int, **extra: Any) -> OutFrame:
    return OutFrame({"type": "test", "n": n, **extra})


async def test_publish_on_one_node_reaches_the_other_in_order(
    nodes: tuple[RedisBus, Recorder, RedisBus, Recorder],
) -> None:
    bus_a, rec_a, bus_b, rec_b = nodes
    bus_b.subscribe("conv:1")
    await bus_b.wait_subscribed(WAIT_S)
    for n in range(300):
        bus_a.publish("conv:1", frame(n, text="héllo" * (n % 3)))
    await rec_b.wait_for(lambda: len(rec_b.values("conv:1")) == 300)
    assert rec_b.values("conv:1") == list(range(300))
    assert rec_b.values("conv:1", "text")[4] == "héllo"
    assert rec_a.frames == []  # A listens to nothing, so A's handler hears nothing
    assert bus_b.stats.received == 300


async def test_a_channel_counts_as_subscribed_only_once_redis_confirmed_it(
    nodes: tuple[RedisBus, Recorder, RedisBus, Recorder],
) -> None:
    bus_a, rec_a, bus_b, rec_b = nodes
    assert not bus_b.subscribed("conv:late")
    bus_b.subscribe("conv:late")
    # Nothing has been sent to Redis yet (the subscriber task has not run).
    assert not bus_b.subscribed("conv:late")
    assert await bus_b.until_subscribed("conv:late", WAIT_S)
    assert bus_b.subscribed("conv:late")
    bus_a.publish("conv:late", frame(1))  # the very next frame already reaches B
    await rec_b.wait_for(lambda: rec_b.values("conv:late") == [1])
    bus_b.unsubscribe("conv:late")
    assert not bus_b.subscribed("conv:late")
    assert not await bus_a.until_subscribed("conv:never", 0.05)


async def test_own_publishes_are_delivered_once(
    nodes: tuple[RedisBus, Recorder, RedisBus, Recorder],
) -> None:
    bus_a, rec_a, bus_b, rec_b = nodes
    for bus in (bus_a, bus_b):
        bus.subscribe("conv:1")
        await bus.wait_subscribed(WAIT_S)
    for n in range(50):
        bus_a.publish("conv:1", frame(n))
    assert rec_a.values("conv:1") == list(range(50))  # delivered here at once
    await rec_b.wait_for(lambda: len(rec_b.values("conv:1")) == 50)
    # Redis sent A's echoes to A's subscription before B's marker, on one connection, in
    # order: once A has the marker, every echo has come back (and must have been dropped).
    bus_b.publish("conv:1", frame(-1))
    await rec_a.wait_for(lambda: -1 in rec_a.values("conv:1"))
    assert rec_a.values("conv:1") == [*range(50), -1]
    assert rec_b.values("conv:1") == [*range(50), -1]
    assert bus_a.stats.echoes == 50


async def test_unsubscribe_stops_delivery(
    nodes: tuple[RedisBus, Recorder, RedisBus, Recorder],
) -> None:
    bus_a, _, bus_b, rec_b = nodes
    bus_b.subscribe("conv:1")
    bus_b.subscribe("conv:2")
    await bus_b.wait_subscribed(WAIT_S)
    bus_a.publish("conv:1", frame(1))
    await rec_b.wait_for(lambda: rec_b.values("conv:1") == [1])
    bus_b.unsubscribe("conv:1")
    await bus_b.wait_subscribed(WAIT_S)  # Redis confirmed the unsubscribe
    bus_a.publish("conv:1", frame(2))
    bus_a.publish("conv:2", frame(3))  # same connection, after: arrives after conv:1's
    await rec_b.wait_for(lambda: rec_b.values("conv:2") == [3])
    assert rec_b.values("conv:1") == [1]


async def test_redis_outage_marks_unhealthy_then_both_recover_without_doubles(
    redis_srv: RedisServer, nodes: tuple[RedisBus, Recorder, RedisBus, Recorder]
) -> None:
    bus_a, rec_a, bus_b, rec_b = nodes
    for bus in (bus_a, bus_b):
        bus.subscribe("conv:1")
        await bus.wait_subscribed(WAIT_S)
    for n in range(50):
        bus_a.publish("conv:1", frame(n))
    await rec_b.wait_for(lambda: len(rec_b.values("conv:1")) == 50)

    await asyncio.to_thread(redis_srv.stop)
    try:
        await bus_a.wait_healthy(WAIT_S, healthy=False)
        await bus_b.wait_healthy(WAIT_S, healthy=False)
        for n in range(50, 60):  # during the outage: local delivery only, never an error
            bus_a.publish("conv:1", frame(n))
        bus_b.subscribe("conv:2")  # a socket joined meanwhile
        assert not rec_a.reconnected.is_set()  # the hook waits for Redis to be back
    finally:
        await asyncio.to_thread(redis_srv.start)

    for bus in (bus_a, bus_b):
        await bus.wait_healthy(WAIT_S)
        await bus.wait_subscribed(WAIT_S)  # the whole wanted set, subscribed again
    async with asyncio.timeout(WAIT_S):
        await rec_a.reconnected.wait()
        await rec_b.reconnected.wait()
    for n in range(60, 110):
        bus_a.publish("conv:1", frame(n))
        bus_b.publish("conv:1", frame(1000 + n))
    bus_a.publish("conv:2", frame(7))
    await rec_b.wait_for(lambda: 109 in rec_b.values("conv:1"))
    await rec_b.wait_for(lambda: rec_b.values("conv:2") == [7])
    await rec_a.wait_for(lambda: 1109 in rec_a.values("conv:1"))

    # A heard its own frames exactly once each, whatever Redis did meanwhile.
    assert [n for n in rec_a.values("conv:1") if n < 1000] == list(range(110))
    assert [n for n in rec_a.values("conv:1") if n >= 1000] == list(range(1060, 1110))
    got = [n for n in rec_b.values("conv:1") if n < 1000]
    assert got == sorted(set(got))  # in order, nothing twice
    assert set(range(50)) | set(range(60, 110)) <= set(got)
    assert bus_a.stats.reconnects == bus_b.stats.reconnects == 1


async def test_restart_while_frames_stream_recovers_and_delivers_nothing_twice(
    redis_srv: RedisServer, nodes: tuple[RedisBus, Recorder, RedisBus, Recorder]
) -> None:
    bus_a, _, bus_b, rec_b = nodes
    bus_b.subscribe("conv:1")
    await bus_b.wait_subscribed(WAIT_S)
    restarted = asyncio.Event()
    sent: list[int] = []

    async def stream() -> None:
        n = 0
        # Keep publishing through the restart and until B is back and hears again.
        while not (restarted.is_set() and rec_b.reconnected.is_set() and bus_b.healthy()):
            bus_a.publish("conv:1", frame(n))
            sent.append(n)
            n += 1
            await asyncio.sleep(0)  # let the publisher run: this loop must not starve it
        for m in range(n, n + 100):
            bus_a.publish("conv:1", frame(m))
            sent.append(m)

    streamer = asyncio.create_task(stream())
    await rec_b.wait_for(lambda: len(rec_b.values("conv:1")) >= 20)  # mid-stream
    await asyncio.to_thread(redis_srv.restart)
    restarted.set()
    async with asyncio.timeout(WAIT_S * 2):
        await streamer
    await rec_b.wait_for(lambda: sent[-1] in rec_b.values("conv:1"))
    got = rec_b.values("conv:1")
    assert got == sorted(set(got))
    assert sent[-100:] == got[-100:]  # after recovery, everything flows again
    await bus_a.wait_healthy(WAIT_S)  # A's own subscription came back too
    await bus_b.wait_healthy(WAIT_S)


async def test_unreachable_redis_never_raises_to_callers() -> None:
    rec = Recorder()
    bus = RedisBus(
        f"redis://127.0.0.1:{free_port()}/0",
        rec,
        "lonely",
        stop_timeout_s=STOP_S,
        backoff_cap_s=0.2,
    )
    bus.subscribe("conv:1")
    await bus.start()
    try:
        assert not bus.healthy()
        with pytest.raises(BusUnavailable) as info:
            await bus.wait_healthy(0.5)
        assert info.value.__cause__ is not None  # the Redis error, kept as the cause
        bus.publish("conv:1", frame(1))
        assert rec.values("conv:1") == [1]
    finally:
        await bus.stop(drain_timeout_s=0.1)


async def test_full_publish_queue_drops_and_counts_but_delivers_locally() -> None:
    rec = Recorder()
    bus = RedisBus(
        "redis://127.0.0.1:1/0", rec, "n", stop_timeout_s=STOP_S, queue_max=5
    )  # never started
    bus.subscribe("conv:1")
    for n in range(8):
        bus.publish("conv:1", frame(n))
    assert bus.stats.overflow == 3
    assert rec.values("conv:1") == list(range(8))


async def test_a_frozen_redis_is_noticed_by_the_watchdog_and_survived(
    redis_srv: RedisServer, nodes: tuple[RedisBus, Recorder, RedisBus, Recorder]
) -> None:
    """SIGSTOP keeps the TCP connections open but silent: no error ever arrives, so only
    the PING watchdog can tell that the link is dead."""
    bus_a, _, bus_b, rec_b = nodes
    bus_b.subscribe("conv:1")
    await bus_b.wait_subscribed(WAIT_S)
    assert redis_srv.proc is not None
    pid = redis_srv.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        await bus_b.wait_healthy(WAIT_S, healthy=False)
    finally:
        os.kill(pid, signal.SIGCONT)
    await bus_b.wait_healthy(WAIT_S)
    await bus_b.wait_subscribed(WAIT_S)
    async with asyncio.timeout(WAIT_S):
        await rec_b.reconnected.wait()
    bus_a.publish("conv:1", frame(1))
    await rec_b.wait_for(lambda: rec_b.values("conv:1") == [1])


async def test_a_node_that_dropped_its_frames_tells_the_other_nodes_to_catch_up(
    redis_srv: RedisServer,
) -> None:
    """Frames a node could not publish in time are dropped; the other nodes, whose own
    subscription never broke, hear of it at the node's next publish and catch up."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    rec_a, rec_b = Recorder(), Recorder()
    # Every frame is stale on node a: each publish drops it, as after a long outage.
    bus_a = RedisBus(
        redis_srv.url, rec_a, "node-a", stop_timeout_s=STOP_S, prefix=prefix, stale_after_s=-1.0
    )
    bus_b = RedisBus(redis_srv.url, rec_b, "node-b", stop_timeout_s=STOP_S, prefix=prefix)
    told_a, told_b = asyncio.Event(), asyncio.Event()
    bus_a.on_peer_gap, bus_b.on_peer_gap = told_a.set, told_b.set
    await bus_a.start()
    await bus_b.start()
    try:
        for bus in (bus_a, bus_b):
            bus.subscribe("conv:1")
            await bus.wait_subscribed(WAIT_S)
        bus_a.publish("conv:1", frame(1))
        async with asyncio.timeout(WAIT_S):
            await told_b.wait()
        assert rec_b.values("conv:1") == []  # the frame itself was dropped
        assert bus_a.stats.stale == 1
        assert not told_a.is_set()  # its own sockets had it locally
    finally:
        await bus_a.stop()
        await bus_b.stop()
