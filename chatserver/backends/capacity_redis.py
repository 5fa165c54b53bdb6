"""The Redis capacity ledger: several hub nodes, one truth about who holds how many chats.

Each agent has a sorted set of conversation ids scored by lease expiry (ms, Redis server
time, so node clocks do not matter), a hash of which node owns each lease and a hash of
what each weighs (thousandths of a chat: an e-mail conversation may weigh half). One Lua
script does every operation, pruning expired leases first, so "sum the weights, then add
if this one fits under the cap" is atomic and two nodes can never push an agent past the
cap; integers throughout, so no float sum rounds past it. A node that dies stops
renewing and its leases lapse within ``lease_ttl_s``. The three keys of an agent share a hash tag,
so the script also runs on Redis Cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from chatserver.backends.redis_keys import KEY_PREFIX, owners_key, slots_key, weights_key
from chatserver.core.errors import LivedeskError
from router.model import milli

_SCRIPT = """
local slots, owners, weights = KEYS[1], KEYS[2], KEYS[3]
local op, node, ttl, cap = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = now + ttl

local expired = redis.call('ZRANGEBYSCORE', slots, '-inf', now)
if #expired > 0 then
  redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
  for _, conv in ipairs(expired) do
    redis.call('HDEL', owners, conv)
    redis.call('HDEL', weights, conv)
  end
end

-- What the live leases weigh together, in thousandths of a chat (no weight: a whole one).
local function load()
  local convs = redis.call('ZRANGE', slots, 0, -1)
  if #convs == 0 then return 0 end
  local ws = redis.call('HMGET', weights, unpack(convs))
  local total = 0
  for i = 1, #convs do total = total + (tonumber(ws[i]) or 1000) end
  return total
end

local function hold(conv, weight)
  redis.call('ZADD', slots, expiry, conv)
  redis.call('HSET', owners, conv, node)
  redis.call('HSET', weights, conv, weight)
end

local function keep_keys_alive()
  local top = redis.call('ZRANGE', slots, -1, -1, 'WITHSCORES')
  if #top == 0 then
    redis.call('DEL', slots, owners, weights)
  else
    local at = tonumber(top[2]) + 1000
    redis.call('PEXPIREAT', slots, at)
    redis.call('PEXPIREAT', owners, at)
    redis.call('PEXPIREAT', weights, at)
  end
end

local result
if op == 'reserve' or op == 'force' then
  local conv, weight = ARGV[5], tonumber(ARGV[6])
  if redis.call('ZSCORE', slots, conv) or op == 'force' or load() + weight <= cap then
    hold(conv, weight)
    result = 1
  else
    result = 0
  end
elseif op == 'renew' then
  -- extend what is still ours; re-take a lapsed lease only if it fits; list the lost
  result = {}
  local total = load()
  for i = 5, #ARGV, 2 do
    local conv, weight = ARGV[i], tonumber(ARGV[i + 1])
    if redis.call('ZSCORE', slots, conv) then
      hold(conv, weight)
    elseif total + weight <= cap then
      hold(conv, weight)
      total = total + weight
    else
      table.insert(result, conv)
    end
  end
elseif op == 'release' then
  result = redis.call('ZREM', slots, ARGV[5])
  redis.call('HDEL', owners, ARGV[5])
  redis.call('HDEL', weights, ARGV[5])
elseif op == 'reconcile' then
  local active = {}
  for i = 5, #ARGV, 2 do active[ARGV[i]] = true end
  local held = redis.call('HGETALL', owners)
  for i = 1, #held, 2 do
    if held[i + 1] == node and not active[held[i]] then
      redis.call('ZREM', slots, held[i])
      redis.call('HDEL', owners, held[i])
      redis.call('HDEL', weights, held[i])
    end
  end
  for i = 5, #ARGV, 2 do hold(ARGV[i], tonumber(ARGV[i + 1])) end
  result = redis.call('ZCARD', slots)
