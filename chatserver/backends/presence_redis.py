"""Presence shared by every node through Redis.

Each node counts its own agents' sockets in memory (the hub calls ``agent_connected`` /
``agent_disconnected`` per socket) and mirrors the set of agents it has to Redis. The
heartbeat rewrites that mirror whole and renews its TTL, so a lost write, a Redis restart
(the data is gone) or a node that dies are all settled within one TTL: a dead node stops
renewing and its agents vanish with its keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis.asyncio import Redis

from chatserver.backends.bus_redis import REDIS_DOWN
from chatserver.backends.presence import LocalVisitors, PresenceUnavailable, _LocalCount
from chatserver.backends.redis_keys import (
    KEY_PREFIX,
    presence_agents_key,
    presence_nodes_key,
    presence_visitors_key,
)

log = logging.getLogger("livedesk.presence")


# Lease expiry is Redis server time, so node clocks do not matter. Pruning the sorted set
# of nodes here keeps it from collecting the ids of every node that ever ran.
_HEARTBEAT = """
local nodes, agents = KEYS[1], KEYS[2]
local node, ttl = ARGV[1], tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', nodes, '-inf', now)
redis.call('ZADD', nodes, now + ttl, node)
redis.call('PEXPIRE', nodes, ttl * 10)
redis.call('DEL', agents)
if #ARGV > 2 then
  redis.call('SADD', agents, unpack(ARGV, 3))
  redis.call('PEXPIRE', agents, ttl)
end
return now
"""

_LIVE_NODES = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
"""

_LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3])
return 1
"""
# Visitors per SADD: a node with many thousands of them writes its set in slices.
VISITOR_SLICE = 1000


class RedisPresence:
    """Presence shared by every node through Redis. ``start`` runs the heartbeat (every
    third of the TTL); ``stop`` removes this node at once instead of waiting for the TTL.

    ``agent_connected``/``agent_disconnected`` never fail the caller: the count is kept
    here and a failed write is made good by the next heartbeat. ``online_agents`` and
    ``nodes`` must ask Redis and raise PresenceUnavailable when they cannot.
    """

    def __init__(
        self, redis: Redis, node_id: str, ttl_s: float = 15.0, *, prefix: str = KEY_PREFIX
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self._redis = redis
        self.node_id = node_id
        self.ttl_s = ttl_s
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._prefix = prefix
        self._nodes_key = presence_nodes_key(prefix)
        self._agents_key = presence_agents_key(node_id, prefix)
        self._visitors_key = presence_visitors_key(node_id, prefix)
        self._visitors: LocalVisitors = lambda: ()
        self._heartbeat = redis.register_script(_HEARTBEAT)
        self._live_nodes = redis.register_script(_LIVE_NODES)
        self._leave = redis.register_script(_LEAVE)
        self._local = _LocalCount()
        self._task: asyncio.Task[None] | None = None
        self.last_error: BaseException | None = None

    @property
    def heartbeat_interval_s(self) -> float:
        return self.ttl_s / 3

    async def start(self) -> None:
        self._task = asyncio.create_task(self._beat(), name=f"presence-heartbeat-{self.node_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self._leave(
                keys=[self._nodes_key, self._agents_key, self._visitors_key], args=[self.node_id]
            )
        except REDIS_DOWN as exc:
            log.warning("presence: could not leave cleanly (the TTL will): %r", exc)

    async def _beat(self) -> None:
        while True:
            try:
                await self.heartbeat()
            except asyncio.CancelledError:
                raise
            except PresenceUnavailable as exc:
                log.warning("presence heartbeat failed: %s", exc)
            except Exception:
                log.exception("presence heartbeat failed")
            await asyncio.sleep(self.heartbeat_interval_s)

    async def heartbeat(self) -> None:
        """Say this node is alive and exactly which agents it has, for another TTL."""
        args: list[Any] = [self.node_id, self._ttl_ms, *sorted(self._local.agents())]
        visitors = list(self._visitors())
        try:
            await self._heartbeat(keys=[self._nodes_key, self._agents_key], args=args)
            # The visitors' set, rewritten whole in one MULTI (no reader sees it half done).
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._visitors_key)
                for i in range(0, len(visitors), VISITOR_SLICE):
                    pipe.sadd(self._visitors_key, *visitors[i : i + VISITOR_SLICE])
                pipe.pexpire(self._visitors_key, self._ttl_ms)
                await pipe.execute()
        except REDIS_DOWN as exc:
            self.last_error = exc
            raise PresenceUnavailable(f"presence heartbeat failed: {exc}") from exc

    def watch_visitors(self, local: LocalVisitors) -> None:
        """Where this node's visitors are (the hub's map); the heartbeat mirrors them."""
        self._visitors = local

    async def visitor_online(self, visitor_id: str) -> bool:
        """A socket of the visitor on this node, or on any live node as of its last
        heartbeat (a third of the TTL ago at most)."""
        if visitor_id in self._visitors():
            return True
        live = sorted(await self.nodes())
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for node in live:
                    pipe.sismember(presence_visitors_key(node, self._prefix), visitor_id)
                found: list[Any] = await pipe.execute()
        except REDIS_DOWN as exc:
            raise PresenceUnavailable(f"presence visitor_online failed: {exc}") from exc
        return any(found)

    def local_agents(self) -> set[int]:
        """Agents with a socket on this node."""
        return self._local.agents()

    async def agent_connected(self, agent_id: int) -> None:
        if self._local.add(agent_id):
            await self._write("sadd", agent_id)

    async def agent_disconnected(self, agent_id: int) -> None:
        if self._local.remove(agent_id):
            await self._write("srem", agent_id)

    async def _write(self, op: str, agent_id: int) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                if op == "sadd":
                    pipe.sadd(self._agents_key, agent_id)
                else:
                    pipe.srem(self._agents_key, agent_id)
                pipe.pexpire(self._agents_key, self._ttl_ms)
                await pipe.execute()
        except REDIS_DOWN as exc:
            self.last_error = exc
            log.warning("presence %s of agent %s deferred to the heartbeat: %r", op, agent_id, exc)

    async def nodes(self) -> set[str]:
        """Nodes whose heartbeat has not lapsed."""
        try:
            raw = await self._live_nodes(keys=[self._nodes_key])
        except REDIS_DOWN as exc:
            raise PresenceUnavailable(f"presence nodes failed: {exc}") from exc
        return {_text(n) for n in raw}

    async def online_agents(self) -> set[int]:
        """Agents with a socket on any live node."""
        live = sorted(await self.nodes())
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for node in live:
                    pipe.smembers(presence_agents_key(node, self._prefix))
                members: list[set[Any]] = await pipe.execute()
        except REDIS_DOWN as exc:
            raise PresenceUnavailable(f"presence online_agents failed: {exc}") from exc
        return {int(_text(agent)) for found in members for agent in found}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
