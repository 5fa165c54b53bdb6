"""Hostile input, explicit cases (the fuzzing lives in test_fuzz.py). Cases already pinned
elsewhere are listed in docs/security.md and not repeated here."""

from __future__ import annotations

import asyncio
import urllib.parse
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from chatserver.backends.store import Store
from tests.integration.conftest import AGENT_PASSWORD, add_agents, make_settings
from tests.integration.test_hub_conversation import start_chat
from tests.live import LiveServer, connect_agent, connect_visitor, login_cookie

XSS = [
    "<img src=x onerror=alert(1)>",
    "{{constructor.constructor('alert(1)')()}}",
    '<a href="javascript:alert(1)">click</a>',
    "<svg onload=alert(1)><script>alert(1)</script></svg>",
    '"><script>alert(document.cookie)</script>',
]
SQL = ["' OR 1=1 --", "'; DROP TABLE messages; --", '" OR ""="', "%' OR '%'='", "\\'; --"]


async def test_loose_typed_ids_in_every_frame_match_no_other_conversation(
    server: LiveServer,
) -> None:
    victim, agent, conv_id, _ = await start_chat(server, "victim secret 7731")
    for bad in (0, "0e1", True, [conv_id], {"$ne": None}, 1.0, -1):
        # One socket per id: 20 refused frames in a row would (rightly) close it for flood.
        attacker, _ = await connect_visitor(server)
        await attacker.recv_type("welcome")
        for frame in (
            {"type": "seen", "conversation_id": bad, "seq": 1},
            {"type": "close", "conversation_id": bad},
            {"type": "typing", "conversation_id": bad, "active": True},
            {"type": "send", "conversation_id": bad, "text": "hi", "client_msg_id": "c1"},
            {"type": "rate", "conversation_id": bad, "score": 5},
            {"type": "resume", "conversation_id": bad, "after_seq": 0},
        ):
            await attacker.send(frame)
            error = await attacker.recv_type("error")
            allowed = {"invalid_field", "no_conversation", "forbidden"}
            assert error["code"] in allowed, (frame, error)
        await attacker.send({"type": "ping"})
        await attacker.recv_type("pong")
        leaked = [f for f in attacker.inbox if "victim secret" in repr(f) or conv_id in repr(f)]
        assert not leaked
    # The victim's conversation is untouched: still open, still the victim's.
    await victim.send_text("still mine")
    assert (await agent.recv_type("message", text="still mine"))["conversation_id"] == conv_id


async def test_stored_xss_is_stored_and_echoed_as_plain_text(server: LiveServer) -> None:
    visitor, agent, conv_id, _ = await start_chat(server, "hello")
    for payload in XSS:
        ack = await visitor.send_text(payload)
        got = await agent.recv_type("message", seq=ack["seq"])
        assert got["text"] == payload  # byte for byte: escaping is the renderer's job
        reply = await agent.send_text(payload, conversation_id=conv_id)
        assert (await visitor.recv_type("message", seq=reply["seq"]))["text"] == payload
    store = Store(server.settings.server.database_url)
    try:
        rows = await store.messages_after(conv_id, 0)
    finally:
        await store.stop()
    assert [r["body"] for r in rows if r["author"] == "visitor"][1:] == XSS


