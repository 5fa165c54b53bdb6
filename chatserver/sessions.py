"""Agent sockets by agent, so a password change or deactivation can end them at once."""

from __future__ import annotations

from collections import defaultdict

from chatserver.connection import Connection
from chatserver.errors import CloseCode


class AgentSockets:
    def __init__(self) -> None:
        self._by_agent: defaultdict[int, set[Connection]] = defaultdict(set)

    def add(self, agent_id: int, conn: Connection) -> None:
        self._by_agent[agent_id].add(conn)

    def discard(self, agent_id: int, conn: Connection) -> None:
        conns = self._by_agent.get(agent_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._by_agent[agent_id]

    def end(self, agent_id: int) -> int:
        conns = tuple(self._by_agent.get(agent_id, ()))
        for conn in conns:
            conn.close(CloseCode.UNAUTHORIZED)
        return len(conns)

    def count(self, agent_id: int) -> int:
        return len(self._by_agent.get(agent_id, ()))
