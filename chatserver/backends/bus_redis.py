"""The bus for many hub processes: Redis pub/sub, at-most-once, never waited on.

Own-echo rule: ``publish`` hands the frame to this node's handler at once (as
``InMemoryBus`` does, so a node keeps its own order and pays no round trip) and queues it
for Redis; every message on the wire starts with the publishing node's id, and a node
drops the echo of its own publishes. Each frame therefore reaches each node once.

Wire format of one message on ``{prefix}:bus:{channel}``::

    [1 byte: n][n bytes: node id, utf-8][msgpack of the frame body]

The body bytes are exactly ``OutFrame.encoded("msgpack")``: encoded once on the publishing
node, reused as is for msgpack sockets on every node.

The store stays the truth. A publish that fails, overflows the bounded queue or waits
longer than ``stale_after_s`` is dropped and counted, never retried (a retried pipeline could
deliver twice); a node whose subscription broke calls ``on_reconnect`` once it is back, so
the hub can have its sockets catch up from ``seq``. A node that dropped frames it published
says so on the shared ``_resync`` channel as soon as Redis takes a publish again, and every
other node calls ``on_peer_gap`` (its subscription may never have broken, or came back
before the frames were dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from chatserver.backends.bus import Handler
from chatserver.backends.redis_keys import KEY_PREFIX, bus_channel, bus_channel_prefix
from chatserver.core.errors import LivedeskError
from chatserver.core.protocol import OutFrame
from chatserver.runtime.backoff import Backoff

log = logging.getLogger("livedesk.redis_bus")

# Errors that mean "Redis is not there right now": redis-py wraps most socket errors, but
# not every path does, so plain OSError counts too.
REDIS_DOWN: tuple[type[BaseException], ...] = (RedisError, OSError)


_PUBLISH_MANY = """
for i = 1, #ARGV, 2 do
  redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
