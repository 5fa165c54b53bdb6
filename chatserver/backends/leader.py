"""One router for the whole cluster: a leader lease in Redis, and the queue of routing
events that the other nodes forward to the leader.

Safety rests on two clocks agreeing in one direction. Redis expires the lease ``ttl_s``
after it last extended it; this node believes it leads only until ``ttl_s * (1 - drift)``
after it *sent* that extension. Its belief therefore always ends before Redis can hand the
lease to anyone else, even when this process stalls and cannot renew: two nodes never both
see ``is_leader`` true. Whatever the leader does should still be safe to do twice (the store
refuses illegal transitions), since a decision already on its way can outlive the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import msgpack
from redis.asyncio import Redis

from chatserver.backends.bus_redis import REDIS_DOWN
from chatserver.backends.redis_keys import KEY_PREFIX, leader_key, router_events_key
from chatserver.core.errors import LivedeskError
from chatserver.runtime.backoff import Backoff

log = logging.getLogger("livedesk.leader")

Callback = Callable[[], Awaitable[None]]


class LeaseUnavailable(LivedeskError):
    """Redis could not be asked about the lease; leadership is as it was, until it lapses."""


class RouterUnavailable(LivedeskError):
    """A routing event could not be handed to Redis; it was not queued."""


class RouterBacklogFull(RouterUnavailable):
    """The leader's event queue is at its bound (no leader for a while?); not queued."""


# Take the lease if it is free, or extend it if it is already ours.
_ACQUIRE = """
local owner = redis.call('GET', KEYS[1])
if not owner then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
elseif owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeaderLease:
    """A lease on ``{prefix}:leader:{name}`` held by at most one node at a time."""

    def __init__(
        self,
        redis: Redis,
        node_id: str,
        ttl_s: float = 10.0,
        *,
        name: str = "router",
        prefix: str = KEY_PREFIX,
        drift: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s <= 0 or not 0 <= drift < 1:
            raise ValueError("ttl_s must be positive and drift in [0, 1)")
        self._redis = redis
        self.node_id = node_id
        self.ttl_s = ttl_s
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._trust_s = ttl_s * (1 - drift)
        self._clock = clock
        self.key = leader_key(name, prefix)
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._valid_until = 0.0

    @property
    def is_leader(self) -> bool:
        """This node's belief, which lapses on its own if renewals stop arriving."""
        return self._clock() < self._valid_until

    @property
    def renew_interval_s(self) -> float:
        return self.ttl_s / 3

    async def try_acquire(self) -> bool:
        """Take the lease if free (or extend it if ours). True if this node now leads."""
        return await self._extend(self._acquire, "acquire")

    async def renew(self) -> bool:
        """Extend the lease only if it is still ours. False: it is not (lost or lapsed)."""
        return await self._extend(self._renew, "renew")

    async def _extend(self, script: Any, what: str) -> bool:
        sent_at = self._clock()
        try:
            ok = bool(await script(keys=[self.key], args=[self.node_id, self._ttl_ms]))
        except REDIS_DOWN as exc:
            raise LeaseUnavailable(f"leader lease {what} failed: {exc}") from exc
        if ok:
            self._valid_until = sent_at + self._trust_s
        else:
            self._valid_until = 0.0
        return ok

    async def release(self) -> None:
        """Stop leading now and free the lease for the others, if it is still ours."""
        self._valid_until = 0.0
        try:
            await self._release(keys=[self.key], args=[self.node_id])
        except REDIS_DOWN as exc:
            raise LeaseUnavailable(f"leader lease release failed: {exc}") from exc

    async def run(self, on_elected: Callback, on_lost: Callback) -> None:
        """Contend for the lease until cancelled. ``on_elected`` starts a term,
        ``on_lost`` ends it (lost, lapsed during a Redis outage, or this loop cancelled);
        they are called in turn, never overlapping, from a task of their own, so a slow
        callback never delays a renewal. On cancel the lease is released."""
        changes: asyncio.Queue[bool] = asyncio.Queue()
        notifier = asyncio.create_task(self._notify(changes, on_elected, on_lost))
        leading = False
        backoff = Backoff(base_s=self.renew_interval_s / 4, cap_s=self.renew_interval_s)
        try:
            while True:
                try:
                    ok = await (self.renew() if leading else self.try_acquire())
                    backoff.reset()
                    wait = self.renew_interval_s
                except LeaseUnavailable as exc:
                    log.warning("%s", exc)
                    ok = self.is_leader  # still ours until the belief lapses
                    wait = backoff.next_delay()
                if ok != leading:
                    leading = ok
                    log.info("node %s %s the lease", self.node_id, "won" if ok else "lost")
                    changes.put_nowait(ok)
                if leading:  # wake in time to notice the belief lapsing
                    wait = max(0.0, min(wait, self._valid_until - self._clock()))
                await asyncio.sleep(wait)
        finally:
            if leading:
                changes.put_nowait(False)
                with contextlib.suppress(LeaseUnavailable):
                    await self.release()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.ttl_s):
                    await changes.join()  # let on_lost run before we return
            notifier.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await notifier

    async def _notify(
        self, changes: asyncio.Queue[bool], on_elected: Callback, on_lost: Callback
    ) -> None:
        while True:
            elected = await changes.get()
            try:
                await (on_elected() if elected else on_lost())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("leader %s callback failed", "elected" if elected else "lost")
            finally:
                changes.task_done()