elseif op == 'count' then
  return redis.call('ZCARD', slots)
elseif op == 'load' then
  return load()
else
  return redis.error_reply('unknown op ' .. op)
end
keep_keys_alive()
return result
"""


class CapacityUnavailable(LivedeskError):
    """Redis could not be reached or failed; no slot was reserved or released."""


class RedisCapacityLedger:
    """Async twin of ``router.InMemoryCapacityLedger`` for many nodes sharing one Redis.

    The owner must call ``renew()`` every ``heartbeat_interval_s`` (a third of the lease),
    and ``reconcile()`` per agent at start with the store's active conversations.
    """

    def __init__(
        self,
        redis_client: Redis,
        node_id: str,
        lease_ttl_s: float = 30.0,
        prefix: str = KEY_PREFIX,
        auto_pipeline: bool = True,
    ) -> None:
        if lease_ttl_s <= 0:
            raise ValueError("lease_ttl_s must be positive")
        self._redis = redis_client
        self.node_id = node_id
        self._ttl_ms = max(1, int(lease_ttl_s * 1000))
        self._prefix = prefix
        self._script = redis_client.register_script(_SCRIPT)
        # What this node holds: (the cap it was reserved under, its weight), in
        # thousandths of a chat, for renew().
        self._held: dict[tuple[str, str], tuple[int, int]] = {}
        # Auto-pipelining: calls made while a batch is in flight ride the next round trip
        # together. The Python client, not Redis, is the limit here (~6-8k round trips/s).
        self._auto_pipeline = auto_pipeline
        self._batch: list[tuple[list[str], list[Any], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None

    @property
    def heartbeat_interval_s(self) -> float:
        return self._ttl_ms / 3000

    def _keys(self, agent_id: str) -> list[str]:
        return [
            slots_key(agent_id, self._prefix),
            owners_key(agent_id, self._prefix),
            weights_key(agent_id, self._prefix),
        ]

    async def _run(self, agent_id: str, op: str, cap: int, *convs: str | int) -> Any:
        keys = self._keys(agent_id)
        args: list[Any] = [op, self.node_id, self._ttl_ms, cap, *convs]
        if not self._auto_pipeline:
            try:
                return await self._script(keys=keys, args=args)
            except RedisError as exc:
                raise CapacityUnavailable(f"capacity ledger {op} failed: {exc}") from exc
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._batch.append((keys, args, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_batches())
        return await future

    async def _flush_batches(self) -> None:
        inflight: list[tuple[list[str], list[Any], asyncio.Future[Any]]] = []
        try:
            while self._batch:
                inflight, self._batch = self._batch, []
                try:
                    results = await self._pipelined(inflight)
                except RedisError as exc:
                    results = [exc] * len(inflight)
                except Exception as exc:  # a bug, not Redis: let every caller see it as is
                    for _, _, future in inflight:
                        if not future.done():
                            future.set_exception(exc)
                    inflight = []
                    continue
                for (_, args, future), result in zip(inflight, results, strict=True):
                    if future.done():
                        continue  # the caller was cancelled; a lease it got will lapse
                    if isinstance(result, RedisError):
                        error = CapacityUnavailable(f"capacity ledger {args[0]} failed: {result}")
                        error.__cause__ = result
                        future.set_exception(error)
                    else:
                        future.set_result(result)
                inflight = []
        finally:
            self._flusher = None
            for _, _, future in inflight + self._batch:  # only if we were cancelled mid-flight
                if not future.done():
                    future.cancel()
            self._batch = []

    async def _pipelined(self, calls: list[tuple[list[str], list[Any], Any]]) -> list[Any]:
        """EVALSHA each call in one round trip. redis-py's own script-in-pipeline support
        asks SCRIPT EXISTS before every pipeline, doubling the round trips; instead, load
        the script only when Redis says NOSCRIPT (a restart or SCRIPT FLUSH) and retry."""
        sha = self._script.sha
        for attempt in (1, 2):
            async with self._redis.pipeline(transaction=False) as pipe:
                for keys, args, _ in calls:
                    pipe.evalsha(sha, len(keys), *keys, *args)
                results: list[Any] = await pipe.execute(raise_on_error=False)
            if attempt == 2 or not any(isinstance(r, NoScriptError) for r in results):
                return results
            sha = self._script.sha = await self._redis.script_load(_SCRIPT)
        raise AssertionError("unreachable")

    async def reserve(
        self, agent_id: str, conv_id: str, cap: float, force: bool = False, weight: float = 1.0
    ) -> bool:
        """Lease ``weight`` of the agent if it fits under ``cap`` with what they hold
        (``force``: a logged override).

        Reserving a conversation the agent already holds renews it and succeeds.
        """
        cap_m, weight_m = milli(cap), milli(weight)
        op = "force" if force else "reserve"
        ok = bool(await self._run(agent_id, op, cap_m, conv_id, weight_m))
        if ok:
            self._held[(agent_id, conv_id)] = (cap_m, weight_m)
        return ok

    async def release(self, agent_id: str, conv_id: str) -> bool:
        """Free the slot; False if it was not held (a double release is harmless)."""
        removed = await self._run(agent_id, "release", 0, conv_id)
        self._held.pop((agent_id, conv_id), None)
        return bool(removed)

    async def count(self, agent_id: str) -> int:
        """Live leases of the agent, from every node."""
        return int(await self._run(agent_id, "count", 0))

    async def load(self, agent_id: str) -> float:
        """What the agent's live leases weigh together, in chats, from every node."""
        return int(await self._run(agent_id, "load", 0)) / 1000

    async def renew(self) -> list[tuple[str, str]]:
        """Heartbeat: extend this node's leases. Returns those lost (lapsed while another
        node filled the agent); the hub must hand those conversations back to the router."""
        by_agent: dict[str, list[str | int]] = {}
        caps: dict[str, int] = {}
        for (agent_id, conv_id), (cap, weight) in self._held.items():
            by_agent.setdefault(agent_id, []).extend((conv_id, weight))
            caps[agent_id] = max(cap, caps.get(agent_id, 0))
        if not by_agent:
            return []
        agents = list(by_agent)
        calls = [
            (
                self._keys(agent_id),
                ["renew", self.node_id, self._ttl_ms, caps[agent_id], *by_agent[agent_id]],
                None,
            )
            for agent_id in agents
        ]
        try:
            results = await self._pipelined(calls)
        except RedisError as exc:
            raise CapacityUnavailable(f"capacity ledger renew failed: {exc}") from exc
        for result in results:
            if isinstance(result, RedisError):
                raise CapacityUnavailable(f"capacity ledger renew failed: {result}") from result
        lost: list[tuple[str, str]] = []
        for agent_id, gone in zip(agents, results, strict=True):
            for conv in gone:
                conv_id = conv.decode() if isinstance(conv, bytes) else str(conv)
                self._held.pop((agent_id, conv_id), None)
                lost.append((agent_id, conv_id))
        return lost

    async def reconcile(
        self,
        agent_id: str,
        active_conv_ids: Iterable[str],
        cap: float | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> int:
        """At start: this node's leases for the agent become exactly the store's active
        conversations, each at its weight in ``weights`` (else a whole chat); other nodes'
        leases are left alone. Returns the agent's count."""
        active = list(dict.fromkeys(active_conv_ids))
        weights = weights or {}
        milli_of = {c: milli(weights.get(c, 1.0)) for c in active}
        pairs: list[str | int] = [x for c in active for x in (c, milli_of[c])]
        count = int(await self._run(agent_id, "reconcile", 0, *pairs))
        for key in [k for k in self._held if k[0] == agent_id]:
            del self._held[key]
        held_cap = max(milli(cap or 0), sum(milli_of.values()))
        for conv_id in active:
            self._held[(agent_id, conv_id)] = (held_cap, milli_of[conv_id])
        return count
