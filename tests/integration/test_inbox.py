"""The inbox against a real server on both backend sets: offline messages are conversations
(listed, opened, assigned, answered, closed, taken within the cap), the views and their
filters, a closed chat reopened and routed, and the live ``inbox_changed`` frame."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from chatserver.backends.admin_queries import update_agent
from chatserver.backends.store import Store
from chatserver.core.settings import Settings
from tests.integration.conftest import seed_agents
from tests.integration.test_desk_api import Session, chat_with, login, online
from tests.live import LiveServer, connect_visitor, visitor_session

pytestmark = pytest.mark.conformance


@pytest.fixture
def desk(settings: Settings) -> Iterator[LiveServer]:
    seed_agents(
        settings,
        ("ana@example.com", "agent", 1),
        ("bob@example.com", "agent", 5),
        ("sam@example.com", "supervisor", 5),
    )
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def leave_offline_message(server: LiveServer, email: str, text: str) -> str:
    token = (await visitor_session(server))["token"]
    async with httpx.AsyncClient(base_url=server.url) as http:
        sent = await http.post(
            "/api/visitor/offline",
            json={"token": token, "email": email, "name": "Mila", "text": text},
        )
    assert sent.status_code == 200, sent.text
    return token


async def view(session: Session, name: str, **filters: str) -> dict:
    query = "&".join(f"{k}={v}" for k, v in {"view": name, **filters}.items())
    got = await session.get(f"/api/inbox?{query}")
    assert got.status_code == 200, got.text
    return got.json()


async def test_an_offline_message_is_a_conversation_in_the_inbox_with_the_email(
    desk: LiveServer,
) -> None:
    await leave_offline_message(desk, "mila@example.com", "Do you ship to Niš?")
    bob = await login(desk, "bob@example.com")
    listed = await view(bob, "offline")
    assert listed["total"] == 1
    (item,) = listed["items"]
    assert item["state"] == "offline"
    assert item["email"] == "mila@example.com"
    assert item["first_message"] == "Do you ship to Niš?"
    assert item["in_hours"] is None  # no business hours set: always open
    assert (await bob.get("/api/inbox/counts")).json()["counts"]["offline"] == 1
    opened = (await bob.get(f"/api/inbox/{item['id']}")).json()
    assert opened["conversation"]["email"] == "mila@example.com"
    assert [i["text"] for i in opened["items"] if i["type"] == "message"] == ["Do you ship to Niš?"]
    assert opened["events"][0]["to_state"] == "offline"


async def test_an_offline_message_is_assigned_answered_as_a_message_and_closed(
    desk: LiveServer,
) -> None:
    await leave_offline_message(desk, "mila@example.com", "Invoice please")
    sam = await login(desk, "sam@example.com")
    bob = await login(desk, "bob@example.com")
    conv_id = (await view(sam, "offline"))["items"][0]["id"]
    heard: list[tuple[str, str | None]] = []
    desk.app.state.inbox.offline_reply_listeners.append(
        lambda conv, row, email: heard.append((row["body"], email))
    )
    bob_id = bob.me["id"]
    assigned = await sam.post(f"/api/inbox/{conv_id}/assign", {"agent_id": bob_id})
    assert assigned.status_code == 200, assigned.text
    mine = await view(bob, "mine")
    assert [i["id"] for i in mine["items"]] == [conv_id]
    replied = await bob.post(f"/api/inbox/{conv_id}/reply", {"text": "Sent it."})
    assert replied.status_code == 201, replied.text
    assert heard == [("Sent it.", "mila@example.com")]
    opened = (await bob.get(f"/api/inbox/{conv_id}")).json()
    texts = [(i["author"], i["text"]) for i in opened["items"] if i["type"] == "message"]
    assert texts == [("visitor", "Invoice please"), ("agent", "Sent it.")]
    assert (await bob.post(f"/api/inbox/{conv_id}/close", {})).status_code == 200
    assert (await view(bob, "offline"))["total"] == 0
    closed = await view(sam, "closed")
    assert [i["id"] for i in closed["items"]] == [conv_id]


async def test_taking_an_offline_message_routes_it_within_the_agents_cap(
    desk: LiveServer,
) -> None:
    ana = await login(desk, "ana@example.com")  # cap 1
    agent = await online(desk, ana)
    await chat_with(desk, agent)  # ana is full now
    await leave_offline_message(desk, "mila@example.com", "Call me back")
    conv_id = (await view(ana, "offline"))["items"][0]["id"]
    refused = await ana.post(f"/api/inbox/{conv_id}/take", {})
    assert refused.status_code == 409 and refused.json()["error"] == "agent_full"
    # Still findable: it waits in the queue now, not lost.
    waiting = await view(ana, "waiting")
    assert conv_id in [i["id"] for i in waiting["items"]]
    bob = await login(desk, "bob@example.com")
    bob_socket = await online(desk, bob)  # bob has room: the router hands it over
    got = await bob_socket.recv_type("assigned")
    assert got["conversation"]["conversation_id"] == conv_id


async def test_a_closed_chat_is_reopened_and_taken_by_an_agent_with_room(
    desk: LiveServer,
) -> None:
    bob = await login(desk, "bob@example.com")
    agent = await online(desk, bob)
    visitor, conv_id = await chat_with(desk, agent)
    assert (
        await bob.post(f"/api/desk/conversations/{conv_id}/close", {"tags": ["vip"]})
    ).status_code == 200
    await visitor.close()
    closed = await view(bob, "closed", tag="vip")
    assert [i["id"] for i in closed["items"]] == [conv_id]
    taken = await bob.post(f"/api/inbox/{conv_id}/take", {})
    assert taken.status_code == 200, taken.text
    again = await agent.recv_until(
        lambda f: f.get("type") == "assigned" and f["conversation"]["conversation_id"] == conv_id
    )
    assert again["conversation"]["conversation_id"] == conv_id
    conv = (await bob.get(f"/api/inbox/{conv_id}")).json()["conversation"]
    assert conv["state"] == "active" and conv["agent_id"] == bob.me["id"]
    assert any(
        e["detail"] == {"reopened": True}
        for e in (await bob.get(f"/api/inbox/{conv_id}")).json()["events"]
    )


async def test_views_are_permission_aware_and_filtered(desk: LiveServer) -> None:
    bob = await login(desk, "bob@example.com")
    agent = await online(desk, bob)
    _, conv_id = await chat_with(desk, agent, language="sr")
    ana = await login(desk, "ana@example.com")
    assert (await ana.get(f"/api/inbox/{conv_id}")).status_code == 404  # not hers
    assert (await ana.get("/api/inbox?view=open")).status_code == 403
    sam = await login(desk, "sam@example.com")
    assert [i["id"] for i in (await view(sam, "open"))["items"]] == [conv_id]
    assert (await view(sam, "open", language="de"))["total"] == 0
    assert (await view(sam, "open", paying="true"))["total"] == 0
    assert (await view(sam, "open", paying="false"))["total"] == 1
    assert (await view(bob, "mine"))["items"][0]["id"] == conv_id


async def test_consoles_hear_inbox_changed_when_an_offline_message_lands(
    desk: LiveServer,
) -> None:
    bob = await login(desk, "bob@example.com")
    agent = await online(desk, bob)
    await leave_offline_message(desk, "mila@example.com", "Hello?")
    frame = await agent.recv_type("inbox_changed")
    assert frame["conversation_id"]


@pytest.fixture
def closed_desk(backend) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    # Open one minute a week, on a day that is never today: every message is off hours.
    from datetime import UTC, datetime

    other_day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[
        (datetime.now(UTC).weekday() + 3) % 7
    ]
    settings = backend.settings(business_hours=f"{other_day} 03:00-03:01", timezone="UTC")
    seed_agents(settings, ("bob@example.com", "agent", 5))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def test_an_offline_message_says_it_came_in_outside_business_hours(
    closed_desk: LiveServer,
) -> None:
    await leave_offline_message(closed_desk, "mila@example.com", "Anyone there?")
    bob = await login(closed_desk, "bob@example.com")
    (item,) = (await view(bob, "offline"))["items"]
    assert item["in_hours"] is False


@pytest.fixture
def team_open_desk(backend) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    # The desk is closed today, its billing team always open (its own hours).
    from datetime import UTC, datetime

    other_day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[
        (datetime.now(UTC).weekday() + 3) % 7
    ]
    settings = backend.settings(
        business_hours=f"{other_day} 03:00-03:01",
        timezone="UTC",
        team_hours={"billing": {"hours": "mon-sun 00:00-23:59"}},
    )
    seed_agents(settings, ("bob@example.com", "agent", 5))
    asyncio.run(join_team(settings.server.database_url, "bob@example.com", "billing"))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def join_team(database_url: str, email: str, team: str) -> None:
    store = Store(database_url)
    try:
        agent = await store.get_agent_by_email(email)
        assert agent is not None and agent.id is not None
        agent_id = agent.id
        await store.write(lambda conn: update_agent(conn, agent_id, {"teams": team}))
    finally:
        await store.stop()


async def test_a_chat_to_a_team_in_its_own_hours_is_in_hours_while_the_desk_is_closed(
    team_open_desk: LiveServer,
) -> None:
    bob = await login(team_open_desk, "bob@example.com")
    agent = await online(team_open_desk, bob)
    visitor, _ = await connect_visitor(team_open_desk, codec="json", team="billing")
    await visitor.recv_type("welcome")
    conv_id = (await visitor.send_text("Is my invoice paid?"))["conversation_id"]
    await agent.recv_type("assigned")
    items = (await view(bob, "mine"))["items"]
    (item,) = [i for i in items if i["id"] == conv_id]
    assert item["team"] == "billing"
    assert item["in_hours"] is True
    # An offline message (no team) still follows the desk's hours: outside them.
    await leave_offline_message(team_open_desk, "mila@example.com", "Anyone there?")
    (offline,) = (await view(bob, "offline"))["items"]
    assert offline["in_hours"] is False
