"""live.sessions.AgentSockets.check against a real store: one read judges the sockets
that were open when it was made, and no others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chatserver.backends.db import upgrade
from chatserver.backends.store import Store
from chatserver.core.errors import CloseCode
from chatserver.live.auth import Principal
from chatserver.live.sessions import AgentSockets


class AgentSocket:
    """The part of a connection the check looks at: who it is, and being closed."""

    def __init__(self, agent_id: int, session_version: int) -> None:
        self.identity = Principal(agent_id, "a", "a@example.com", "agent", session_version, "x")
        self.closed_with: CloseCode | None = None

    def close(self, code: CloseCode) -> None:
        self.closed_with = code


@pytest.fixture
async def store(tmp_path: Any) -> AsyncIterator[Store]:
    url = f"sqlite:///{tmp_path / 'sessions.db'}"
    await asyncio.to_thread(upgrade, url)
    store = Store(url)
    await store.start()
    try:
        yield store
    finally:
        await store.stop()


async def test_a_socket_opened_while_the_check_reads_is_not_judged_by_that_read(
    store: Store,
) -> None:
    ana = await store.add_agent("ana@example.com", "Ana", "-")
    bo = await store.add_agent("bo@example.com", "Bo", "-")
    assert ana.id is not None and bo.id is not None
    sockets = AgentSockets()
    ana_socket = AgentSocket(ana.id, ana.session_version)
    sockets.add(ana.id, ana_socket)  # type: ignore[arg-type]
    checking = asyncio.create_task(sockets.check(store, now=0.0))
    await asyncio.sleep(0)  # the check has asked the store and waits for its answer
    # Bo logs in meanwhile: a socket the read did not ask about.
    bo_socket = AgentSocket(bo.id, bo.session_version)
    sockets.add(bo.id, bo_socket)  # type: ignore[arg-type]
    await checking
    assert ana_socket.closed_with is None
    assert bo_socket.closed_with is None
    # The next check asks about both, and finds Bo's session still standing.
    await sockets.check(store, now=0.0)
    assert bo_socket.closed_with is None


async def test_a_check_closes_only_the_sockets_of_a_revoked_session(store: Store) -> None:
    ana = await store.add_agent("ana@example.com", "Ana", "-")
    bo = await store.add_agent("bo@example.com", "Bo", "-")
    assert ana.id is not None and bo.id is not None
    sockets = AgentSockets()
    ana_tabs = [AgentSocket(ana.id, ana.session_version) for _ in range(2)]
    for tab in ana_tabs:
        sockets.add(ana.id, tab)  # type: ignore[arg-type]
    bo_socket = AgentSocket(bo.id, bo.session_version)
    sockets.add(bo.id, bo_socket)  # type: ignore[arg-type]
    await store.end_agent_sessions(ana.id)  # a password change: a new session version
    await sockets.check(store, now=0.0)
    assert [tab.closed_with for tab in ana_tabs] == [CloseCode.UNAUTHORIZED] * 2
    assert bo_socket.closed_with is None