class InMemoryLeader:
    """One process: always the leader."""

    def __init__(self, node_id: str = "local") -> None:
        self.node_id = node_id

    @property
    def is_leader(self) -> bool:
        return True

    async def try_acquire(self) -> bool:
        return True

    async def renew(self) -> bool:
        return True

    async def release(self) -> None:
        return None

    async def run(self, on_elected: Callback, on_lost: Callback) -> None:
        await on_elected()
        try:
            await asyncio.Future()  # until cancelled
        finally:
            await on_lost()


# Bounded push: a queue with no leader to drain it must not grow without end.
_PUSH = """
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[1]) then
  return -1
end
return redis.call('RPUSH', KEYS[1], ARGV[2])
"""


class RouterOutbox:
    """Any node: forward a routing event (a msgpack-able dict) to whichever node leads."""

    def __init__(self, redis: Redis, *, prefix: str = KEY_PREFIX, max_backlog: int = 100_000):
        self.key = router_events_key(prefix)
        self._max_backlog = max_backlog
        self._push = redis.register_script(_PUSH)

    async def send(self, event: dict[str, Any]) -> None:
        data = msgpack.packb(event, use_bin_type=True)
        try:
            length = await self._push(keys=[self.key], args=[self._max_backlog, data])
        except REDIS_DOWN as exc:
            raise RouterUnavailable(f"routing event not queued: {exc}") from exc
        if length == -1:
            raise RouterBacklogFull(f"routing event queue is full ({self._max_backlog})")


class RouterInbox:
    """The leader: ``async for event in inbox`` until ``close()``.

    Events are popped with BLPOP, so each goes to one consumer, at most once. Stop the
    loop with ``close()`` (e.g. from ``on_lost``) rather than cancelling it: an event that
    arrives after ``close()`` is put back at the head for the next leader, while a cancel
    in the middle of a BLPOP can lose the one event it popped. The client's socket timeout
    must be longer than ``block_s``.
    """

    def __init__(self, redis: Redis, *, prefix: str = KEY_PREFIX, block_s: float = 1.0):
        self._redis = redis
        self.key = router_events_key(prefix)
        self._block_s = block_s
        self._closed = False
        self.last_error: BaseException | None = None

    def close(self) -> None:
        self._closed = True

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        backoff = Backoff(cap_s=2.0)
        while not self._closed:
            try:
                popped = await self._redis.blpop([self.key], timeout=self._block_s)
            except REDIS_DOWN as exc:
                self.last_error = exc
                log.warning("router inbox: %r", exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            if popped is None:
                continue
            data = popped[1]
            if self._closed:
                with contextlib.suppress(*REDIS_DOWN):
                    await self._redis.lpush(self.key, data)
                return
            try:
                event = msgpack.unpackb(cast(bytes, data), raw=False)
                if not isinstance(event, dict):
                    raise ValueError("routing event is not a map")
            except Exception as exc:
                log.warning("router inbox: undecodable event dropped: %s", exc)
                continue
            yield event
