"""Bad input gets a clear answer and loses nothing; abuse closes; strangers see nothing."""

from __future__ import annotations

import asyncio

import httpx
import msgpack
import pytest
from websockets.exceptions import InvalidStatus

from tests.integration.conftest import AGENT_PASSWORD, Backend, add_agents, make_settings
from tests.integration.test_hub_conversation import start_chat
from tests.live import LiveServer, connect_agent, connect_visitor, login_cookie

pytestmark = pytest.mark.conformance


async def still_alive(client) -> None:
    await client.send({"type": "ping"})
    assert (await client.recv_type("pong"))["type"] == "pong"


async def test_undecodable_frame_gets_bad_frame_and_the_socket_lives(server: LiveServer) -> None:
    visitor, _ = await connect_visitor(server)
    await visitor.recv_type("welcome")
    await visitor.ws.send(b"\xc1\xff not msgpack")
    assert (await visitor.recv_type("error"))["code"] == "bad_frame"
    await visitor.ws.send(msgpack.packb([1, 2, 3]))
    assert (await visitor.recv_type("error"))["code"] == "bad_frame"
    await still_alive(visitor)


async def test_unknown_or_missing_type_gets_unknown_type(server: LiveServer) -> None:
    visitor, _ = await connect_visitor(server)
    await visitor.recv_type("welcome")
    for frame in (
        {"type": "explode"},
        {"text": "no type"},
        {"type": 7},
        {"type": "status", "status": "online"},
    ):
        await visitor.send(frame)
        assert (await visitor.recv_type("error"))["code"] == "unknown_type"
    await still_alive(visitor)


@pytest.mark.parametrize("bad_id", [0, "0e1x!", True, ["a"], {"a": 1}, "", "x" * 65, 1.5])
async def test_loosely_typed_ids_are_refused_and_match_nothing(server: LiveServer, bad_id) -> None:
    victim, agent, conv_id, _ = await start_chat(server, "my secret order number is 42")
    attacker, _ = await connect_visitor(server)
    await attacker.recv_type("welcome")
    await attacker.send({"type": "resume", "conversation_id": bad_id, "after_seq": 0})
    error = await attacker.recv_type("error")
    assert error["code"] == "invalid_field"
    await still_alive(attacker)
    assert not attacker.drop("message")


async def test_mistyped_fields_name_what_is_wrong(server: LiveServer) -> None:
    visitor, _ = await connect_visitor(server)
    await visitor.recv_type("welcome")
    cases = [
        {"type": "send", "text": 5, "client_msg_id": "a1"},
        {"type": "send", "text": "hi"},
        {"type": "send", "text": "   ", "client_msg_id": "a2"},
        {"type": "typing", "active": "yes"},
        {"type": "seen", "conversation_id": "abc", "seq": -1},
        {"type": "seen", "conversation_id": "abc", "seq": True},
        {"type": "resume", "conversation_id": "abc", "after_seq": "5"},
    ]
    for frame in cases:
        await visitor.send(frame)
        error = await visitor.recv_type("error")
        assert error["code"] == "invalid_field", frame
        assert error["retryable"] is False
    await still_alive(visitor)


async def test_text_over_the_limit_is_refused_and_nothing_is_stored(server: LiveServer) -> None:
    visitor, _ = await connect_visitor(server)
    welcome = await visitor.recv_type("welcome")
    limit = welcome["limits"]["max_text_chars"]
    await visitor.send({"type": "send", "text": "x" * (limit + 1), "client_msg_id": "long1"})
    error = await visitor.recv_type("error")
    assert error["code"] == "text_too_long" and error["ref"] == "long1"
    ack = await visitor.send_text("short one")
    assert ack["seq"] == 1  # the long one never took a seq


async def test_frame_over_the_size_cap_closes_with_1009(server: LiveServer) -> None:
    visitor, _ = await connect_visitor(server)
    await visitor.recv_type("welcome")
    await visitor.ws.send(b"\x00" * (server.settings.limits.max_frame_bytes + 1))
    await asyncio.wait_for(visitor.ws.wait_closed(), 10)
    assert visitor.ws.close_code == 1009


async def test_flood_gets_rate_limited_then_closed_with_1008(backend: Backend) -> None:
    settings = backend.settings(
        rate_limit_per_s=1.0, rate_limit_burst=5, flood_errors_before_close=10
    )
    server = LiveServer(settings).start()
    try:
        visitor, _ = await connect_visitor(server)
        await visitor.recv_type("welcome")
        for _ in range(40):
            await visitor.send({"type": "ping"})
        codes = []
        while True:
            try:
                frame = await visitor.recv(5)
            except Exception:
                break
            if frame["type"] == "error":
                codes.append(frame["code"])
        assert "rate_limited" in codes
        await asyncio.wait_for(visitor.ws.wait_closed(), 10)
        assert visitor.ws.close_code == 1008
    finally:
        server.stop()


