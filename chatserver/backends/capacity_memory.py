"""The capacity ledger of one process: the router's in-memory ledger behind the same
async face as the Redis one (``chatserver.backends.capacity_redis``), so the dispatcher uses either."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from router import InMemoryCapacityLedger


class LocalCapacityLedger:
    """The in-memory ledger behind the same async face as the Redis one (one process)."""

    def __init__(self) -> None:
        self._ledger = InMemoryCapacityLedger()

    async def reserve(
        self, agent_id: str, conv_id: str, cap: float, force: bool = False, weight: float = 1.0
    ) -> bool:
        return self._ledger.reserve(agent_id, conv_id, cap, force, weight)

    async def release(self, agent_id: str, conv_id: str) -> bool:
        return self._ledger.release(agent_id, conv_id)

    async def count(self, agent_id: str) -> int:
        return self._ledger.count(agent_id)

    async def load(self, agent_id: str) -> float:
        return self._ledger.load(agent_id)

    async def renew(self) -> list[tuple[str, str]]:
        return []

    async def reconcile(
        self,
        agent_id: str,
        active_conv_ids: Iterable[str],
        cap: float | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> int:
        return self._ledger.reconcile(agent_id, frozenset(active_conv_ids), weights)
