"""Agent sockets by agent, so a password change or deactivation can end them at once, and
no socket outlives its session: one closed when the session's cookie expires, or when the
session was revoked elsewhere (logout, password change or deactivation on another node),
within ``session_check_interval_s``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import TYPE_CHECKING

from chatserver.core.errors import CloseCode, LivedeskError
from chatserver.live.connection import Connection

if TYPE_CHECKING:
    from chatserver.backends.store import Store
    from chatserver.live.auth import Principal

log = logging.getLogger("livedesk.sessions")


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

    async def watch(self, store: Store, interval_s: float) -> None:
        """Every ``interval_s``: close the sockets whose session expired or was revoked.
        Runs until cancelled (the app's lifespan owns it)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.check(store, time.time())
            except asyncio.CancelledError:
                raise
            except Exception:  # the next round tries again
                log.exception("session check failed")

    async def check(self, store: Store, now: float) -> None:
        # One read for every agent with a socket here: one each was a read per agent every
        # few seconds, the largest part of an idle hub's work at a hundred agents. Only the
        # sockets open before the read are judged by it: one opened meanwhile logged in
        # against the database as it is now, which the read may not have seen.
        watched = {agent_id: tuple(conns) for agent_id, conns in self._by_agent.items()}
        if not watched:
            return
        try:
            sessions = await store.agent_sessions(watched)
        except LivedeskError as exc:  # store down: expiry is still enforced
            log.warning("agent sessions not checked: %s", exc)
            sessions = None
        for agent_id, conns in watched.items():
            current = sessions.get(agent_id) if sessions is not None else None
            for conn in conns:
                principal: Principal = conn.identity
                expired = principal.expires_at is not None and principal.expires_at <= now
                revoked = sessions is not None and (
                    current is None
                    or not current.active
                    or current.session_version != principal.session_version
                )
                if expired or revoked:
                    conn.close(CloseCode.UNAUTHORIZED)
