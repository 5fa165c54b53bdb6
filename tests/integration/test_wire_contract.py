"""The wire as docs/protocol.md states it, held by a real hub: ids are strings in every
frame, typing and seen go to the other side only, one truth about availability, a visitor
token that expired or is garbage says so, ratings are final, the flood closes at the
documented count, credits granted reach a connected customer, every API error is JSON."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from chatserver.live.auth import identity_hash
from tests.integration.conftest import make_settings, seed_agents
from tests.integration.test_desk_api import chat_with, login, online
from tests.integration.test_desk_supervisor import board_socket
from tests.live import Client, LiveServer, connect_agent, connect_visitor, visitor_session

AGENTS = (
    ("ana@example.com", "agent", 5),
    ("bob@example.com", "agent", 5),
    ("sam@example.com", "supervisor", 5),
    ("ada@example.com", "admin", 5),
)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path)
    seed_agents(settings, *AGENTS)
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


def non_string_ids(frame: Any, path: str = "") -> list[str]:
    """Every `id` / `*_id` field (however deep) whose value is not a string or null."""
    bad: list[str] = []
    if isinstance(frame, dict):
        for key, value in frame.items():
            here = f"{path}.{key}" if path else str(key)
            if (key == "id" or str(key).endswith("_id")) and value is not None:
                if not isinstance(value, str):
                    bad.append(f"{here}={value!r}")
            bad += non_string_ids(value, here)
    elif isinstance(frame, list):
        for i, item in enumerate(frame):
            bad += non_string_ids(item, f"{path}[{i}]")
    return bad


def recording(client: Client) -> list[dict[str, Any]]:
    """Every frame ``client`` reads from now on (a frame put back and read again twice)."""
    log: list[dict[str, Any]] = []
    read = client.recv

    async def recv(timeout: float = 10.0) -> dict[str, Any]:
        frame = await read(timeout)
        log.append(frame)
        return frame

    client.recv = recv  # type: ignore[method-assign]
    return log


async def everything(client: Client) -> list[dict[str, Any]]:
    """Every frame the client has been sent so far: a ping's pong marks the end."""
    await client.send({"type": "ping"})
    frames = []
    while True:
        frame = await client.recv()
        if frame["type"] == "pong":
            return frames
        frames.append(frame)


async def test_every_id_field_of_every_frame_a_session_receives_is_a_string(
    desk: LiveServer,
) -> None:
    ana_http, sam_http = await login(desk, "ana@example.com"), await login(desk, "sam@example.com")
    agent = await online(desk, ana_http)
    board = await board_socket(desk, sam_http.cookie)
    agent_log, board_log = recording(agent), recording(board)
    visitor, conv_id = await chat_with(desk, agent)
    visitor_log = recording(visitor)
    await agent.send({"type": "resume", "conversation_id": conv_id, "after_seq": 0})
    await agent.recv_type("resumed")
    await agent.send({"type": "typing", "conversation_id": conv_id, "active": True})
    await agent.send_text("Hello!", conversation_id=conv_id)
    await visitor.recv_type("message", author="agent")
    await visitor.send({"type": "seen", "conversation_id": conv_id, "seq": 3})
    await agent.send({"type": "status", "status": "away"})
    await agent.recv_type("status")
    await board.send({"type": "watch", "conversation_id": conv_id, "after_seq": 0})
    await board.recv_type("watching")
    await board.recv_type("board", timeout=15)
    await visitor.send({"type": "close"})
    await visitor.recv_type("event", event="closed")
    await visitor.send({"type": "rate", "conversation_id": conv_id, "score": 5})
    await visitor.recv_type("rated")
    await visitor.send({"type": "nope"})
    await visitor.recv_type("error")
    for client in (visitor, agent, board):
        await everything(client)
    seen = {"visitor": visitor_log, "agent": agent_log, "board": board_log}
    kinds = {
        f["type"] + (":" + f["event"] if f["type"] == "event" else "")
        for fs in seen.values()
        for f in fs
    }
    # The walk covered the frames whose ids were numbers before.
    assert {"assigned", "status", "board", "watching", "event:assigned", "rated"} <= kinds
    # The helpers took the welcomes: an agent's and a visitor's, on fresh sockets.
    second = await connect_agent(desk, ana_http.cookie, codec="json")
    seen["agent"].append(await second.recv_type("welcome"))
    other, _ = await connect_visitor(desk, codec="json")
    seen["visitor"].append(await other.recv_type("welcome"))
    bad = {who: non_string_ids(frames) for who, frames in seen.items()}
    assert bad == {"visitor": [], "agent": [], "board": []}


