"""Routing as agents live it over real sockets: manual accept with its timeout, the
disconnect grace, and the cap that holds the sixth chat back."""

from __future__ import annotations

import asyncio

import pytest

from chatserver.backends.store import Store
from tests.integration.conftest import AGENT_PASSWORD, Backend, add_agents
from tests.live import LiveServer, connect_agent, connect_visitor, login_cookie

pytestmark = pytest.mark.conformance


async def agent(server: LiveServer, email: str):
    client = await connect_agent(server, await login_cookie(server, email, AGENT_PASSWORD))
    await client.recv_type("welcome")
    return client


async def visitor_writes(server: LiveServer, text: str = "hello"):
    client, _ = await connect_visitor(server)
    await client.recv_type("welcome")
    ack = await client.send_text(text)
    return client, ack["conversation_id"]


async def test_manual_accept_assigns_and_an_unanswered_offer_moves_on(backend: Backend) -> None:
    settings = backend.settings(auto_accept=False, accept_timeout_s=0.5)
    await add_agents(settings, ("ana@example.com", "agent", 5), ("bob@example.com", "agent", 5))
    server = LiveServer(settings).start()
    try:
        ana = await agent(server, "ana@example.com")
        visitor, conv_id = await visitor_writes(server)
        offer = await ana.recv_type("offer", conversation_id=conv_id)
        assert offer["deadline_s"] == 0.5
        await ana.send({"type": "accept", "conversation_id": conv_id})
        assert (await ana.recv_type("assigned"))["conversation"]["conversation_id"] == conv_id
        assert (await visitor.recv_type("event", event="assigned"))["data"]["agent"][
            "name"
        ] == "Ana"

        # Ana lets the next offer lapse: it is withdrawn and goes to Bob.
        bob = await agent(server, "bob@example.com")
        _, second = await visitor_writes(server, "second")
        first_offer = await asyncio.wait_for(_first_offer(ana, bob, second), timeout=10)
        holder, other = first_offer
        withdrawn = await holder.recv_type("offer_withdrawn", conversation_id=second)
        assert withdrawn["reason"] == "accept_timeout"
        await other.recv_type("offer", conversation_id=second)
        # Too late: the one who let it lapse is told so, and keeps the socket.
        await holder.send({"type": "accept", "conversation_id": second})
        late = await holder.recv_type("error")
        assert late["code"] == "conflict"
        await holder.send({"type": "ping"})
        await holder.recv_type("pong")
    finally:
        server.stop()


async def _first_offer(a, b, conv_id):
    tasks = {asyncio.create_task(c.recv_type("offer", conversation_id=conv_id)): c for c in (a, b)}
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    holder = tasks[done.pop()]
    return holder, (b if holder is a else a)


async def test_agent_who_stays_away_past_the_grace_loses_the_chat_to_a_colleague(
    backend: Backend,
) -> None:
    settings = backend.settings(disconnect_grace_s=0.5)
    await add_agents(settings, ("ana@example.com", "agent", 1), ("bob@example.com", "agent", 1))
    server = LiveServer(settings).start()
    try:
        ana = await agent(server, "ana@example.com")
        visitor, conv_id = await visitor_writes(server)
        await ana.recv_type("assigned")
        assert (await visitor.recv_type("event", event="assigned"))["data"]["agent"][
            "name"
        ] == "Ana"
        bob = await agent(server, "bob@example.com")
        await ana.close()  # Ana's browser dies and does not come back
        left = await visitor.recv_type("event", event="agent_left")
        assert left["conversation_id"] == conv_id
        moved = await bob.recv_type("assigned")
        assert moved["conversation"]["conversation_id"] == conv_id
        back = await visitor.recv_type("event", event="assigned")
        assert back["data"]["agent"]["name"] == "Bob"
    finally:
        server.stop()


async def test_agent_who_returns_within_the_grace_keeps_the_chat(backend: Backend) -> None:
    settings = backend.settings(disconnect_grace_s=30)
    await add_agents(settings, ("ana@example.com", "agent", 1), ("bob@example.com", "agent", 1))
    server = LiveServer(settings).start()
    try:
        ana = await agent(server, "ana@example.com")
        _, conv_id = await visitor_writes(server)
        await ana.recv_type("assigned")
        await ana.close()
        again = await connect_agent(
            server, await login_cookie(server, "ana@example.com", AGENT_PASSWORD)
        )
        welcome = await again.recv_type("welcome")
        assert [c["conversation_id"] for c in welcome["conversations"]] == [conv_id]
        await again.send_text("still me", conversation_id=conv_id)
    finally:
        server.stop()


async def test_with_cap_five_the_sixth_chat_waits_until_one_closes(backend: Backend) -> None:
    settings = backend.settings()
    await add_agents(settings, ("ana@example.com", "agent", 5))
    server = LiveServer(settings).start()
    try:
        ana = await agent(server, "ana@example.com")
        chats = [await visitor_writes(server, f"visitor {i}") for i in range(6)]
        held = {
            (await ana.recv_type("assigned"))["conversation"]["conversation_id"] for _ in range(5)
        }
        sixth_visitor, sixth = chats[5]
        assert sixth not in held and len(held) == 5
        assert (await sixth_visitor.recv_type("queue"))["position"] == 1
        await ana.send({"type": "close", "conversation_id": next(iter(held))})
        assert (await ana.recv_type("assigned"))["conversation"]["conversation_id"] == sixth
    finally:
        server.stop()


async def test_an_agent_coming_online_hears_welcome_before_the_chat_waiting_for_them(
    backend: Backend,
) -> None:
    settings = backend.settings()
    await add_agents(settings, ("ana@example.com", "agent", 5))
    server = LiveServer(settings).start()
    try:
        _, conv_id = await visitor_writes(server, "anyone there?")  # nobody online: it waits
        ana = await connect_agent(
            server, await login_cookie(server, "ana@example.com", AGENT_PASSWORD)
        )
        first = await ana.recv()
        assert first["type"] == "welcome"
        assigned = await ana.recv_type("assigned")
        assert assigned["conversation"]["conversation_id"] == conv_id
    finally:
        server.stop()


async def test_a_first_message_stores_the_visitor_and_an_assignment_its_event_once(
    backend: Backend,
) -> None:
    """The new visitor's row comes with their conversation; the move to active comes with
    the one ``assigned`` event the visitor waits for (not a second, later write of it)."""
    settings = backend.settings()
    await add_agents(settings, ("ana@example.com", "agent", 5))
    server = LiveServer(settings).start()
    store = Store(settings.server.database_url)
    try:
        ana = await agent(server, "ana@example.com")
        visitor, conv_id = await visitor_writes(server)
        seen = await visitor.recv_type("event", event="assigned")
        assert (await ana.recv_type("assigned"))["conversation"]["conversation_id"] == conv_id
        conv = await store.get_conversation(conv_id)
        assert conv is not None and conv.state == "active"
        assert await store.get_visitor(conv.visitor_id) is not None
        rows = await store.messages_after(conv_id, 0)
        events = [r for r in rows if r["kind"] == "event" and r["body"] == "assigned"]
        assert [r["seq"] for r in events] == [seen["seq"]]
        moves = [e.to_state for e in await store.events_of(conv_id)]
        assert moves == ["bot", "active"]
    finally:
        await store.stop()
        server.stop()
