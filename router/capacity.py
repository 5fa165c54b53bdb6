"""The capacity ledger for one process: how much of each agent's cap is held, and by what.

The Redis ledger in ``chatserver/backends/capacity_redis.py`` has the same operations (async)
and is what keeps several hub nodes from pushing one agent past the cap. Both count in
thousandths of a chat (``milli``), so a cap of 4 holds exactly 3 chats and 2 half-weight
mails, with no float sum drifting past it.
"""

from __future__ import annotations

from collections.abc import Mapping

from router.model import milli


class InMemoryCapacityLedger:
    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[str, dict[str, int]] = {}  # agent -> conversation -> weight (milli)

    def reserve(
        self, agent_id: str, conv_id: str, cap: float, force: bool = False, weight: float = 1.0
    ) -> bool:
        """Hold ``weight`` for the conversation if it fits under ``cap`` (or ``force``).

        Reserving a conversation the agent already holds succeeds and takes no more.
        """
        held = self._held.setdefault(agent_id, {})
        if conv_id in held:
            return True
        w = milli(weight)
        if not force and sum(held.values()) + w > milli(cap):
            if not held:
                del self._held[agent_id]
            return False
        held[conv_id] = w
        return True

    def release(self, agent_id: str, conv_id: str) -> bool:
        """Free the slot; False if it was not held (a double release is harmless)."""
        held = self._held.get(agent_id)
        if held is None or conv_id not in held:
            return False
        del held[conv_id]
        if not held:
            del self._held[agent_id]
        return True

    def count(self, agent_id: str) -> int:
        """Conversations held."""
        return len(self._held.get(agent_id, ()))

    def load(self, agent_id: str) -> float:
        """Their weights summed, in chats."""
        return sum(self._held.get(agent_id, {}).values()) / 1000

    def holders(self, agent_id: str) -> frozenset[str]:
        return frozenset(self._held.get(agent_id, ()))

    def reconcile(
        self,
        agent_id: str,
        active_conv_ids: set[str] | frozenset[str],
        weights: Mapping[str, float] | None = None,
    ) -> int:
        """Make the agent hold exactly the store's active conversations (each at its weight
        in ``weights``, else a whole chat); returns the count."""
        if active_conv_ids:
            weights = weights or {}
            self._held[agent_id] = {c: milli(weights.get(c, 1.0)) for c in active_conv_ids}
        else:
            self._held.pop(agent_id, None)
        return len(active_conv_ids)