async def test_typing_and_seen_reach_the_other_side_but_never_their_sender(
    desk: LiveServer,
) -> None:
    agent = await online(desk, await login(desk, "ana@example.com"))
    visitor, conv_id = await chat_with(desk, agent)
    board = await board_socket(desk, (await login(desk, "sam@example.com")).cookie)
    await board.send({"type": "watch", "conversation_id": conv_id, "after_seq": 0})
    await board.recv_type("watching")
    await visitor.send({"type": "typing", "active": True})
    assert (await agent.recv_type("typing"))["who"] == "visitor"
    await visitor.send({"type": "seen", "conversation_id": conv_id, "seq": 1})
    assert (await agent.recv_type("seen"))["who"] == "visitor"
    await agent.send({"type": "typing", "conversation_id": conv_id, "active": True})
    assert (await visitor.recv_type("typing"))["who"] == "agent"
    await agent.send({"type": "seen", "conversation_id": conv_id, "seq": 1})
    assert (await visitor.recv_type("seen"))["who"] == "agent"
    # A supervisor watching sees both sides.
    assert {(f["type"], f["who"]) for f in await everything(board) if "who" in f} == {
        ("typing", "visitor"),
        ("seen", "visitor"),
        ("typing", "agent"),
        ("seen", "agent"),
    }
    # The pong comes after anything the hub sent for the frames before the ping.
    for own, who in ((await everything(visitor), "visitor"), (await everything(agent), "agent")):
        assert [f for f in own if f["type"] in ("typing", "seen") and f["who"] == who] == []


@pytest.fixture
def closed_desk(tmp_path: Path) -> Iterator[LiveServer]:
    today = datetime.now(UTC).date().isoformat()
    settings = make_settings(
        tmp_path,
        business_hours="mon-sun 00:00-23:59",
        holidays=[today],
        timezone="UTC",
    )
    seed_agents(settings, *AGENTS)
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def test_outside_business_hours_the_welcome_and_the_routing_agree(
    closed_desk: LiveServer,
) -> None:
    agent = await online(closed_desk, await login(closed_desk, "ana@example.com"))
    visitor, _ = await connect_visitor(closed_desk, codec="json")
    assert (await visitor.recv_type("welcome"))["available"] is False
    conv_id = (await visitor.send_text("Anyone there?"))["conversation_id"]
    # The bot holds it and offers the offline form; no person is assigned.
    await visitor.recv_type("event", event="offline")
    assert [f for f in await everything(agent) if f["type"] == "assigned"] == []
    events = [f for f in await everything(visitor) if f["type"] == "event"]
    assert "assigned" not in {f["event"] for f in events}
    async with httpx.AsyncClient(base_url=closed_desk.url) as http:
        sam = await login(closed_desk, "sam@example.com")
        detail = await http.get(f"/api/desk/conversations/{conv_id}", headers=sam.headers)
    assert detail.json()["conversation"]["state"] == "bot"


def _old_token(server: LiveServer, visitor_id: str, age_s: int) -> str:
    """A visitor token we signed ``age_s`` ago (past its TTL when that is long enough)."""

    class Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age_s

    serializer = URLSafeTimedSerializer(
        server.settings.security.secret_key, salt="livedesk.visitor", signer=Then
    )
    return serializer.dumps({"v": visitor_id, "s": server.settings.security.site_key})


async def test_an_expired_token_carries_an_open_conversation_over_and_says_so(
    desk: LiveServer,
) -> None:
    agent = await online(desk, await login(desk, "ana@example.com"))
    first = await visitor_session(desk)
    assert "token_status" not in first
    visitor, _ = await connect_visitor(desk, token=first["token"], codec="json")
    await visitor.recv_type("welcome")
    conv_id = (await visitor.send_text("Where is my parcel?"))["conversation_id"]
    await agent.recv_type("assigned")
    await visitor.close()
    expired = _old_token(
        desk, first["visitor_id"], desk.settings.security.visitor_token_ttl_s + 3600
    )
    renewed = await visitor_session(desk, token=expired)
    assert renewed["token_status"] == "carried_over"
    assert renewed["visitor_id"] == first["visitor_id"]
    again, _ = await connect_visitor(desk, token=renewed["token"], codec="json")
    welcome = await again.recv_type("welcome")
    assert welcome["conversation"]["conversation_id"] == conv_id