async def test_missing_bad_or_self_chosen_visitor_token_is_refused_at_the_handshake(
    server: LiveServer,
) -> None:
    from websockets.asyncio.client import connect

    forged = [None, "not-a-token", "eyJ2IjoiYWFhYSIsInMiOiJkZWZhdWx0In0.fake.sig"]
    for token in forged:
        protocols = ["livedesk.v1.msgpack"] + ([f"livedesk.token.{token}"] if token else [])
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{server.ws_url}/ws/visitor", subprotocols=protocols, origin=server.url)
        assert refused.value.response.status_code == 403


async def test_token_signed_with_another_key_is_refused(server: LiveServer, tmp_path) -> None:
    from chatserver.live.auth import Tokens

    other = Tokens(make_settings(tmp_path, secret_key="someone-elses-key"))
    token = other.issue_visitor_token(other.new_visitor_id(), "default")
    with pytest.raises(InvalidStatus):
        await connect_visitor(server, token=token)


async def test_agent_socket_needs_a_valid_cookie_and_its_own_origin(server: LiveServer) -> None:
    cookie = await login_cookie(server, "ana@example.com", AGENT_PASSWORD)
    with pytest.raises(InvalidStatus) as foreign:
        await connect_agent(server, cookie, origin="https://evil.example")
    assert foreign.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        await connect_agent(server, "forged-cookie")
    agent = await connect_agent(server, cookie)
    assert (await agent.recv_type("welcome"))["agent"]["name"] == "Ana"


async def test_visitor_from_an_unlisted_origin_is_refused(server: LiveServer) -> None:
    with pytest.raises(InvalidStatus):
        await connect_visitor(server, origin="https://not-our-site.example")
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            "/api/visitor/session", json={}, headers={"origin": "https://not-our-site.example"}
        )
        assert response.status_code == 403


async def test_another_visitors_conversation_is_forbidden_and_leaks_nothing(
    server: LiveServer,
) -> None:
    victim, agent, conv_id, _ = await start_chat(server, "my secret order number is 42")
    attacker, _ = await connect_visitor(server)
    await attacker.recv_type("welcome")
    probes = [
        {"type": "resume", "conversation_id": conv_id, "after_seq": 0},
        {"type": "seen", "conversation_id": conv_id, "seq": 1},
        {"type": "close", "conversation_id": conv_id},
        {"type": "typing", "conversation_id": conv_id, "active": True},
        {"type": "send", "conversation_id": conv_id, "text": "hi", "client_msg_id": "x1"},
        {"type": "resume", "conversation_id": "doesNotExist", "after_seq": 0},
    ]
    for probe in probes:
        await attacker.send(probe)
        assert (await attacker.recv_type("error"))["code"] == "forbidden", probe
    await still_alive(attacker)
    assert not [
        f for f in attacker.inbox if f.get("type") in ("message", "event", "typing", "seen")
    ]
    # The victim's conversation is untouched.
    await victim.send_text("still mine")
    assert (await agent.recv_type("message", text="still mine"))["conversation_id"] == conv_id


async def test_agent_cannot_touch_a_conversation_that_is_not_theirs(backend: Backend) -> None:
    settings = backend.settings()
    await add_agents(settings, ("ana@example.com", "agent", 1), ("bob@example.com", "agent", 1))
    server = LiveServer(settings).start()
    try:
        ana = await connect_agent(
            server, await login_cookie(server, "ana@example.com", AGENT_PASSWORD)
        )
        await ana.recv_type("welcome")
        bob = await connect_agent(
            server, await login_cookie(server, "bob@example.com", AGENT_PASSWORD)
        )
        await bob.recv_type("welcome")
        visitor, _ = await connect_visitor(server)
        await visitor.recv_type("welcome")
        ack = await visitor.send_text("who gets me?")
        conv_id = ack["conversation_id"]
        winner, loser = await _who_got(ana, bob, conv_id)
        for probe in (
            {"type": "send", "conversation_id": conv_id, "text": "mine now", "client_msg_id": "s1"},
            {"type": "resume", "conversation_id": conv_id, "after_seq": 0},
            {"type": "close", "conversation_id": conv_id},
        ):
            await loser.send(probe)
            assert (await loser.recv_type("error"))["code"] == "forbidden"
    finally:
        server.stop()


async def _who_got(a, b, conv_id):
    """(winner, loser): which of two agents the conversation was assigned to."""
    tasks = {asyncio.create_task(c.recv_type("assigned")): c for c in (a, b)}
    done, pending = await asyncio.wait(tasks, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    assert done, "nobody was assigned the conversation"
    task = done.pop()
    assert task.result()["conversation"]["conversation_id"] == conv_id
    winner = tasks[task]
    return winner, (b if winner is a else a)
