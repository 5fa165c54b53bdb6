"""Anonymous writes (issue 13, item 5): limits per address and per visitor on sessions,
offline messages and sockets; a visitor's row written at first use, not per page view; idle
anonymous visitors purged by a task the app owns. On both backend sets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.exceptions import InvalidStatus

from chatserver.backends.db import make_engine
from chatserver.backends.models import Visitor
from chatserver.backends.store import now_ms
from chatserver.services.visitor_purge import purge_idle_visitors
from tests.integration.conftest import Backend, seed_agents
from tests.live import LiveServer, connect_visitor, visitor_session

pytestmark = pytest.mark.conformance
visitors_t = Visitor.__table__  # type: ignore[attr-defined]


@pytest.fixture
def live(request: pytest.FixtureRequest, backend: Backend) -> Iterator[LiveServer]:
    settings = backend.settings(**getattr(request, "param", {}))
    seed_agents(settings, ("ana@example.com", "agent", 5))
    server = LiveServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def db(live: LiveServer) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(live.settings.server.database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def visitor_row(db: AsyncEngine, visitor_id: str) -> Any:
    async with db.connect() as conn:
        found = await conn.execute(sa.select(visitors_t).where(visitors_t.c.id == visitor_id))
        return found.first()


async def post(live: LiveServer, path: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=live.url) as http:
        return await http.post(path, json=body)


async def test_a_page_view_writes_no_visitor_row_until_the_first_message(
    live: LiveServer, db: AsyncEngine
) -> None:
    session = await visitor_session(live, language="fr")
    visitor, _ = await connect_visitor(live, session["token"])
    await visitor.recv_type("welcome")
    assert await visitor_row(db, session["visitor_id"]) is None
    ack = await visitor.send_text("bonjour")
    assert ack["type"] == "ack"
    row = await visitor_row(db, session["visitor_id"])
    assert row is not None and row.language == "fr"


async def test_an_offline_message_writes_the_visitor_row(live: LiveServer, db: AsyncEngine) -> None:
    session = await visitor_session(live)
    assert await visitor_row(db, session["visitor_id"]) is None
    body = {"token": session["token"], "email": "v@example.com", "text": "call me"}
    assert (await post(live, "/api/visitor/offline", body)).status_code == 200
    row = await visitor_row(db, session["visitor_id"])
    assert row is not None and row.email == "v@example.com"


async def test_the_purge_deletes_idle_anonymous_visitors_and_keeps_writers(
    live: LiveServer, db: AsyncEngine
) -> None:
    idle = await visitor_session(live, name="Idle Ida")  # a pre-chat name: a row, no writing
    writer = await visitor_session(live, name="Writing Will")
    client, _ = await connect_visitor(live, writer["token"])
    await client.recv_type("welcome")
    await client.send_text("hello")
    offline = await visitor_session(live, name="Offline Olga")
    body = {"token": offline["token"], "email": "o@example.com", "text": "later"}
    assert (await post(live, "/api/visitor/offline", body)).status_code == 200
    assert await visitor_row(db, idle["visitor_id"]) is not None

    async with db.begin() as conn:
        deleted = await conn.run_sync(lambda c: purge_idle_visitors(c, now_ms() + 60_000))
    assert deleted == 1
    assert await visitor_row(db, idle["visitor_id"]) is None
    assert await visitor_row(db, writer["visitor_id"]) is not None
    assert await visitor_row(db, offline["visitor_id"]) is not None


@pytest.mark.parametrize(
    "live", [{"idle_visitor_ttl_s": 0.001, "visitor_purge_interval_s": 0.05}], indirect=True
)
async def test_the_app_runs_the_purge_by_itself(live: LiveServer, db: AsyncEngine) -> None:
    idle = await visitor_session(live, name="Idle Ida")
    for _ in range(200):  # bounded: 10 s at most, waiting on the row itself
        if await visitor_row(db, idle["visitor_id"]) is None:
            break
        await asyncio.sleep(0.05)
    assert await visitor_row(db, idle["visitor_id"]) is None


# ---------------------------------------------------------------------------- limits


@pytest.mark.parametrize(
    "live", [{"visitor_sessions_per_min_per_address": 3, "trusted_proxies": []}], indirect=True
)
async def test_visitor_sessions_are_limited_per_address(live: LiveServer) -> None:
    for _ in range(3):
        assert (await post(live, "/api/visitor/session", {})).status_code == 200
    refused = await post(live, "/api/visitor/session", {})
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1


@pytest.mark.parametrize("live", [{"visitor_sessions_per_min_per_visitor": 2}], indirect=True)
async def test_visitor_sessions_are_limited_per_visitor(live: LiveServer) -> None:
    token = (await visitor_session(live))["token"]
    for _ in range(2):
        assert (await post(live, "/api/visitor/session", {"token": token})).status_code == 200
    assert (await post(live, "/api/visitor/session", {"token": token})).status_code == 429
    assert (await post(live, "/api/visitor/session", {})).status_code == 200  # someone else


@pytest.mark.parametrize(
    "live",
    [{"offline_messages_per_min_per_visitor": 2, "offline_messages_per_min_per_address": 3}],
    indirect=True,
)
async def test_offline_messages_are_limited_per_visitor_and_per_address(
    live: LiveServer,
) -> None:
    async def offline(token: str) -> int:
        body = {"token": token, "email": "v@example.com", "text": "hi"}
        return (await post(live, "/api/visitor/offline", body)).status_code

    token = (await visitor_session(live))["token"]
    assert [await offline(token) for _ in range(3)] == [200, 200, 429]
    # Loopback is a trusted proxy by default: its own address is not limited...
    assert await offline((await visitor_session(live))["token"]) == 200


@pytest.mark.parametrize(
    "live",
    [{"offline_messages_per_min_per_address": 2, "trusted_proxies": []}],
    indirect=True,
)
async def test_offline_messages_are_limited_per_address(live: LiveServer) -> None:
    codes = []
    for _ in range(3):
        token = (await visitor_session(live))["token"]
        body = {"token": token, "email": "v@example.com", "text": "hi"}
        codes.append((await post(live, "/api/visitor/offline", body)).status_code)
    assert codes == [200, 200, 429]


@pytest.mark.parametrize("live", [{"visitor_sockets_per_min_per_visitor": 2}], indirect=True)
async def test_visitor_sockets_are_limited_per_visitor(live: LiveServer) -> None:
    token = (await visitor_session(live))["token"]
    for _ in range(2):
        client, _ = await connect_visitor(live, token)
        await client.recv_type("welcome")
    with pytest.raises(InvalidStatus) as refused:
        await connect_visitor(live, token)
    assert refused.value.response.status_code == 429
    other, _ = await connect_visitor(live)  # another visitor is not affected
    await other.recv_type("welcome")


@pytest.mark.parametrize(
    "live", [{"visitor_sockets_per_min_per_address": 2, "trusted_proxies": []}], indirect=True
)
async def test_visitor_sockets_are_limited_per_address(live: LiveServer) -> None:
    for _ in range(2):
        client, _ = await connect_visitor(live)
        await client.recv_type("welcome")
    with pytest.raises(InvalidStatus) as refused:
        await connect_visitor(live)
    assert refused.value.response.status_code == 429