async def test_an_expired_token_with_nothing_open_or_a_garbage_one_is_a_new_visitor_told_why(
    desk: LiveServer,
) -> None:
    first = await visitor_session(desk)
    expired = _old_token(
        desk, first["visitor_id"], desk.settings.security.visitor_token_ttl_s + 3600
    )
    fresh = await visitor_session(desk, token=expired)
    assert fresh["token_status"] == "expired" and fresh["visitor_id"] != first["visitor_id"]
    garbage = await visitor_session(desk, token="not-a-token")
    assert garbage["token_status"] == "invalid"
    valid = await visitor_session(desk, token=first["token"])
    assert (valid["token_status"], valid["visitor_id"]) == ("valid", first["visitor_id"])


async def test_rating_twice_gets_already_rated(desk: LiveServer) -> None:
    agent = await online(desk, await login(desk, "ana@example.com"))
    visitor, conv_id = await chat_with(desk, agent)
    await visitor.send({"type": "rate", "conversation_id": conv_id, "score": 4})
    assert (await visitor.recv_type("error"))["code"] == "conflict"  # still open
    await visitor.send({"type": "close"})
    await visitor.recv_type("event", event="closed")
    await visitor.send({"type": "rate", "conversation_id": conv_id, "score": 4})
    await visitor.recv_type("rated")
    await visitor.send({"type": "rate", "conversation_id": conv_id, "score": 1})
    refused = await visitor.recv_type("error")
    assert refused["code"] == "already_rated" and refused["retryable"] is False


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path, flood_errors_before_close=3, rate_limit_burst=100)
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def test_the_flood_close_comes_at_the_documented_count(strict: LiveServer) -> None:
    visitor, _ = await connect_visitor(strict, codec="json")
    await visitor.recv_type("welcome")
    for _ in range(2):
        await visitor.send({"type": "nope"})
    assert [f["type"] for f in await everything(visitor)] == ["error", "error"]  # alive
    for _ in range(3):
        await visitor.send({"type": "nope"})
    errors = [await visitor.recv_type("error") for _ in range(3)]
    assert len(errors) == 3
    await asyncio.wait_for(visitor.ws.wait_closed(), 10)
    assert visitor.ws.close_code == 1008


async def test_a_credit_grant_reaches_the_connected_customer_as_balance(
    desk: LiveServer,
) -> None:
    email = "buyer@example.com"
    session = await visitor_session(
        desk,
        email=email,
        identity_hash=identity_hash(desk.settings.security.identity_secret or "", email),
    )
    visitor, _ = await connect_visitor(desk, token=session["token"], codec="json")
    assert (await visitor.recv_type("welcome"))["credits"] == {"balance": 0}
    ada = await login(desk, "ada@example.com")
    granted = await ada.post(
        f"/api/credits/{email}/grant", {"amount": 4, "reason": "goodwill", "action_id": "g1"}
    )
    assert granted.status_code == 201, granted.text
    assert (await visitor.recv_type("balance"))["balance"] == 4


async def test_every_api_error_is_json_with_a_code(desk: LiveServer) -> None:
    sam = await login(desk, "sam@example.com")
    async with httpx.AsyncClient(base_url=desk.url) as http:
        answers = {
            "unknown route": await http.get("/api/no/such/thing"),
            "wrong method": await http.get("/api/visitor/session"),
            "desk 404": await http.get("/api/desk/conversations/nope", headers=sam.headers),
            "desk 400": await http.get(
                "/api/desk/reports/tags?from=yesterday", headers=sam.headers
            ),
            "not logged in": await http.get("/api/desk/agents"),
        }
    for name, response in answers.items():
        assert response.status_code >= 400, name
        assert response.headers["content-type"].startswith("application/json"), name
        body = response.json()
        assert isinstance(body["error"], str) and isinstance(body["message"], str), name
    assert answers["unknown route"].json()["error"] == "not_found"
    assert answers["wrong method"].status_code == 405
    assert answers["wrong method"].json()["error"] == "method_not_allowed"
    assert "allow" in answers["wrong method"].headers


@pytest.fixture
def kb_desk(tmp_path: Path) -> Iterator[LiveServer]:
    from tests.integration.test_bot_and_kb import seed_kb

    settings = make_settings(tmp_path)
    seed_kb(settings)
    seed_agents(settings, *AGENTS)
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def helped_visitor(server: LiveServer) -> tuple[Client, str]:
    visitor, _ = await connect_visitor(server, language="en", codec="json")
    await visitor.recv_type("welcome")
    conv_id = (await visitor.send_text("hi"))["conversation_id"]
    await visitor.recv_type("message", author="bot", bot_kind="greeting")
    await visitor.send_text("How do I reset my password?")
    asked = await visitor.recv_until(
        lambda f: f.get("author") == "bot" and f.get("bot_kind") in ("answer", "offer")
    )
    await visitor.send_text(asked["quick_replies"][0]["text"])  # "Yes": it helped
    await visitor.recv_type("message", author="bot", bot_kind="helped")
    return visitor, conv_id


