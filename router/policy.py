"""Which agent with room goes first: one lazy heap per (team, language) pool.

An agent sits in every pool it can serve: (t, l) for t in its teams + None and l in its
languages + None. Each change to an agent bumps its version and pushes fresh entries; stale
entries are skipped when they reach the top and swept out when a heap grows past twice its
live size. That keeps a decision at O(pools-per-agent · log agents) with no scan.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection

from router.model import Policy

# (primary, secondary, version, agent_id)
PoolEntry = tuple[float, float, int, str]
PoolKey = tuple[str | None, str | None]


def pool_keys(teams: frozenset[str], languages: frozenset[str]) -> tuple[PoolKey, ...]:
    team_opts: list[str | None] = [None, *sorted(teams)]
    lang_opts: list[str | None] = [None, *sorted(languages)]
    return tuple((t, lang) for t in team_opts for lang in lang_opts)


def rank(
    policy: Policy, load: float, cap: int, last_assigned_at: float, rr_seq: int
) -> tuple[float, float]:
    """Least loaded relative to cap, ties to the agent idle longest; or plain rotation."""
    if policy == "least_loaded":
        return (load / cap, last_assigned_at)
    return (float(rr_seq), 0.0)


class AgentPools:
    """The heaps plus the capacity each pool has online (for wait estimates)."""

    __slots__ = ("heaps", "online_cap", "_is_current")

    def __init__(self, is_current: Callable[[str, int], bool]) -> None:
        self.heaps: dict[PoolKey, list[PoolEntry]] = {}
        self.online_cap: dict[PoolKey, int] = {}
        self._is_current = is_current

    def push(self, keys: tuple[PoolKey, ...], entry: PoolEntry, live_agents: int) -> None:
        heaps = self.heaps
        for key in keys:
            heap = heaps.get(key)
            if heap is None:
                heap = heaps[key] = []
            heapq.heappush(heap, entry)
            if len(heap) > 2 * live_agents + 64:
                self._compact(key)

    def _compact(self, key: PoolKey) -> None:
        current = self._is_current
        heap = [e for e in self.heaps[key] if current(e[3], e[2])]
        heapq.heapify(heap)
        self.heaps[key] = heap

    def best(
        self,
        key: PoolKey,
        excluded: Collection[str] | None = None,
        fits: Callable[[str], bool] | None = None,
    ) -> str | None:
        """The best current agent in the pool not in ``excluded`` (and, with ``fits``, with
        room for the conversation's weight); the heap keeps it."""
        heap = self.heaps.get(key)
        if not heap:
            return None
        current = self._is_current
        skipped: list[PoolEntry] = []
        found: str | None = None
        while heap:
            entry = heap[0]
            if not current(entry[3], entry[2]):
                heapq.heappop(heap)
                continue
            if (excluded and entry[3] in excluded) or (fits is not None and not fits(entry[3])):
                skipped.append(heapq.heappop(heap))
                continue
            found = entry[3]
            break
        for entry in skipped:
            heapq.heappush(heap, entry)
        return found

    def count_online(self, keys: tuple[PoolKey, ...], cap: int, sign: int) -> None:
        online = self.online_cap
        for key in keys:
            online[key] = online.get(key, 0) + sign * cap