async def test_a_hostile_agent_name_is_escaped_in_every_server_rendered_page(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    from chatserver.cli.demo import add_agent

    name = XSS[0] + XSS[3]
    await add_agent(
        settings, email="eve@example.com", name=name, password=AGENT_PASSWORD, role="supervisor"
    )
    server = LiveServer(settings).start()
    try:
        cookie = await login_cookie(server, "eve@example.com", AGENT_PASSWORD)
        async with httpx.AsyncClient(
            base_url=server.url, cookies={server.settings.security.session_cookie: cookie}
        ) as http:
            for path in ("/agent", "/supervisor", "/", "/login", "/demo"):
                r = await http.get(path)
                assert r.status_code == 200, path
                for raw in ("<img src=x", "<svg onload", "<script>alert"):
                    assert raw not in r.text, (path, raw)
                if path in ("/agent", "/supervisor"):
                    assert "&lt;img src=x onerror=alert(1)&gt;" in r.text, path
                    assert "default-src 'self'" in r.headers["content-security-policy"]
    finally:
        server.stop()


async def test_sql_metacharacters_in_searches_and_filters_cause_no_error_and_no_leak(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    await add_agents(settings, ("root@example.com", "admin", 5))
    server = LiveServer(settings).start()
    try:
        cookie = await login_cookie(server, "root@example.com", AGENT_PASSWORD)
        async with httpx.AsyncClient(
            base_url=server.url, cookies={server.settings.security.session_cookie: cookie}
        ) as http:
            me = (await http.get("/api/me")).json()
            csrf = me.get("csrf", "")
            granted = await http.post(
                "/api/credits/paying@example.com/grant",
                json={"credits": 3, "note": "x", "action_id": "a1"},
                headers={"x-csrf-token": csrf, "origin": server.url},
            )
            for q in SQL:
                quoted = urllib.parse.quote(q, safe="")
                for path in (
                    f"/api/kb/search?q={quoted}",
                    f"/api/kb/search?q=refund&lang={quoted}",
                    f"/api/kb/articles/{quoted}",
                    f"/api/canned?prefix={quoted}",
                    f"/api/credits/{quoted}",
                    f"/api/desk/conversations/{quoted}",
                    f"/api/desk/reports/daily.csv?from={quoted}&to={quoted}",
                ):
                    r = await http.get(path)
                    assert r.status_code < 500, (path, r.status_code, r.text[:200])
                    assert "paying@example.com" not in r.text, path
            if granted.status_code == 200:  # the grant worked: the table was not dropped
                r = await http.get("/api/credits/paying@example.com")
                assert r.status_code == 200 and r.json()["balance"] == 3
            # The messages table survived every "DROP TABLE".
            visitor, _ = await connect_visitor(server)
            await visitor.recv_type("welcome")
            assert (await visitor.send_text(SQL[1]))["seq"] == 1
    finally:
        server.stop()


async def raw_get(port: int, target: str) -> tuple[int, bytes]:
    """A request line sent byte for byte: no client normalises the dots away."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    status = int(data.split(b" ", 2)[1])
    return status, data


TRAVERSALS = [
    "/static/desk/../../chatserver/core/settings.py",
    "/static/desk/..%2f..%2fchatserver%2fsettings.py",
    "/static/desk/%2e%2e/%2e%2e/chatserver/core/settings.py",
    "/static/desk/%252e%252e/%252e%252e/chatserver/core/settings.py",
    "/static/widget/..%5c..%5cchatserver%5csettings.py",
    "/static/widget/....//....//chatserver/core/settings.py",
    "/static/desk/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc/passwd",
    "/static/desk//etc/passwd",
]


async def test_path_traversal_on_static_routes_is_refused(server: LiveServer) -> None:
    for target in TRAVERSALS:
        status, body = await raw_get(server.port, target)
        assert status in (400, 404), (target, status)
        assert b"class Settings" not in body and b"root:" not in body


async def test_ended_sessions_survive_nothing(server: LiveServer) -> None:
    """`store.end_agent_sessions` (password change, deactivation): every earlier cookie is
    dead for HTTP and for new sockets at once."""
    cookie = await login_cookie(server, "ana@example.com", AGENT_PASSWORD)
    agent = await connect_agent(server, cookie)
    welcome = await agent.recv_type("welcome")
    store = Store(server.settings.server.database_url)
    try:
        await store.end_agent_sessions(int(welcome["agent"]["id"]))
    finally:
        await store.stop()
    async with httpx.AsyncClient(
        base_url=server.url, cookies={server.settings.security.session_cookie: cookie}
    ) as http:
        assert (await http.get("/api/me")).status_code == 401
        assert (await http.get("/agent", follow_redirects=False)).status_code in (302, 303)
    with pytest.raises(InvalidStatus) as refused:
        await connect_agent(server, cookie)
    assert refused.value.response.status_code == 403
    fresh = await login_cookie(server, "ana@example.com", AGENT_PASSWORD)
    assert fresh != cookie
    again = await connect_agent(server, fresh)
    assert (await again.recv_type("welcome"))["agent"]["name"] == "Ana"


async def test_a_visitor_token_cannot_be_replayed_from_a_foreign_origin_or_as_an_agent(
    server: LiveServer,
) -> None:
    _, token = await connect_visitor(server)
    with pytest.raises(InvalidStatus):
        await connect_visitor(server, token=token, origin="https://evil.example")
    with pytest.raises(InvalidStatus):
        await connect_agent(server, token)  # a visitor token is no agent cookie
