"""No agent socket outlives its session: when the session's cookie expires, or the session
is revoked where this node cannot see it (a logout or password change on another node, a
write to the shared database), the agent's open sockets are closed with 4100
(``UNAUTHORIZED``: log in again) within ``session_check_interval_s``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from chatserver.backends.store import Store, agents_t
from chatserver.core.errors import CloseCode
from chatserver.core.settings import Settings
from tests.integration.conftest import AGENT_PASSWORD, Backend, seed_agents
from tests.live import Client, LiveServer, connect_agent, login_cookie

pytestmark = pytest.mark.conformance

SESSION_TTL_S = 2
CHECK_INTERVAL_S = 0.1
# itsdangerous stamps whole seconds: a cookie may lapse up to 1 s early, never late.
SLACK_S = 3.0


def serve(settings: Settings) -> Iterator[LiveServer]:
    seed_agents(settings, ("ana@example.com", "agent", 5), ("bo@example.com", "agent", 5))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def short_sessions(backend: Backend) -> Iterator[LiveServer]:
    yield from serve(
        backend.settings(session_ttl_s=SESSION_TTL_S, session_check_interval_s=CHECK_INTERVAL_S)
    )


@pytest.fixture
def long_sessions(backend: Backend) -> Iterator[LiveServer]:
    yield from serve(backend.settings(session_check_interval_s=CHECK_INTERVAL_S))


async def agent_socket(server: LiveServer, email: str = "ana@example.com") -> tuple[Client, int]:
    agent = await connect_agent(server, await login_cookie(server, email, AGENT_PASSWORD))
    welcome = await agent.recv_type("welcome")
    return agent, int(welcome["agent"]["id"])  # a string on the wire


async def closed_with(agent: Client, within_s: float) -> int | None:
    try:
        await asyncio.wait_for(agent.ws.wait_closed(), within_s)
    except TimeoutError:
        pytest.fail(f"the agent's socket was still open after {within_s}s")
    return agent.ws.close_code


async def test_an_agent_socket_is_closed_when_its_session_expires(
    short_sessions: LiveServer,
) -> None:
    agent, _ = await agent_socket(short_sessions)
    await agent.send({"type": "ping"})
    await agent.recv_type("pong")  # served while the session lasts
    assert await closed_with(agent, SESSION_TTL_S + SLACK_S) == CloseCode.UNAUTHORIZED


async def test_an_agent_socket_is_closed_when_its_session_is_revoked_elsewhere(
    long_sessions: LiveServer,
) -> None:
    agent, agent_id = await agent_socket(long_sessions)
    # What a logout or password change on another node leaves: a new session version.
    store = Store(long_sessions.settings.server.database_url)
    try:
        await store.end_agent_sessions(agent_id)
    finally:
        await store.stop()
    assert await closed_with(agent, 2.0) == CloseCode.UNAUTHORIZED


async def test_the_check_closes_a_deactivated_agents_sockets_and_no_one_elses(
    long_sessions: LiveServer,
) -> None:
    ana, ana_id = await agent_socket(long_sessions)
    bo, _ = await agent_socket(long_sessions, "bo@example.com")
    # Deactivated by a write to the shared database: only the check can see it.
    store = Store(long_sessions.settings.server.database_url)
    try:
        await store.write(
            lambda conn: conn.execute(
                sa.update(agents_t).where(agents_t.c.id == ana_id).values(active=False)
            )
        )
    finally:
        await store.stop()
    assert await closed_with(ana, 2.0) == CloseCode.UNAUTHORIZED
    # The pass that closed Ana's socket checked Bo's too, and left it open.
    await bo.send({"type": "ping"})
    await bo.recv_type("pong")
