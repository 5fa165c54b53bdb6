"""Text the store cannot hold (a lone surrogate, NUL, other control characters) is refused
where it enters, as `invalid_field`, in frames and HTTP bodies alike; one visitor's bad
frame never holds up anyone else's messages, nor an agent's slot (issue 13, item 1). A
database locked past its busy timeout is the visitor's retryable `unavailable`, never the
socket's end (issue 13, item 12), and an HTTP 503, never a 500."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Backend, make_settings, seed_agents
from tests.integration.test_desk_api import Session, login, online
from tests.live import Client, LiveServer, connect_visitor

pytestmark = pytest.mark.conformance

# A JavaScript client that cuts a string mid-emoji sends the first; PostgreSQL text refuses
# the second; the rest are controls no person types.
POISONS = ["x\ud800", "x\udfff y", "x\u0000", "bell\u0007", "esc\u001b[2J"]


@pytest.fixture
def desk(backend: Backend) -> Iterator[LiveServer]:
    """Ana holds one chat at a time; a supervisor and an admin for the HTTP editors."""
    settings = backend.settings(group_commit_max_delay_ms=200.0)
    seed_agents(
        settings,
        ("ana@example.com", "agent", 1),
        ("sam@example.com", "supervisor", 5),
        ("ada@example.com", "admin", 5),
    )
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def still_alive(client: Client) -> None:
    await client.send({"type": "ping"})
    await client.recv_type("pong")


async def test_unstorable_text_in_any_frame_field_is_invalid_field_and_nothing_is_stored(
    server: LiveServer,
) -> None:
    visitor, _ = await connect_visitor(server, codec="json")
    await visitor.recv_type("welcome")
    for i, poison in enumerate(POISONS):
        frames = [
            ({"type": "send", "text": poison, "client_msg_id": f"p{i}"}, f"p{i}"),
            ({"type": "typing", "active": True, "preview": poison}, None),
            ({"type": "rate", "conversation_id": "abc", "score": 5, "comment": poison}, None),
            ({"type": "send", "text": "fine", "client_msg_id": f"q{i}", poison: 1}, f"q{i}"),
        ]
        for frame, ref in frames:
            await visitor.send(frame)
            error = await visitor.recv_type("error")
            assert (error["code"], error["retryable"]) == ("invalid_field", False), frame
            assert error.get("ref") == ref
        # A frame taken resets the flood count (20 refusals in a row close the socket).
        await still_alive(visitor)
    assert (await visitor.send_text("fine now"))["seq"] == 1  # no poison took a seq


async def test_an_agents_unstorable_text_is_refused_too(server: LiveServer) -> None:
    agent = await online(server, await login(server, "ana@example.com"))
    visitor, _ = await connect_visitor(server, codec="json")
    await visitor.recv_type("welcome")
    conv_id = (await visitor.send_text("hello"))["conversation_id"]
    await agent.recv_type("assigned")
    for i, poison in enumerate(POISONS):
        cid = f"a{i}"
        await agent.send(
            {"type": "send", "conversation_id": conv_id, "text": poison, "client_msg_id": cid}
        )
        error = await agent.recv_type("error", ref=cid)
        assert error["code"] == "invalid_field"
    ack = await agent.send_text("Hello", conversation_id=conv_id)
    assert not ack["duplicate"]


async def test_a_poisoned_frame_in_a_shared_batch_holds_up_nobody_else(desk: LiveServer) -> None:
    """Everyone's messages share one 200 ms commit with the poison; all are stored."""
    visitors: list[Client] = []
    for _ in range(8):
        client, _ = await connect_visitor(desk, codec="json")
        await client.recv_type("welcome")
        await client.send_text("hello")  # the conversation is open: the next send queues
        visitors.append(client)
    poisoner, *others = visitors
    sends = [
        client.send({"type": "send", "text": f"msg {n}", "client_msg_id": f"m{n}"})
        for n, client in enumerate(others)
    ]
    poison = [
        poisoner.send({"type": "send", "text": p, "client_msg_id": f"p{n}"})
        for n, p in enumerate(POISONS[:3])
    ]
    await asyncio.gather(*poison, *sends)
    for n, client in enumerate(others):
        ack = await client.recv_type("ack", client_msg_id=f"m{n}")
        assert ack["seq"] > 1
    for n in range(3):
        error = await poisoner.recv_type("error", ref=f"p{n}")
        assert (error["code"], error["retryable"]) == ("invalid_field", False)
    await poisoner.send_text("and now a real question")