async def test_a_visitor_an_article_helped_leaves_the_queue_and_reaches_no_agent(
    kb_desk: LiveServer,
) -> None:
    visitor, conv_id = await helped_visitor(kb_desk)
    await visitor.close()  # walks away without pressing End chat
    agent = await online(kb_desk, await login(kb_desk, "ana@example.com"))
    # Had it stayed queued, it would be first in line for Ana, before anyone who came later.
    later, _ = await connect_visitor(kb_desk, language="en", codec="json")
    await later.recv_type("welcome")
    later_id = (await later.send_text("Where is my parcel?"))["conversation_id"]
    first = await agent.recv_type("assigned")
    assert first["conversation"]["conversation_id"] == later_id
    sam = await login(kb_desk, "sam@example.com")
    detail = await sam.get(f"/api/desk/conversations/{conv_id}")
    assert detail.json()["conversation"]["state"] == "bot"  # set aside, not closed


async def test_a_helped_visitor_who_then_asks_for_a_person_queues_again(
    kb_desk: LiveServer,
) -> None:
    visitor, conv_id = await helped_visitor(kb_desk)
    agent = await online(kb_desk, await login(kb_desk, "ana@example.com"))
    await visitor.send_text("I want to talk to a human")
    assigned = await agent.recv_type("assigned")
    assert assigned["conversation"]["conversation_id"] == conv_id


@pytest.fixture
def moving_desk(tmp_path: Path) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path, first_reply_timeout_s=3.0, first_reply_warning_s=2.0)
    seed_agents(settings, *AGENTS)
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def ana_has_a_chat_and_bob_has_room(server: LiveServer) -> tuple[Client, Client, Client, str]:
    ana = await online(server, await login(server, "ana@example.com"))
    visitor, conv_id = await chat_with(server, ana)
    bob = await online(server, await login(server, "bob@example.com"))
    return ana, bob, visitor, conv_id


async def test_a_chat_nobody_answered_moves_only_after_a_warning_naming_it(
    moving_desk: LiveServer,
) -> None:
    ana, bob, visitor, conv_id = await ana_has_a_chat_and_bob_has_room(moving_desk)
    warning = await ana.recv_type("reply_warning")
    assert warning["conversation_id"] == conv_id and 0 <= warning["moves_in_s"] <= 2
    gone = await ana.recv_type("unassigned", conversation_id=conv_id)
    assert gone["reason"] == "no_first_reply"
    assert (await bob.recv_type("assigned"))["conversation"]["conversation_id"] == conv_id
    # The visitor hears who joined, never "back in the queue".
    await visitor.recv_type("event", event="assigned", timeout=10)
    events = [f.get("event") for f in visitor.inbox + await everything(visitor)]
    assert "requeued" not in events and "moved" not in events


async def test_typing_after_the_warning_withdraws_it_and_keeps_the_chat(
    moving_desk: LiveServer,
) -> None:
    ana, bob, visitor, conv_id = await ana_has_a_chat_and_bob_has_room(moving_desk)
    await ana.recv_type("reply_warning", conversation_id=conv_id)
    await ana.send({"type": "typing", "conversation_id": conv_id, "active": True})
    withdrawn = await ana.recv_type("reply_warning", conversation_id=conv_id)
    assert withdrawn["moves_in_s"] is None
    # A draft held counts the same: the console reports it with `working`.
    await ana.recv_type("reply_warning", conversation_id=conv_id)
    await ana.send({"type": "working", "conversation_id": conv_id})
    assert (await ana.recv_type("reply_warning", conversation_id=conv_id))["moves_in_s"] is None
    await ana.send_text("Here I am", conversation_id=conv_id)
    assert [f for f in await everything(ana) if f["type"] == "unassigned"] == []


async def test_a_token_expired_for_longer_than_a_second_ttl_is_not_carried_over(
    desk: LiveServer,
) -> None:
    agent = await online(desk, await login(desk, "ana@example.com"))
    first = await visitor_session(desk)
    visitor, _ = await connect_visitor(desk, token=first["token"], codec="json")
    await visitor.recv_type("welcome")
    await visitor.send_text("Where is my parcel?")
    await agent.recv_type("assigned")
    ancient = _old_token(
        desk, first["visitor_id"], 2 * desk.settings.security.visitor_token_ttl_s + 60
    )
    fresh = await visitor_session(desk, token=ancient)
    assert fresh["token_status"] == "expired" and fresh["visitor_id"] != first["visitor_id"]
