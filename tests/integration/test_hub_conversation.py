"""One conversation end to end over real sockets against a real server on loopback."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from chatserver.live.auth import identity_hash
from tests.integration.conftest import AGENT_PASSWORD, add_agents
from tests.live import LiveServer, connect_agent, connect_visitor, login_cookie, visitor_session

pytestmark = pytest.mark.conformance


async def agent_client(server: LiveServer, email: str = "ana@example.com", codec: str = "msgpack"):
    cookie = await login_cookie(server, email, AGENT_PASSWORD)
    agent = await connect_agent(server, cookie, codec=codec)
    welcome = await agent.recv_type("welcome")
    return agent, welcome


async def start_chat(server: LiveServer, text: str = "Hello, my order is late"):
    """A visitor writes; returns (visitor, agent, conversation_id) once the agent has it."""
    agent, _ = await agent_client(server)
    visitor, token = await connect_visitor(server)
    await visitor.recv_type("welcome")
    ack = await visitor.send_text(text)
    conv_id = ack["conversation_id"]
    assigned = await agent.recv_type("assigned")
    assert assigned["conversation"]["conversation_id"] == conv_id
    return visitor, agent, conv_id, token


async def test_visitor_and_agent_exchange_messages_both_ways(server: LiveServer) -> None:
    visitor, agent, conv_id, _ = await start_chat(server)
    await agent.send({"type": "resume", "conversation_id": conv_id, "after_seq": 0})
    first = await agent.recv_type("message", conversation_id=conv_id)
    assert (first["author"], first["text"], first["seq"]) == (
        "visitor",
        "Hello, my order is late",
        1,
    )
    joined = await visitor.recv_type("event", event="assigned")
    assert joined["data"]["agent"]["name"] == "Ana"

    ack = await agent.send_text("Let me check that for you.", conversation_id=conv_id)
    reply = await visitor.recv_type("message", author="agent")
    assert reply["text"] == "Let me check that for you."
    assert reply["seq"] == ack["seq"] and reply["author_name"] == "Ana"

    await visitor.send_text("Thanks!")
    back = await agent.recv_type("message", author="visitor", text="Thanks!")
    assert back["seq"] == ack["seq"] + 1


async def test_json_subprotocol_carries_the_same_conversation(server: LiveServer) -> None:
    agent, _ = await agent_client(server, codec="json")
    visitor, _ = await connect_visitor(server, codec="json")
    assert visitor.ws.subprotocol == "livedesk.v1.json"
    await visitor.recv_type("welcome")
    ack = await visitor.send_text("Hi in JSON")
    assigned = await agent.recv_type("assigned")
    assert assigned["conversation"]["conversation_id"] == ack["conversation_id"]


async def test_typing_is_relayed_and_read_receipts_are_stored(server: LiveServer) -> None:
    visitor, agent, conv_id, token = await start_chat(server)
    await visitor.send({"type": "typing", "active": True})
    typing = await agent.recv_type("typing", conversation_id=conv_id)
    assert typing["who"] == "visitor" and typing["active"] is True

    ack = await agent.send_text("Hello!", conversation_id=conv_id)
    await visitor.send({"type": "seen", "conversation_id": conv_id, "seq": ack["seq"]})
    seen = await agent.recv_type("seen", who="visitor")
    assert seen["seq"] == ack["seq"]

    # Stored: a new socket of the same visitor is told how far they had read.
    await visitor.close()
    again, _ = await connect_visitor(server, token=token)
    welcome = await again.recv_type("welcome")
    assert welcome["conversation"]["visitor_seen_seq"] == ack["seq"]


async def test_read_receipt_never_goes_backwards_or_past_the_end(server: LiveServer) -> None:
    visitor, agent, conv_id, _ = await start_chat(server)
    ack = await agent.send_text("one", conversation_id=conv_id)
    await visitor.send({"type": "seen", "conversation_id": conv_id, "seq": 10_000})
    assert (await agent.recv_type("seen"))["seq"] == ack["seq"]
    await visitor.send({"type": "seen", "conversation_id": conv_id, "seq": 1})
    assert (await agent.recv_type("seen"))["seq"] == ack["seq"]


async def test_reconnect_mid_conversation_resumes_without_loss_or_duplicates(
    server: LiveServer,
) -> None:
    visitor, agent, conv_id, token = await start_chat(server)
    await visitor.recv_type("event", event="assigned")
    seen_seqs = [1, 2]  # the visitor's first message and the assignment event
    await visitor.close()
    # While the visitor is away, the agent writes three messages.
    for i in range(3):
        await agent.send_text(f"while you were away {i}", conversation_id=conv_id)
    visitor, _ = await connect_visitor(server, token=token)
    welcome = await visitor.recv_type("welcome")
    assert welcome["conversation"]["conversation_id"] == conv_id
    await visitor.send({"type": "resume", "conversation_id": conv_id, "after_seq": max(seen_seqs)})
    resumed = await visitor.recv_type("resumed")
    replay = visitor.drop("message") + visitor.drop("event")
    got = sorted(f["seq"] for f in replay)
    assert got == [3, 4, 5]
    assert [f["text"] for f in sorted(replay, key=lambda f: f["seq"])] == [
        f"while you were away {i}" for i in range(3)
    ]
    assert resumed["conversation"]["last_seq"] == 5
    # And live delivery goes on after the resume.
    await agent.send_text("still here", conversation_id=conv_id)
    live = await visitor.recv_type("message", text="still here")
    assert live["seq"] == 6


async def test_retried_send_is_stored_once_and_acked_as_duplicate(server: LiveServer) -> None:
    visitor, agent, conv_id, _ = await start_chat(server)
    first = await visitor.send_text("only once please", client_msg_id="retry-1")
    second = await visitor.send_text("only once please", client_msg_id="retry-1")
    assert first["duplicate"] is False and second["duplicate"] is True
    assert first["seq"] == second["seq"]
    await agent.send({"type": "resume", "conversation_id": conv_id, "after_seq": 0})
    await agent.recv_type("resumed")
    stored = {f["seq"] for f in agent.drop("message") if f["text"] == "only once please"}
    assert stored == {first["seq"]}


async def test_either_side_closes_and_the_visitor_can_start_again(server: LiveServer) -> None:
    visitor, agent, conv_id, _ = await start_chat(server)
    await agent.send({"type": "close", "conversation_id": conv_id})
    closed = await visitor.recv_type("event", event="closed")
    assert closed["data"]["by"] == "agent"
    await agent.recv_type("event", event="closed")
    # Further sends to the closed conversation are refused with a stable code...
    await agent.send(
        {"type": "send", "conversation_id": conv_id, "text": "late", "client_msg_id": "late1"}
    )
    error = await agent.recv_type("error")
    assert error["code"] == "conversation_closed"
    # ...and the visitor's next message opens a new conversation.
    ack = await visitor.send_text("one more question")
    assert ack["conversation_id"] != conv_id

    await visitor.send({"type": "close"})
    assert (await visitor.recv_type("event", event="closed"))["data"]["by"] == "visitor"


async def test_two_tabs_of_one_visitor_share_one_open_conversation(server: LiveServer) -> None:
    token = (await visitor_session(server))["token"]
    tab1, _ = await connect_visitor(server, token=token)
    tab2, _ = await connect_visitor(server, token=token)
    await tab1.recv_type("welcome")
    await tab2.recv_type("welcome")
    acks = await asyncio.gather(tab1.send_text("from tab one"), tab2.send_text("from tab two"))
    assert acks[0]["conversation_id"] == acks[1]["conversation_id"]
    # The send that opened it is its first item, stored with it; the other tab's comes
    # later (the chat's routing may write in between: the bot's greeting, say).
    first, second = sorted(a["seq"] for a in acks)
    assert first == 1 and second > 1


async def test_full_agent_leaves_the_next_visitor_queued_until_a_chat_closes(
    server: LiveServer, settings
) -> None:
    await add_agents(settings, ("solo@example.com", "agent", 1))
    # Ana and Sam stay offline in this test; Solo (cap 1) is the only one online.
    cookie = await login_cookie(server, "solo@example.com", AGENT_PASSWORD)
    solo = await connect_agent(server, cookie)
    await solo.recv_type("welcome")
    first, _ = await connect_visitor(server)
    second, _ = await connect_visitor(server)
    await first.recv_type("welcome")
    await second.recv_type("welcome")
    one = await first.send_text("first in line")
    assert (await solo.recv_type("assigned"))["conversation"]["conversation_id"] == one[
        "conversation_id"
    ]
    two = await second.send_text("second in line")
    queue = await second.recv_type("queue")
    assert queue["position"] == 1 and queue["conversation_id"] == two["conversation_id"]
    await solo.send({"type": "close", "conversation_id": one["conversation_id"]})
    nxt = await solo.recv_type("assigned")
    assert nxt["conversation"]["conversation_id"] == two["conversation_id"]


async def test_identity_hash_from_the_site_marks_the_visitor_verified(server: LiveServer) -> None:
    good = identity_hash("test-identity-secret", "Buyer@Example.com")
    verified = await visitor_session(server, email="buyer@example.com", identity_hash=good)
    forged = await visitor_session(server, email="buyer@example.com", identity_hash="0" * 64)
    bare = await visitor_session(server, email="buyer@example.com")
    assert (verified["verified"], forged["verified"], bare["verified"]) == (True, False, False)
    visitor, _ = await connect_visitor(server, token=verified["token"])
    assert (await visitor.recv_type("welcome"))["verified"] is True


async def test_session_renewal_keeps_the_visitor_and_never_echoes_tokens_elsewhere(
    server: LiveServer,
) -> None:
    first = await visitor_session(server)
    renewed = await visitor_session(server, token=first["token"])
    assert renewed["visitor_id"] == first["visitor_id"]
    visitor, _ = await connect_visitor(server, token=first["token"])
    welcome = await visitor.recv_type("welcome")
    assert first["token"] not in repr(welcome)


async def test_logout_ends_the_agents_sockets_and_cookie(server: LiveServer) -> None:
    cookie = await login_cookie(server, "ana@example.com", AGENT_PASSWORD)
    agent = await connect_agent(server, cookie)
    await agent.recv_type("welcome")
    old = {"cookie": f"{server.settings.security.session_cookie}={cookie}"}
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/api/me", headers=old)).status_code == 200
        await http.post("/logout", headers=old)
        # The old cookie is dead even if a client kept it.
        assert (await http.get("/api/me", headers=old)).status_code == 401
    await asyncio.wait_for(agent.ws.wait_closed(), 10)
    assert agent.ws.close_code == 4100


async def test_health_ready_and_metrics_endpoints_answer(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/healthz")).text == "ok"
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        metrics = await http.get("/metrics")
        assert "livedesk_frames_in_total" in metrics.text


async def test_server_restart_then_resume_returns_exactly_what_was_missed(
    server: LiveServer,
) -> None:
    visitor, agent, conv_id, token = await start_chat(server)
    acked = [
        await agent.send_text(f"before restart {i}", conversation_id=conv_id) for i in range(2)
    ]
    last_seen = (await visitor.recv_type("message", text="before restart 0"))["seq"]
    server.stop()
    restarted = LiveServer(server.settings, port=server.port).start()
    try:
        cookie = await login_cookie(restarted, "ana@example.com", AGENT_PASSWORD)
        agent2 = await connect_agent(restarted, cookie)
        welcome = await agent2.recv_type("welcome")
        assert [c["conversation_id"] for c in welcome["conversations"]] == [conv_id]
        after = await agent2.send_text("after restart", conversation_id=conv_id)
        assert after["seq"] == acked[-1]["seq"] + 1  # gapless across the restart

        visitor2, _ = await connect_visitor(restarted, token=token)
        assert (await visitor2.recv_type("welcome"))["conversation"]["conversation_id"] == conv_id
        await visitor2.send({"type": "resume", "conversation_id": conv_id, "after_seq": last_seen})
        await visitor2.recv_type("resumed")
        texts = [f["text"] for f in sorted(visitor2.drop("message"), key=lambda f: f["seq"])]
        assert texts == ["before restart 1", "after restart"]
    finally:
        restarted.stop()


async def test_a_message_is_not_echoed_to_its_sender_but_reaches_the_other_tabs(
    server: LiveServer,
) -> None:
    visitor, agent, conv_id, token = await start_chat(server)
    other_tab, _ = await connect_visitor(server, token=token)
    await other_tab.recv_type("welcome")
    await agent.send({"type": "resume", "conversation_id": conv_id, "after_seq": 0})
    await agent.recv_type("resumed", timeout=10)

    ack = await visitor.send_text("Sent from the first tab")
    seen_by_tab = await other_tab.recv_type("message", text="Sent from the first tab")
    seen_by_agent = await agent.recv_type("message", text="Sent from the first tab")
    assert seen_by_tab["seq"] == seen_by_agent["seq"] == ack["seq"]

    # Frames reach a socket in order: the agent's reply comes after anything the hub
    # would have sent the first tab for its own message, and no such frame came.
    reply = await agent.send_text("Got it", conversation_id=conv_id)
    await visitor.recv_type("message", seq=reply["seq"])
    assert not [
        f
        for f in visitor.inbox
        if f.get("type") == "message" and f.get("text") == "Sent from the first tab"
    ]

    # The agent's own text is not echoed to the agent either: its ack carries the seq.
    assert not [f for f in agent.inbox if f.get("type") == "message" and f.get("text") == "Got it"]
