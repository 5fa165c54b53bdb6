"""Presence: which agents (and visitors) are connected somewhere, and which hub nodes are
alive. Visitors are not counted here: each node says where its own list of them is
(``watch_visitors``, the hub's), and presence answers for the cluster.

The interface and the one-process implementation; ``presence_redis`` shares it between
nodes (redis is an extra the embedded default does not need).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection
from typing import Protocol

from chatserver.core.errors import LivedeskError

# The visitors with a socket on this node, as the hub keeps them.
LocalVisitors = Callable[[], Collection[str]]


class PresenceUnavailable(LivedeskError):
    """Redis could not be asked who is online."""


class Presence(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def agent_connected(self, agent_id: int) -> None: ...
    async def agent_disconnected(self, agent_id: int) -> None: ...
    async def online_agents(self) -> set[int]: ...
    def watch_visitors(self, local: LocalVisitors) -> None: ...
    async def visitor_online(self, visitor_id: str) -> bool: ...
    async def nodes(self) -> set[str]: ...
    async def heartbeat(self) -> None: ...


class _LocalCount:
    """Sockets per agent on this node; the agent is here while the count is above 0."""

    def __init__(self) -> None:
        self.sockets: Counter[int] = Counter()

    def add(self, agent_id: int) -> bool:
        """True if the agent just arrived on this node."""
        self.sockets[agent_id] += 1
        return self.sockets[agent_id] == 1

    def remove(self, agent_id: int) -> bool:
        """True if the agent just left this node (extra removals are harmless)."""
        if self.sockets[agent_id] <= 1:
            existed = agent_id in self.sockets
            del self.sockets[agent_id]
            return existed
        self.sockets[agent_id] -= 1
        return False

    def agents(self) -> set[int]:
        return set(self.sockets)


class InMemoryPresence:
    """One process: this node is the only node."""

    def __init__(self, node_id: str = "local") -> None:
        self.node_id = node_id
        self._local = _LocalCount()
        self._visitors: LocalVisitors = lambda: ()

    def watch_visitors(self, local: LocalVisitors) -> None:
        self._visitors = local

    async def visitor_online(self, visitor_id: str) -> bool:
        return visitor_id in self._visitors()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._local = _LocalCount()

    async def agent_connected(self, agent_id: int) -> None:
        self._local.add(agent_id)

    async def agent_disconnected(self, agent_id: int) -> None:
        self._local.remove(agent_id)

    async def online_agents(self) -> set[int]:
        return self._local.agents()

    async def nodes(self) -> set[str]:
        return {self.node_id}

    async def heartbeat(self) -> None:
        return None
