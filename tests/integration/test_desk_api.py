"""The desk's HTTP APIs against a real server: roles, CSRF, the customer panel, transfer,
close with tags, password change and deactivation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from chatserver.core.settings import Settings
from chatserver.live.auth import identity_hash
from tests.integration.conftest import AGENT_PASSWORD, make_settings, seed_agents
from tests.live import (
    Client,
    LiveServer,
    connect_agent,
    connect_visitor,
    login_cookie,
    visitor_session,
)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path)
    seed_agents(
        settings,
        ("ana@example.com", "agent", 5),
        ("bob@example.com", "agent", 5),
        ("sam@example.com", "supervisor", 5),
        ("ada@example.com", "admin", 5),
    )
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


class Session:
    """One logged-in person over HTTP: cookie plus the CSRF token from /api/me."""

    def __init__(self, server: LiveServer, cookie: str, csrf: str, me: dict) -> None:
        self.server = server
        self.cookie = cookie
        self.csrf = csrf
        self.me = me

    @property
    def headers(self) -> dict[str, str]:
        return {"cookie": f"{self.server.settings.security.session_cookie}={self.cookie}"}

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.server.url) as http:
            return await http.get(path, headers=self.headers)

    async def post(
        self, path: str, body: dict, *, csrf: str | None = "ok", **extra: str
    ) -> httpx.Response:
        headers = {**self.headers, **extra}
        if csrf == "ok":
            headers["x-csrf-token"] = self.csrf
        elif csrf is not None:
            headers["x-csrf-token"] = csrf
        async with httpx.AsyncClient(base_url=self.server.url) as http:
            return await http.post(path, json=body, headers=headers)


async def login(server: LiveServer, email: str) -> Session:
    cookie = await login_cookie(server, email, AGENT_PASSWORD)
    async with httpx.AsyncClient(base_url=server.url) as http:
        me = (
            await http.get(
                "/api/me", headers={"cookie": f"{server.settings.security.session_cookie}={cookie}"}
            )
        ).json()
    return Session(server, cookie, me["csrf"], me)


async def online(server: LiveServer, session: Session) -> Client:
    agent = await connect_agent(server, session.cookie, codec="json")
    await agent.recv_type("welcome")
    return agent


async def chat_with(
    server: LiveServer, agent: Client, text: str = "Where is my parcel?", **visitor: str
) -> tuple[Client, str]:
    client, _ = await connect_visitor(server, codec="json", **visitor)
    await client.recv_type("welcome")
    conv_id = (await client.send_text(text))["conversation_id"]
    assigned = await agent.recv_type("assigned")
    assert assigned["conversation"]["conversation_id"] == conv_id
    return client, conv_id


async def test_state_changing_requests_need_the_sessions_csrf_token(desk: LiveServer) -> None:
    ana = await login(desk, "ana@example.com")
    agent = await online(desk, ana)
    _, conv_id = await chat_with(desk, agent)
    path = f"/api/desk/conversations/{conv_id}/close"
    assert (await ana.post(path, {"tags": ["x"]}, csrf=None)).status_code == 403
    assert (await ana.post(path, {"tags": ["x"]}, csrf="forged")).status_code == 403
    other = await login(desk, "bob@example.com")  # a valid token, but another session's
    assert (await ana.post(path, {"tags": ["x"]}, csrf=other.csrf)).status_code == 403
    refused = await ana.post(path, {"tags": ["x"]}, origin="https://evil.example")
    assert refused.status_code == 403
    conv = await desk.app.state.store.get_conversation(conv_id)
    assert conv is not None and conv.state == "active"  # nothing happened
    assert (await ana.post(path, {"tags": ["x"]})).status_code == 200


async def test_login_refuses_cross_origin_browsers_but_serves_forms_and_json(
    desk: LiveServer,
) -> None:
    form = {"email": "ana@example.com", "password": AGENT_PASSWORD}
    async with httpx.AsyncClient(base_url=desk.url) as http:
        evil = await http.post("/login", data=form, headers={"origin": "https://evil.example"})
        assert evil.status_code == 403 and not evil.cookies
        cross = await http.post("/login", json=form, headers={"sec-fetch-site": "cross-site"})
        assert cross.status_code == 403
        own = await http.post("/login", data=form, headers={"origin": desk.url})
        assert own.status_code == 303 and own.headers["location"] == "/agent"
        cookie = own.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
        sup = await http.post("/login", data={**form, "email": "sam@example.com"})
        assert sup.headers["location"] == "/supervisor"


async def test_logout_from_a_browser_needs_the_token(desk: LiveServer) -> None:
    ana = await login(desk, "ana@example.com")
    async with httpx.AsyncClient(base_url=desk.url) as http:
        forged = await http.post("/logout", headers={**ana.headers, "origin": desk.url})
        assert forged.status_code == 403
        assert (await ana.get("/api/me")).status_code == 200
        done = await http.post(
            "/logout", data={"csrf": ana.csrf}, headers={**ana.headers, "origin": desk.url}
        )
        assert done.status_code == 303
    assert (await ana.get("/api/me")).status_code == 401


async def test_agents_see_only_their_conversations_supervisors_see_all(desk: LiveServer) -> None:
    ana, bob, sam = [await login(desk, f"{n}@example.com") for n in ("ana", "bob", "sam")]
    agent = await online(desk, ana)
    _, conv_id = await chat_with(desk, agent)
    path = f"/api/desk/conversations/{conv_id}"
    assert (await ana.get(path)).status_code == 200
    assert (await bob.get(path)).status_code == 404  # same as a missing one
    assert (await bob.get(path + "/transcript")).status_code == 404
    assert (await bob.post(path + "/close", {"tags": []})).status_code == 404
    assert (await sam.get(path)).status_code == 200
    assert (await ana.get("/api/desk/board")).status_code == 403
    assert (await ana.get("/api/desk/reports/daily.csv")).status_code == 403
    async with httpx.AsyncClient(base_url=desk.url) as http:
        assert (await http.get(path)).status_code == 401
        page = await http.get("/supervisor", headers=ana.headers)
        assert page.status_code == 403
        assert (await http.get("/supervisor", headers=sam.headers)).status_code == 200


async def test_customer_panel_shows_verified_identity_credits_and_past_chats(
    desk: LiveServer,
) -> None:
    email = "buyer@example.com"
    ada = await login(desk, "ada@example.com")
    granted = await ada.post(
        f"/api/credits/{email}/grant", {"amount": 7, "reason": "t", "action_id": "g1"}
    )
    assert granted.status_code == 201, granted.text
    token = (
        await visitor_session(
            desk,
            name="Ada Buyer",
            email=email,
            identity_hash=identity_hash(desk.settings.security.identity_secret or "", email),
        )
    )["token"]
    ana = await login(desk, "ana@example.com")
    agent = await online(desk, ana)
    visitor, first_id = await chat_with(desk, agent, token=token)
    await visitor.send({"type": "close"})
    await visitor.recv_type("event", event="closed")
    visitor2, _ = await connect_visitor(desk, token=token, codec="json")
    await visitor2.recv_type("welcome")
    second_id = (await visitor2.send_text("Me again"))["conversation_id"]
    await agent.recv_type("assigned")
    detail = (await ana.get(f"/api/desk/conversations/{second_id}")).json()
    customer = detail["customer"]
    assert (customer["name"], customer["email"], customer["verified"]) == ("Ada Buyer", email, True)
    assert customer["credits"]["balance"] == 7
    assert [p["id"] for p in customer["past"]] == [first_id]
    # The past conversation's transcript is readable from this chat's customer panel.
    past = (await ana.get(f"/api/desk/conversations/{first_id}/transcript")).json()
    assert past["items"][0]["text"] == "Where is my parcel?"


async def test_transfer_to_a_colleague_then_close_with_tags(desk: LiveServer) -> None:
    ana, bob = await login(desk, "ana@example.com"), await login(desk, "bob@example.com")
    ana_ws = await online(desk, ana)
    visitor, conv_id = await chat_with(desk, ana_ws)
    bob_ws = await online(desk, bob)
    agents = (await ana.get("/api/desk/agents")).json()["agents"]
    bob_id = next(a["id"] for a in agents if a["name"] == "Bob")
    assert next(a for a in agents if a["id"] == bob_id)["status"] == "online"
    base = f"/api/desk/conversations/{conv_id}"
    override = await ana.post(base + "/transfer", {"to_agent": bob_id, "override": True})
    assert override.status_code == 403  # only supervisors may go beyond a cap
    moved = await ana.post(base + "/transfer", {"to_agent": bob_id, "note": "billing question"})
    assert moved.status_code == 200, moved.text
    assert (await bob_ws.recv_type("assigned"))["conversation"]["conversation_id"] == conv_id
    told = await visitor.recv_type("event", event="transferred")
    assert "note" not in told["data"]  # for the colleague only (test_audiences.py)
    assert (await ana.post(base + "/close", {"tags": ["late"]})).status_code == 404
    closed = await bob.post(
        base + "/close", {"tags": ["Billing", " refund ", "billing"], "outcome": "resolved"}
    )
    assert closed.json() == {"ok": True, "tags": ["billing", "refund"], "outcome": "resolved"}
    assert (await visitor.recv_type("event", event="closed"))["data"]["by"] == "agent"
    conv = await desk.app.state.store.get_conversation(conv_id)
    assert conv is not None and (conv.state, conv.tags, conv.outcome) == (
        "closed",
        "billing,refund",
        "resolved",
    )
    assert (await bob.post(base + "/close", {"tags": []})).status_code == 409


async def test_transfer_tells_the_old_agent_the_chat_left_them(desk: LiveServer) -> None:
    """docs/protocol.md: ``unassigned`` when the conversation leaves you (transfer, requeue)."""
    ana, bob = await login(desk, "ana@example.com"), await login(desk, "bob@example.com")
    ana_ws = await online(desk, ana)
    _, conv_id = await chat_with(desk, ana_ws)
    bob_ws = await online(desk, bob)
    moved = await ana.post(
        f"/api/desk/conversations/{conv_id}/transfer", {"to_agent": bob.me["id"]}
    )
    assert moved.status_code == 200
    assert (await bob_ws.recv_type("assigned"))["conversation"]["conversation_id"] == conv_id
    assert (await ana_ws.recv_type("unassigned", timeout=3))["conversation_id"] == conv_id


async def test_supervisor_takes_over_beyond_their_cap(desk: LiveServer) -> None:
    ana, sam = await login(desk, "ana@example.com"), await login(desk, "sam@example.com")
    ana_ws = await online(desk, ana)
    sam_ws = await online(desk, sam)
    await sam_ws.send({"type": "status", "status": "away"})  # so the visitor goes to Ana
    await sam_ws.recv_type("status")
    _, conv_id = await chat_with(desk, ana_ws)
    base = f"/api/desk/conversations/{conv_id}"
    assert (await ana.post(base + "/takeover", {})).status_code == 403
    assert (await sam.post(base + "/takeover", {})).status_code == 200
    assert (await sam_ws.recv_type("assigned"))["conversation"]["conversation_id"] == conv_id
    conv = await desk.app.state.store.get_conversation(conv_id)
    assert conv is not None and conv.agent_id == sam.me["id"]


async def test_password_change_and_deactivation_end_sessions_and_sockets_at_once(
    desk: LiveServer,
) -> None:
    ana, bob, ada = [await login(desk, f"{n}@example.com") for n in ("ana", "bob", "ada")]
    ana_ws, bob_ws = await online(desk, ana), await online(desk, bob)
    ana_id, bob_id = ana.me["id"], bob.me["id"]
    new = {"password": "a much better password", "current_password": "wrong"}
    assert (await ana.post(f"/api/desk/agents/{ana_id}/password", new)).status_code == 403
    assert (
        await ana.post(f"/api/desk/agents/{bob_id}/password", {"password": "x" * 12})
    ).status_code == 403
    new["current_password"] = AGENT_PASSWORD
    changed = await ana.post(f"/api/desk/agents/{ana_id}/password", new)
    assert changed.json() == {"ok": True, "sockets_closed": 1}
    await asyncio.wait_for(ana_ws.ws.wait_closed(), 5)
    assert ana_ws.ws.close_code == 4100
    assert (await ana.get("/api/me")).status_code == 401
    async with httpx.AsyncClient(base_url=desk.url) as http:
        fresh = await http.post(
            "/login", json={"email": "ana@example.com", "password": new["password"]}
        )
        assert fresh.status_code == 200

    assert (await bob.post(f"/api/desk/agents/{bob_id}/deactivate", {})).status_code == 403
    gone = await ada.post(f"/api/desk/agents/{bob_id}/deactivate", {})
    assert gone.json()["sockets_closed"] == 1
    await asyncio.wait_for(bob_ws.ws.wait_closed(), 5)
    assert bob_ws.ws.close_code == 4100
    assert (await bob.get("/api/me")).status_code == 401
    with pytest.raises(InvalidStatus):
        await connect_agent(desk, bob.cookie)


def test_cookie_takes_the_host_prefix_only_when_secure(tmp_path: Path) -> None:
    from chatserver.live.auth import session_cookie_kwargs, session_cookie_name

    plain = make_settings(tmp_path)
    secure = Settings(**{**plain.model_dump(), "cookie_secure": True})
    assert session_cookie_name(plain) == "livedesk_session"
    assert session_cookie_name(secure) == "__Host-livedesk_session"
    assert session_cookie_kwargs(secure)["secure"] is True
    assert session_cookie_kwargs(secure)["path"] == "/"


async def test_team_notes_follow_the_customer_and_only_reach_who_may_read(
    desk: LiveServer,
) -> None:
    ana, bob = await login(desk, "ana@example.com"), await login(desk, "bob@example.com")
    agent = await online(desk, ana)
    _, conv_id = await chat_with(desk, agent)
    path = f"/api/desk/conversations/{conv_id}/notes"
    saved = await ana.post(path, {"body": "Prefers e-mail <b>not</b> phone"})
    assert saved.status_code == 201 and saved.json()["author_name"] == "Ana"
    assert (await ana.post(path, {"body": "   "})).status_code == 400
    assert (await bob.post(path, {"body": "not my chat"})).status_code == 404
    panel = (await ana.get(f"/api/desk/conversations/{conv_id}")).json()["customer"]
    assert [n["body"] for n in panel["notes"]] == ["Prefers e-mail <b>not</b> phone"]
