"""The capacity ledger for one process: who holds how many slots.

The Redis ledger in ``chatserver/backends/capacity_redis.py`` has the same operations (async) and is what
keeps several hub nodes from pushing one agent past the cap.
"""

from __future__ import annotations


class InMemoryCapacityLedger:
    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[str, set[str]] = {}

    def reserve(self, agent_id: str, conv_id: str, cap: int, force: bool = False) -> bool:
        """Hold a slot for the conversation if the agent is under ``cap`` (or ``force``).

        Reserving a conversation the agent already holds succeeds and takes no extra slot.
        """
        held = self._held.setdefault(agent_id, set())
        if conv_id in held:
            return True
        if not force and len(held) >= cap:
            return False
        held.add(conv_id)
        return True

    def release(self, agent_id: str, conv_id: str) -> bool:
        """Free the slot; False if it was not held (a double release is harmless)."""
        held = self._held.get(agent_id)
        if held is None or conv_id not in held:
            return False
        held.discard(conv_id)
        if not held:
            del self._held[agent_id]
        return True

    def count(self, agent_id: str) -> int:
        return len(self._held.get(agent_id, ()))

    def holders(self, agent_id: str) -> frozenset[str]:
        return frozenset(self._held.get(agent_id, ()))

    def reconcile(self, agent_id: str, active_conv_ids: set[str] | frozenset[str]) -> int:
        """Make the agent hold exactly the store's active conversations; returns the count."""
        if active_conv_ids:
            self._held[agent_id] = set(active_conv_ids)
        else:
            self._held.pop(agent_id, None)
        return len(active_conv_ids)