async def test_an_agents_slot_is_freed_when_a_close_shares_a_batch_with_a_poison(
    desk: LiveServer,
) -> None:
    ana = await login(desk, "ana@example.com")
    agent = await online(desk, ana)
    first, _ = await connect_visitor(desk, codec="json")
    await first.recv_type("welcome")
    first_conv = (await first.send_text("I need help"))["conversation_id"]
    await agent.recv_type("assigned")
    waiting, _ = await connect_visitor(desk, codec="json")
    await waiting.recv_type("welcome")
    waiting_conv = (await waiting.send_text("me too"))["conversation_id"]
    # Ana is full (cap 1): the second visitor waits. Her close and the waiting visitor's
    # poison now land in one commit window.
    await asyncio.gather(
        waiting.send({"type": "send", "text": "x\ud800\u0000", "client_msg_id": "bad"}),
        agent.send({"type": "close", "conversation_id": first_conv}),
    )
    assert (await waiting.recv_type("error", ref="bad"))["code"] == "invalid_field"
    await first.recv_type("event", event="closed")
    assigned = await agent.recv_type("assigned", timeout=10)
    assert assigned["conversation"]["conversation_id"] == waiting_conv


async def post_json(
    server: LiveServer,
    path: str,
    body: dict[str, Any],
    session: Session | None = None,
    method: str = "POST",
) -> httpx.Response:
    """``body`` as a browser's JSON.stringify sends it: lone surrogates as \\u escapes."""
    headers = {"content-type": "application/json"}
    if session is not None:
        headers.update(session.headers, **{"x-csrf-token": session.csrf})
    async with httpx.AsyncClient(base_url=server.url) as http:
        return await http.request(method, path, content=json.dumps(body), headers=headers)


async def test_unstorable_text_in_http_bodies_is_a_400_never_a_500(desk: LiveServer) -> None:
    poison = "Ann\u0000\ud800"

    async def refused(
        path: str, body: dict[str, Any], session: Session | None = None, method: str = "POST"
    ) -> None:
        response = await post_json(desk, path, body, session, method)
        assert response.status_code == 400, (path, response.status_code, response.text)
        if response.headers["content-type"].startswith("application/json"):
            assert response.json()["error"] == "invalid_field"

    await refused("/api/visitor/session", {"name": poison})
    await refused("/api/visitor/session", {"email": f"a{poison}@b.example"})
    token = (await post_json(desk, "/api/visitor/session", {})).json()["token"]
    offline = {"token": token, "email": "a@b.example", "text": f"call me {poison}"}
    await refused("/api/visitor/offline", offline)
    await refused("/api/visitor/offline", {**offline, "text": "hi", "name": poison})
    sam = await login(desk, "sam@example.com")
    article = {"id": "a-1", "lang": "en", "title": "Wrapping", "body": poison, "tags": []}
    await refused("/api/kb/articles", article, sam)
    await refused("/api/kb/articles/a-1", {**article, "body": "ok", "title": poison}, sam, "PUT")
    await refused("/api/canned", {"shortcut": "hi", "text": poison, "lang": "en"}, sam)
    ada = await login(desk, "ada@example.com")
    grant = {"amount": 5, "reason": poison, "action_id": uuid.uuid4().hex}
    await refused("/api/credits/c@d.example/grant", grant, ada)
    show = await ada.get("/api/credits/c%00@d.example")  # the address is in the path
    assert show.status_code == 400
    async with httpx.AsyncClient(base_url=desk.url) as http:  # a form is no JSON body
        form = {"email": "ana\u0000@example.com", "password": "x"}
        assert (await http.post("/login", data=form)).status_code == 303
    ana = await login(desk, "ana@example.com")
    agent = await online(desk, ana)
    visitor, _ = await connect_visitor(desk, codec="json")
    await visitor.recv_type("welcome")
    conv_id = (await visitor.send_text("hello"))["conversation_id"]
    await agent.recv_type("assigned")
    await refused(f"/api/desk/conversations/{conv_id}/notes", {"body": poison}, ana)
    await refused(f"/api/desk/conversations/{conv_id}/close", {"tags": [poison]}, ana)
    detail = (await ana.get(f"/api/desk/conversations/{conv_id}")).json()
    assert detail["conversation"]["state"] == "active"  # the refused close changed nothing
    assert detail["customer"]["notes"] == []


async def test_a_locked_database_answers_a_visitors_first_message_with_unavailable(
    tmp_path: Path,
) -> None:
    """SQLite only: another process holds the write lock past the busy timeout."""
    settings = make_settings(tmp_path, db_busy_timeout_s=0.3)
    live = LiveServer(settings).start()
    holder = sqlite3.connect(tmp_path / "livedesk.db", isolation_level=None)
    try:
        visitor, _ = await connect_visitor(live)
        await visitor.recv_type("welcome")
        holder.execute("BEGIN IMMEDIATE")
        frame = {"type": "send", "text": "first words", "client_msg_id": "first"}
        await visitor.send(frame)
        error = await visitor.recv_type("error", ref="first")
        assert (error["code"], error["retryable"]) == ("unavailable", True)
        await still_alive(visitor)
        async with httpx.AsyncClient(base_url=live.url) as http:  # HTTP: a 503, not a 500
            session = await http.post("/api/visitor/session", json={"name": "Ann"})
        assert (session.status_code, session.json()["error"]) == (503, "unavailable")
        holder.execute("ROLLBACK")
        await visitor.send(frame)  # the client's retry of the same frame
        ack = await visitor.recv_type("ack", client_msg_id="first")
        assert ack["seq"] == 1 and not ack["duplicate"]
    finally:
        holder.close()
        live.stop()
