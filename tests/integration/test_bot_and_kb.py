"""The knowledge base and the bot over real sockets: suggestions, hand-off, self-service."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chatserver.backends.db import upgrade
from chatserver.backends.store import Store
from chatserver.cli.demo import import_kb
from chatserver.core.settings import Settings
from chatserver.services.assist import Assistant
from tests.integration.conftest import AGENT_PASSWORD, Backend, seed_agents
from tests.live import LiveServer, connect_agent, connect_visitor, desk_headers, login_cookie

pytestmark = pytest.mark.conformance

DATA = Path(__file__).parents[1] / "data"
CANNED = Path(__file__).parents[2] / "kb" / "data" / "demo_canned.jsonl"


def seed_kb(settings: Settings) -> None:
    async def run() -> None:
        await asyncio.to_thread(upgrade, settings.server.database_url)
        store = Store(settings.server.database_url)
        assist = Assistant(store)
        await import_kb(assist, DATA / "kb_articles.jsonl", CANNED)
        await assist.stop()
        await store.stop()

    asyncio.run(run())


@pytest.fixture
def kb_server(backend: Backend) -> Iterator[LiveServer]:
    settings = backend.settings()
    seed_kb(settings)
    seed_agents(settings, ("ana@example.com", "agent", 5), ("sam@example.com", "supervisor", 5))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def online_agent(server: LiveServer, email: str = "ana@example.com"):
    agent = await connect_agent(server, await login_cookie(server, email, AGENT_PASSWORD))
    await agent.recv_type("welcome")
    return agent


async def test_agent_gets_kb_suggestions_after_a_visitor_message(kb_server: LiveServer) -> None:
    agent = await online_agent(kb_server)
    visitor, _ = await connect_visitor(kb_server, language="en")
    await visitor.recv_type("welcome")
    await visitor.send_text("hello")
    conv_id = (await agent.recv_type("assigned"))["conversation"]["conversation_id"]
    ack = await visitor.send_text("How can I return my order and get a refund?")
    found = await agent.recv_type("suggestions", for_seq=ack["seq"])
    assert found["conversation_id"] == conv_id
    assert 1 <= len(found["items"]) <= 3
    titles = " ".join(item["title"].lower() for item in found["items"])
    assert "return" in titles or "refund" in titles
    # Typing previews bring suggestions too (debounced), marked with no seq.
    await visitor.send({"type": "typing", "active": True, "preview": "forgot my password"})
    preview = await agent.recv_type("suggestions", for_seq=None)
    assert "password" in " ".join(i["title"].lower() for i in preview["items"])


async def test_bot_holds_answers_and_hands_off_with_a_summary(kb_server: LiveServer) -> None:
    visitor, _ = await connect_visitor(kb_server, language="en")
    welcome = await visitor.recv_type("welcome")
    assert welcome["available"] is False  # nobody online yet
    await visitor.send_text("hi")
    greeting = await visitor.recv_type("message", author="bot")
    assert greeting["bot_kind"] == "greeting" and greeting["author_name"] == "Bot"
    offline = await visitor.recv_type("message", author="bot", bot_kind="offline_form")
    assert offline["text"]
    await visitor.send_text("How do I reset my password?")
    answer = await visitor.recv_until(
        lambda f: f.get("author") == "bot" and f.get("bot_kind") in ("answer", "offer")
    )
    assert answer["articles"], "the bot offers at least one article"
    assert all(f.get("author") == "bot" for f in [greeting, offline, answer])
    await visitor.send_text("I want to talk to a human")
    await visitor.recv_type("event", event="human_requested")

    agent = await online_agent(kb_server)
    assigned = await agent.recv_type("assigned")
    conv_id = assigned["conversation"]["conversation_id"]
    await agent.send({"type": "resume", "conversation_id": conv_id, "after_seq": 0})
    handoff = await agent.recv_type("event", event="handoff")
    summary = handoff["data"]["summary"]
    assert "reset my password" in summary and "asked for a human: yes" in summary


async def test_kb_search_is_public_but_editing_needs_a_supervisor(kb_server: LiveServer) -> None:
    article = {
        "id": "new-1",
        "lang": "en",
        "title": "Gift wrapping",
        "body": "We wrap gifts for 3 EUR.",
        "tags": ["gift"],
    }
    async with httpx.AsyncClient(base_url=kb_server.url) as http:
        found = (
            await http.get("/api/kb/search", params={"q": "password reset", "lang": "en"})
        ).json()
        assert found["results"] and "id" in found["results"][0]
        assert (await http.post("/api/kb/articles", json=article)).status_code == 401
        agent_cookie = await login_cookie(kb_server, "ana@example.com", AGENT_PASSWORD)
        as_agent = {"cookie": f"{kb_server.settings.security.session_cookie}={agent_cookie}"}
        assert (
            await http.post("/api/kb/articles", json=article, headers=as_agent)
        ).status_code == 403
        as_sup = await desk_headers(kb_server, "sam@example.com", AGENT_PASSWORD)
        created = await http.post("/api/kb/articles", json=article, headers=as_sup)
        assert created.status_code == 200
        # Indexed at once, without a rebuild.
        hits = (await http.get("/api/kb/search", params={"q": "gift wrapping"})).json()["results"]
        assert hits and hits[0]["id"] == "new-1"
        assert (await http.get("/api/kb/articles/new-1")).json()["title"] == "Gift wrapping"
        assert (await http.delete("/api/kb/articles/new-1", headers=as_agent)).status_code == 403
        assert (await http.delete("/api/kb/articles/new-1", headers=as_sup)).status_code == 200
        assert (await http.get("/api/kb/articles/new-1")).status_code == 404
        canned = (
            await http.get("/api/canned", params={"prefix": "/ref", "lang": "en"}, headers=as_agent)
        ).json()
        assert canned["results"][0]["shortcut"] == "refund"
        assert (await http.get("/api/canned", params={"prefix": "hi"})).status_code == 401


async def test_offline_message_is_kept_for_the_team(kb_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=kb_server.url) as http:
        token = (await http.post("/api/visitor/session", json={})).json()["token"]
        bad = await http.post(
            "/api/visitor/offline", json={"token": token, "email": "nope", "text": "x"}
        )
        assert bad.status_code == 400
        forged = await http.post(
            "/api/visitor/offline", json={"token": "forged", "email": "a@b.c", "text": "x"}
        )
        assert forged.status_code == 403
        ok = await http.post(
            "/api/visitor/offline",
            json={"token": token, "email": "me@example.com", "name": "Me", "text": "Call me back"},
        )
        assert ok.json() == {"ok": True}
    store = Store(kb_server.settings.server.database_url)
    try:
        import sqlalchemy as sa

        rows = await store.read(
            lambda c: list(c.execute(sa.text("SELECT email, text FROM offline_messages")))
        )
    finally:
        await store.stop()
    assert [(r.email, r.text) for r in rows] == [("me@example.com", "Call me back")]


async def test_csat_is_stored_once_the_chat_is_closed(kb_server: LiveServer) -> None:
    agent = await online_agent(kb_server)
    visitor, _ = await connect_visitor(kb_server)
    await visitor.recv_type("welcome")
    conv_id = (await visitor.send_text("hello"))["conversation_id"]
    await agent.recv_type("assigned")
    await visitor.send({"type": "rate", "conversation_id": conv_id, "score": 5})
    assert (await visitor.recv_type("error"))["code"] == "conflict"  # still open
    await agent.send({"type": "close", "conversation_id": conv_id})
    await visitor.recv_type("event", event="closed")
    await visitor.send({"type": "rate", "conversation_id": conv_id, "score": 6})
    assert (await visitor.recv_type("error"))["code"] == "invalid_field"
    await visitor.send(
        {"type": "rate", "conversation_id": conv_id, "score": 4, "comment": "quick, thanks"}
    )
    assert (await visitor.recv_type("rated"))["score"] == 4
    store = Store(kb_server.settings.server.database_url)
    try:
        conv = await store.get_conversation(conv_id)
    finally:
        await store.stop()
    assert (conv.state, conv.csat_score, conv.csat_comment) == ("rated", 4, "quick, thanks")