end
return #ARGV / 2
"""
_PUBLISH_SHA = hashlib.sha1(_PUBLISH_MANY.encode()).hexdigest()


class BusUnavailable(LivedeskError):
    """Redis could not be reached (or did not confirm the subscriptions) in time."""


async def drop_idle_connections(client: Redis | None) -> None:
    """Close the pooled connections nobody is using. After Redis went away they are dead,
    and without retries (see ``redis_client``) the first command on each would fail even
    once Redis is back."""
    if client is not None:
        with contextlib.suppress(Exception):
            await client.connection_pool.disconnect(inuse_connections=False)


def redis_client(url: str, *, timeout_s: float = 5.0, **kwargs: Any) -> Redis:
    """A client that fails fast and never retries on its own: the supervised loops here
    own reconnecting, and redis-py's default retry could resend a pipeline of PUBLISHes
    (a double delivery) or block a loop for many seconds."""
    return Redis.from_url(
        url,
        retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        **kwargs,
    )


@dataclass
class BusStats:
    published: int = 0  # frames Redis accepted
    failed: int = 0  # frames dropped because their PUBLISH failed
    overflow: int = 0  # frames dropped because the publish queue was full
    stale: int = 0  # frames dropped because they waited longer than stale_after_s
    received: int = 0  # frames from other nodes handed to the handler
    echoes: int = 0  # own frames coming back from Redis, dropped
    undecodable: int = 0
    reconnects: int = 0


class RedisBus:
    """``Bus`` over Redis pub/sub. ``subscribe``/``unsubscribe`` are called by the hub on
    the first/last local listener of a channel; this keeps the wanted set and one
    supervised subscriber keeps Redis in step with it, across reconnects."""

    def __init__(
        self,
        redis_url: str,
        handler: Handler,
        node_id: str,
        *,
        stop_timeout_s: float,
        prefix: str = KEY_PREFIX,
        on_reconnect: Callable[[], None] | None = None,
        on_peer_gap: Callable[[], None] | None = None,
        linked_clients: Sequence[Redis] = (),
        queue_max: int = 10_000,
        batch_max: int = 256,
        stale_after_s: float = 10.0,
        ping_interval_s: float = 5.0,
        backoff_base_s: float = 0.05,
        backoff_cap_s: float = 5.0,
    ) -> None:
        node = node_id.encode()
        if not 0 < len(node) < 256:
            raise ValueError("node_id must be 1 to 255 bytes of utf-8")
        self.redis_url = redis_url
        self.handler = handler
        self.node_id = node_id
        self.on_reconnect = on_reconnect
        self.on_peer_gap = on_peer_gap
        # How long stopping waits for the tasks and for each connection to close.
        self.stop_timeout_s = stop_timeout_s
        self.stats = BusStats()
        self._header = bytes([len(node)]) + node
        self._prefix = prefix
        self._channel_prefix = bus_channel_prefix(prefix).encode()
        # A channel of the node's own, always subscribed, so the subscription connection
        # exists (and its health is known) even when no socket listens to anything.
        self._control = bus_channel(f"_node:{node_id}", prefix).encode()
        # Every node's: "I dropped frames I published; catch your sockets up".
        self._resync_channel = bus_channel("_resync", prefix).encode()
        self._gap = False  # frames of ours were dropped and nobody was told yet
        self._batch_max = batch_max
        self._stale_after_s = stale_after_s
        self._ping_interval_s = ping_interval_s
        self._backoff = (backoff_base_s, backoff_cap_s)
        self._queue: asyncio.Queue[tuple[bytes, bytes, float]] = asyncio.Queue(queue_max)
        self._overflowing = False
        self._wanted: set[str] = set()
        self._confirmed: set[bytes] = set()  # what Redis confirmed on the live connection
        self._resync = asyncio.Event()
        self._sub_ok = False
        self._pub_ok = True
        self._changed = asyncio.Event()
        self._last_error: BaseException | None = None
        self._last_heard = 0.0
        self._stopping = False
        self._publish_sha = _PUBLISH_SHA
        self._pub_client: Redis | None = None
        self._sub_client: Redis | None = None
        # Other clients of this node (the cluster's) whose idle connections go stale with
        # the bus's when Redis goes away.
        self.linked_clients: tuple[Redis, ...] = tuple(linked_clients)
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the publisher and the subscriber; does not wait for Redis (``healthy``
        turns True once it answers; ``wait_healthy`` waits for that)."""
        self._pub_client = redis_client(self.redis_url)
        self._sub_client = redis_client(self.redis_url)
        self._tasks = [
            asyncio.create_task(self._publisher(), name=f"redis-bus-publisher-{self.node_id}"),
            asyncio.create_task(self._subscriber(), name=f"redis-bus-subscriber-{self.node_id}"),
        ]

    async def stop(self, drain_timeout_s: float = 1.0) -> None:
        """Give queued frames a short chance to go out, then stop the tasks and close."""
        if self._tasks and not self._tasks[0].done() and self._pub_ok:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain_timeout_s):
                    await self._queue.join()
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: a cancelled read on a connection can leave redis-py's close waiting
            # on that connection for good (seen with the hiredis parser), and a stop that
            # never returns hangs whoever stops the bus (a CLI run, a hub's shutdown).
            _, stuck = await asyncio.wait(self._tasks, timeout=self.stop_timeout_s)
            for task in stuck:
                log.warning(
                    "bus task %s did not stop within %ss", task.get_name(), self.stop_timeout_s
                )
        self._tasks = []
        for client in (self._pub_client, self._sub_client):
            if client is not None:
                with contextlib.suppress(*REDIS_DOWN, TimeoutError):
                    async with asyncio.timeout(self.stop_timeout_s):
                        await client.aclose()
        self._pub_client = self._sub_client = None
        self._wanted.clear()
        self._set_state(sub_ok=False)
        self._stopping = False

    # ------------------------------------------------------------------ Bus

    def publish(self, channel: str, frame: OutFrame) -> None:
        """Deliver here at once, queue for the other nodes; never waits, never raises for
        Redis (a full queue drops the frame and counts it)."""
        encoded = frame.encoded("msgpack")
        assert isinstance(encoded, bytes)
        payload = self._header + encoded
        try:
            self._queue.put_nowait((bus_channel(channel, self._prefix).encode(), payload, _now()))
            self._overflowing = False
        except asyncio.QueueFull:
            self.stats.overflow += 1
            self._gap = True
            if not self._overflowing:  # log the start of an overflow, not every frame of it
                self._overflowing = True
                log.warning("bus publish queue full (%d): dropping frames", self._queue.maxsize)
        if channel in self._wanted:
            self.handler(channel, frame)

    def subscribe(self, channel: str) -> None:
        if channel not in self._wanted:
            self._wanted.add(channel)
            self._resync.set()

    def unsubscribe(self, channel: str) -> None:
        if channel in self._wanted:
            self._wanted.discard(channel)
            self._resync.set()

    def healthy(self) -> bool:
        return self._sub_ok and self._pub_ok

    def subscribed(self, channel: str) -> bool:
        """Redis has confirmed this node's subscription to ``channel``: a frame another
        node publishes before that never reaches this one live."""
        return (
            self._sub_ok
            and channel in self._wanted
            and bus_channel(channel, self._prefix).encode() in self._confirmed
        )

    async def until_subscribed(self, channel: str, timeout_s: float) -> bool:
        try:
            await self._wait(lambda: self.subscribed(channel), timeout_s)
        except BusUnavailable:
            return False
        return True

    # ------------------------------------------------------------------ waiting on state

    async def wait_healthy(self, timeout_s: float, healthy: bool = True) -> None:
        """Until ``healthy()`` equals ``healthy``; BusUnavailable after ``timeout_s``."""
        await self._wait(lambda: self.healthy() == healthy, timeout_s)

    async def wait_subscribed(self, timeout_s: float) -> None:
        """Until Redis has confirmed exactly the wanted channels on a healthy connection."""
        await self._wait(lambda: self._sub_ok and self._confirmed == self._wanted_keys(), timeout_s)

    async def _wait(self, condition: Callable[[], bool], timeout_s: float) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                while not condition():
                    await self._changed.wait()
        except TimeoutError:
            raise BusUnavailable(f"redis bus not ready after {timeout_s}s") from self._last_error

    def _notify(self) -> None:
        # Wake every waiter, then arm a fresh event for the next change.
        self._changed.set()
        self._changed = asyncio.Event()

    def _set_state(self, *, sub_ok: bool | None = None, pub_ok: bool | None = None) -> None:
        before = self.healthy()
        if sub_ok is not None:
            self._sub_ok = sub_ok
        if pub_ok is not None:
            self._pub_ok = pub_ok
        if self.healthy() != before and not self._stopping:
            log.log(
                logging.INFO if self.healthy() else logging.WARNING,
                "redis bus %s",
                "healthy" if self.healthy() else f"unhealthy: {self._last_error!r}",
            )
        self._notify()

    def _wanted_keys(self) -> set[bytes]:
        wanted = {bus_channel(c, self._prefix).encode() for c in self._wanted}
        return wanted | {self._resync_channel, self._control}

    # ------------------------------------------------------------------ publisher

    async def _publisher(self) -> None:
        assert self._pub_client is not None
        backoff = Backoff(*self._backoff)
        while True:
            batch = [await self._queue.get()]
            fresh: list[tuple[bytes, bytes]] = []
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                oldest_ok = _now() - self._stale_after_s
                fresh = [(ch, data) for ch, data, at in batch if at >= oldest_ok]
                if len(fresh) < len(batch):
                    self.stats.stale += len(batch) - len(fresh)
                    self._gap = True
                if self._gap:
                    fresh.append((self._resync_channel, self._header))
                await self._send(fresh)
                self._gap = False
            except asyncio.CancelledError:
                raise
            except REDIS_DOWN as exc:
                self.stats.failed += len(fresh)
                self._gap = True
                self._last_error = exc
                self._set_state(pub_ok=False)
                await self._until_redis_answers(backoff)
                await self._tell_gap()
            except Exception:
                self.stats.failed += len(batch)
                self._gap = True
                log.exception("bus publisher failed on a batch")
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _send(self, batch: list[tuple[bytes, bytes]]) -> None:
        """One EVALSHA publishes the whole batch: one command and one reply instead of one
        per frame, which is most of what the Python client costs per frame."""
        assert self._pub_client is not None
        args = [part for pair in batch for part in pair]
        try:
            await self._pub_client.evalsha(self._publish_sha, 0, *args)
        except NoScriptError:  # a restarted or flushed Redis; nothing was published
            self._publish_sha = await self._pub_client.script_load(_PUBLISH_MANY)
            await self._pub_client.evalsha(self._publish_sha, 0, *args)
        self.stats.published += len(batch)

    async def _tell_gap(self) -> None:
        """Right after Redis answers again: the other nodes catch up now, not at this
        node's next publish."""
        try:
            await self._send([(self._resync_channel, self._header)])
            self._gap = False
        except REDIS_DOWN as exc:  # the next batch carries the notice
            self._last_error = exc

    async def _until_redis_answers(self, backoff: Backoff) -> None:
        """Probe with PING, backing off, rather than spend queued frames on a dead link."""
        assert self._pub_client is not None
        while True:
            await asyncio.sleep(backoff.next_delay())
            try:
                await self._pub_client.ping()
            except REDIS_DOWN as exc:
                self._last_error = exc
                continue
            backoff.reset()
            self._set_state(pub_ok=True)
            return

    # ------------------------------------------------------------------ subscriber

    async def _subscriber(self) -> None:
        """Supervisor: one PubSub per connection; any failure throws the PubSub away (redis-
        py's own resubscribe-on-reconnect does not always recover) and starts afresh."""
        assert self._sub_client is not None
        backoff = Backoff(*self._backoff)
        sessions = 0
        while True:
            pubsub = self._sub_client.pubsub()
            try:
                await self._session(pubsub, backoff, reconnected=sessions > 0)
            except asyncio.CancelledError:
                raise
            except REDIS_DOWN as exc:
                self._last_error = exc
            except Exception as exc:
                self._last_error = exc
                log.exception("bus subscriber failed")
            finally:
                self._confirmed.clear()
                if self._sub_ok:
                    sessions += 1
                self._set_state(sub_ok=False)
                with contextlib.suppress(Exception):  # TimeoutError included
                    async with asyncio.timeout(self.stop_timeout_s):
                        await pubsub.aclose()
                if not self._stopping:
                    for client in (self._pub_client, *self.linked_clients):
                        await drop_idle_connections(client)
            await asyncio.sleep(backoff.next_delay())

    async def _session(self, pubsub: PubSub, backoff: Backoff, *, reconnected: bool) -> None:
        self._last_heard = _now()
        # Cleared before reading the wanted set: a change made while SUBSCRIBE is being
        # sent sets it again, and _sync picks that change up.
        self._resync.clear()
        sent = self._wanted_keys() - {self._control}
        # The control channel goes last: its confirmation means every channel before it
        # in the same SUBSCRIBE is confirmed too.
        await pubsub.subscribe(*sent, self._control)
        sent.add(self._control)
        # Not a TaskGroup: its ExceptionGroup would hide the RedisError the supervisor
        # sorts failures by.
        tasks = [
            asyncio.create_task(self._read(pubsub, backoff, reconnected)),
            asyncio.create_task(self._sync(pubsub, sent)),
            asyncio.create_task(self._watchdog(pubsub)),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raises the failure that ended the session
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _sync(self, pubsub: PubSub, sent: set[bytes]) -> None:
        """Send SUBSCRIBE/UNSUBSCRIBE for what the hub changed since the last pass."""
        while True:
            await self._resync.wait()
            self._resync.clear()
            wanted = self._wanted_keys()
            if add := wanted - sent:
                await pubsub.subscribe(*add)
                sent |= add
            if drop := sent - wanted:
                await pubsub.unsubscribe(*drop)
                sent -= drop

    async def _read(self, pubsub: PubSub, backoff: Backoff, reconnected: bool) -> None:
        while True:
            # Blocking read: a per-message timeout costs as much as parsing the message.
            # The watchdog notices a dead link instead.
            message = await pubsub.get_message(timeout=None)
            if message is None:
                continue
            self._last_heard = _now()
            kind = message["type"]
            kind = kind.decode() if isinstance(kind, bytes) else kind
            if kind == "message":
                self._on_message(message["channel"], message["data"])
            elif kind == "subscribe":
                self._confirmed.add(_as_bytes(message["channel"]))
                if _as_bytes(message["channel"]) == self._control and not self._sub_ok:
                    backoff.reset()
                    self._set_state(sub_ok=True)
                    if reconnected:
                        self.stats.reconnects += 1
                        self._call_hook(self.on_reconnect, "on_reconnect")
                else:
                    self._notify()
            elif kind == "unsubscribe":
                self._confirmed.discard(_as_bytes(message["channel"]))
                self._notify()

    async def _watchdog(self, pubsub: PubSub) -> None:
        """A silent link is not proof of a live one (a peer gone without a FIN): PING when
        idle, and end the session if not even the answer comes back."""
        interval = self._ping_interval_s
        while True:
            await asyncio.sleep(interval / 2)
            silent_s = _now() - self._last_heard
            if silent_s > 2 * interval:
                raise BusUnavailable(f"redis pub/sub connection silent for {silent_s:.1f}s")
            if silent_s > interval:
                await pubsub.ping()

    def _on_message(self, raw_channel: Any, data: Any) -> None:
        channel_key = _as_bytes(raw_channel)
        if channel_key == self._resync_channel:
            if not _as_bytes(data).startswith(self._header):
                self._call_hook(self.on_peer_gap, "on_peer_gap")
            return
        if channel_key == self._control or not channel_key.startswith(self._channel_prefix):
            return
        payload = _as_bytes(data)
        if payload.startswith(self._header):
            self.stats.echoes += 1
            return
        channel = channel_key[len(self._channel_prefix) :].decode()
        if channel not in self._wanted:
            return  # in flight when the hub unsubscribed
        try:
            raw = payload[1 + payload[0] :]
            body = msgpack.unpackb(raw, raw=False)
            if not isinstance(body, dict):
                raise ValueError("frame body is not a map")
        except Exception as exc:
            self.stats.undecodable += 1
            log.warning("undecodable bus message on %s: %s", channel, exc)
            return
        # The publishing node's encoding is this frame's msgpack encoding: keep it, so no
        # node encodes the same frame again for its msgpack sockets.
        frame = OutFrame.from_msgpack(body, raw)
        self.stats.received += 1
        try:
            self.handler(channel, frame)
        except Exception:
            log.exception("bus handler failed on %s", channel)

    @staticmethod
    def _call_hook(hook: Callable[[], None] | None, name: str) -> None:
        if hook is None:
            return
        try:
            hook()
        except Exception:
            log.exception("bus %s hook failed", name)


def _as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _now() -> float:
    return time.monotonic()
