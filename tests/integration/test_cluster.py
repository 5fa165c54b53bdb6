"""Hub processes on one Redis and one PostgreSQL: one routing leader, a shared capacity
ledger, frames crossing nodes. Real processes, real servers, loopback only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from chatserver.backends.redis_keys import leader_key
from chatserver.backends.store import Store
from chatserver.cli.demo import import_kb
from chatserver.services.assist import Assistant
from tests.cluster_nodes import (
    SUPERVISOR,
    Chat,
    HubProcess,
    agent_email,
    agent_on,
    board_on,
    chat_across,
    cluster,
    login,
    running,
    until,
    until_ready,
    until_subscribed,
    visitor_on,
)
from tests.servers import RedisServer

KB_ARTICLES = Path(__file__).parents[1] / "data" / "kb_articles.jsonl"


def fresh_redis(redis_srv: RedisServer) -> str:
    """The run's own Redis, emptied: no leader lease or leases of an earlier test."""
    redis_srv.restart()
    return redis_srv.url


@pytest.fixture
async def nodes(
    postgres_url: str, redis_srv: RedisServer
) -> AsyncIterator[tuple[HubProcess, HubProcess]]:
    a, b = cluster(postgres_url, fresh_redis(redis_srv), 2, agents=10, cap=5)
    await a.seed(supervisors=(SUPERVISOR,))
    async with running(a, b):
        yield a, b


@pytest.fixture
async def chat(nodes: tuple[HubProcess, HubProcess]) -> Chat:
    """The prelude most two-node tests share: the agent on node b, a visitor on node a."""
    a, b = nodes
    return await chat_across(a, b)


async def counts(database_url: str) -> dict[str, int]:
    store = Store(database_url)
    try:
        rows = await store.read(
            lambda c: list(
                c.execute(sa.text("SELECT state, count(*) AS n FROM conversations GROUP BY state"))
            )
        )
    finally:
        await store.stop()
    return {r.state: r.n for r in rows}


async def per_agent(database_url: str) -> dict[int, int]:
    store = Store(database_url)
    try:
        rows = await store.read(
            lambda c: list(
                c.execute(
                    sa.text(
                        "SELECT agent_id, count(*) AS n FROM conversations "
                        "WHERE state = 'active' GROUP BY agent_id"
                    )
                )
            )
        )
    finally:
        await store.stop()
    return {r.agent_id: r.n for r in rows}


async def test_two_nodes_fill_ten_agents_of_cap_five_exactly_and_a_close_pulls_the_next(
    nodes: tuple[HubProcess, HubProcess],
) -> None:
    a, b = nodes
    agents = [(await agent_on((a, b)[i % 2], agent_email(i)))[0] for i in range(10)]

    async def visitor(i: int) -> tuple[Any, str]:
        client, _ = await visitor_on((a, b)[i % 2])
        ack = await client.send_text(f"visitor {i} needs help")
        return client, ack["conversation_id"]

    visitors = await asyncio.gather(*(visitor(i) for i in range(200)))

    async def assigned_to(agent: Any, n: int) -> list[str]:
        return [
            (await agent.recv_type("assigned", timeout=60))["conversation"]["conversation_id"]
            for _ in range(n)
        ]

    held = await asyncio.gather(*(assigned_to(agent, 5) for agent in agents))
    assert len({c for chats in held for c in chats}) == 50
    waiting = [v for v, conv in visitors if conv not in {c for chats in held for c in chats}]
    assert len(waiting) == 150
    await asyncio.gather(*(v.recv_type("queue", timeout=60) for v in waiting))
    states = await counts(a.url_db)
    assert (states.get("active"), states.get("bot")) == (50, 150)
    assert max((await per_agent(a.url_db)).values()) == 5

    # Agent 3 (on node b) closes one: exactly one waiting conversation takes its slot.
    await agents[3].send({"type": "close", "conversation_id": held[3][0]})
    nxt = await agents[3].recv_type("assigned", timeout=30)
    assert nxt["conversation"]["conversation_id"] not in {c for chats in held for c in chats}
    states = await counts(a.url_db)
    assert (states.get("active"), states.get("bot"), states.get("closed")) == (50, 149, 1)
    assert max((await per_agent(a.url_db)).values()) == 5


async def test_visitor_on_one_node_and_agent_on_the_other_talk_both_ways(chat: Chat) -> None:
    visitor, agent, conv_id = chat.visitor, chat.agent, chat.conv_id
    await visitor.send({"type": "typing", "active": True})
    assert (await agent.recv_type("typing", timeout=10))["who"] == "visitor"
    ack = await agent.send_text("hello from node b", conversation_id=conv_id)
    reply = await visitor.recv_type("message", author="agent", timeout=10)
    assert (reply["text"], reply["seq"]) == ("hello from node b", ack["seq"])
    await visitor.send({"type": "seen", "conversation_id": conv_id, "seq": ack["seq"]})
    assert (await agent.recv_type("seen", timeout=10))["seq"] == ack["seq"]


async def test_node_killed_mid_chat_the_agent_resumes_on_the_other_and_nothing_is_lost(
    nodes: tuple[HubProcess, HubProcess], chat: Chat
) -> None:
    a, b = nodes
    visitor, agent, conv_id = chat.visitor, chat.agent, chat.conv_id
    await agent.send({"type": "resume", "conversation_id": conv_id, "after_seq": 0})
    await agent.recv_type("resumed", timeout=10)
    seen = max(f["seq"] for f in agent.drop("message") + agent.drop("event"))
    b.kill()  # kill -9: no goodbye
    acked = [await visitor.send_text(f"while node b is dead {i}") for i in range(3)]
    again, _ = await agent_on(a, agent_email(0))
    await again.send({"type": "resume", "conversation_id": conv_id, "after_seq": seen})
    await again.recv_type("resumed", timeout=10)
    got = [f for f in again.drop("message") if f["author"] == "visitor"]
    assert [f["seq"] for f in got] == [x["seq"] for x in acked]
    reply = await again.send_text("back on node a", conversation_id=conv_id)
    assert (await visitor.recv_type("message", author="agent", timeout=10))["seq"] == reply["seq"]


async def redis_outage(redis_srv: RedisServer, *nodes: HubProcess) -> None:
    """Redis stops until every node says 503; the caller does what it wants during the
    outage, then calls ``redis_back``."""
    redis_srv.stop()
    await asyncio.gather(*(until_ready(n, 503) for n in nodes))


async def redis_back(redis_srv: RedisServer, *nodes: HubProcess) -> None:
    redis_srv.start()
    await asyncio.gather(*(until_ready(n) for n in nodes))


def by_seq(frames: list[dict[str, Any]]) -> dict[int, set[str]]:
    texts: dict[int, set[str]] = {}
    for frame in frames:
        texts.setdefault(frame["seq"], set()).add(frame["text"])
    return texts


async def test_redis_restart_mid_chat_loses_and_doubles_nothing(
    nodes: tuple[HubProcess, HubProcess], redis_srv: RedisServer, chat: Chat
) -> None:
    visitor, agent, conv_id = chat.visitor, chat.agent, chat.conv_id
    await redis_outage(redis_srv, *nodes)
    # While the bus is down a message is stored and acked; live delivery misses it.
    during = await visitor.send_text("during the outage")
    await redis_back(redis_srv, *nodes)
    after = await visitor.send_text("after the outage")
    assert after["seq"] == during["seq"] + 1  # nobody else (the bot) spoke in between
    # The agent catches up by seq: everything once, in order.
    await agent.send({"type": "resume", "conversation_id": conv_id, "after_seq": 0})
    await agent.recv_type("resumed", timeout=10)
    texts = by_seq(agent.drop("message"))
    assert all(len(v) == 1 for v in texts.values())
    ordered = [next(iter(texts[s])) for s in sorted(texts)]
    assert [t for t in ordered if t.startswith(("hello from", "during", "after"))] == [
        "hello from the visitor's node",
        "during the outage",
        "after the outage",
    ]
    # The answer reaches the visitor exactly once, live or by resume.
    reply = await agent.send_text("still here", conversation_id=conv_id)
    await visitor.send({"type": "resume", "conversation_id": conv_id, "after_seq": 0})
    await visitor.recv_type("resumed", timeout=10)
    texts = by_seq(visitor.drop("message"))
    assert texts[reply["seq"]] == {"still here"}
    assert all(len(v) == 1 for v in texts.values())


async def test_after_a_redis_restart_the_first_frames_are_delivered_live(
    nodes: tuple[HubProcess, HubProcess], redis_srv: RedisServer, chat: Chat
) -> None:
    visitor, agent, conv_id = chat.visitor, chat.agent, chat.conv_id
    first = await agent.send_text("before the outage", conversation_id=conv_id)
    assert (await visitor.recv_type("message", author="agent", timeout=10))["seq"] == first["seq"]
    await redis_outage(redis_srv, *nodes)
    await redis_back(redis_srv, *nodes)
    reply = await agent.send_text("after the outage", conversation_id=conv_id)
    assert (await visitor.recv_type("message", author="agent", timeout=5))["seq"] == reply["seq"]


async def test_supervisor_on_either_node_sees_the_whole_desk(
    nodes: tuple[HubProcess, HubProcess], chat: Chat
) -> None:
    cookie = await login(nodes[0], SUPERVISOR)
    for node in nodes:
        board = await board_on(node, cookie)
        # Whichever node routes, each board shows the agent holding the chat (bounded wait).
        frame = await board.recv_until(
            lambda f: any(chat.conv_id in row.get("chats", []) for row in f.get("agents", [])),
            timeout=15,
        )
        assert frame["type"] == "board"


# ---------------------------------------------------------------------------- three nodes


async def seed_kb(database_url: str) -> None:
    store = Store(database_url)
    assist = Assistant(store)
    try:
        await import_kb(assist, KB_ARTICLES)
    finally:
        await assist.stop()
        await store.stop()


@pytest.fixture
async def three_nodes(
    postgres_url: str, redis_srv: RedisServer
) -> AsyncIterator[tuple[HubProcess, HubProcess, HubProcess]]:
    a, b, c = cluster(postgres_url, fresh_redis(redis_srv), 3, agents=1, cap=5)
    await a.seed(supervisors=(SUPERVISOR,))
    await seed_kb(postgres_url)  # before the nodes start: each loads its index on start
    async with running(a, b, c):
        yield a, b, c


def agent_row(frame: dict[str, Any], agent_id: int) -> dict[str, Any] | None:
    return next((r for r in frame.get("agents", []) if r["id"] == agent_id), None)


async def test_visitor_agent_and_supervisor_on_three_nodes_hold_a_full_conversation(
    three_nodes: tuple[HubProcess, HubProcess, HubProcess],
) -> None:
    a, b, c = three_nodes
    assert a.redis_url is not None
    board = await board_on(c, await login(c, SUPERVISOR))
    await board.recv_type("board", full=True, timeout=15)
    chat = await chat_across(a, b, language="en")
    visitor, agent, conv_id = chat.visitor, chat.agent, chat.conv_id

    # Supervisor on c: the agent's load on the board (routed by whichever node leads).
    row = agent_row(
        await board.recv_until(
            lambda f: (r := agent_row(f, chat.agent_id)) is not None and r["load"] == 1,
            timeout=15,
        ),
        chat.agent_id,
    )
    assert row is not None and row["chats"] == [conv_id] and row["cap"] == 5
    # ... and silent monitoring: the history so far, then the conversation live.
    await board.send({"type": "watch", "conversation_id": conv_id, "after_seq": 0})
    watching = await board.recv_type("watching", conversation_id=conv_id)
    assert watching["agent_id"] == chat.agent_id
    replayed = [f for f in board.drop("message") if f["conversation_id"] == conv_id]
    assert chat.first["seq"] in {f["seq"] for f in replayed}
    await until_subscribed(a.redis_url, conv_id, 3)  # a, b and c follow it now

    # Typing, visitor -> agent (and the supervisor).
    await visitor.send({"type": "typing", "active": True})
    assert (await agent.recv_type("typing", who="visitor", timeout=10))["active"] is True
    assert (await board.recv_type("typing", who="visitor", timeout=10))["active"] is True

    # A visitor's question on a: the agent on b gets it, and the knowledge base's answers.
    question = await visitor.send_text("How can I return my order and get a refund?")
    got = await agent.recv_type("message", seq=question["seq"], timeout=10)
    assert (got["author"], got["text"]) == (
        "visitor",
        "How can I return my order and get a refund?",
    )
    found = await agent.recv_type("suggestions", for_seq=question["seq"], timeout=15)
    assert found["conversation_id"] == conv_id and 1 <= len(found["items"]) <= 3
    titles = " ".join(item["title"].lower() for item in found["items"])
    assert "return" in titles or "refund" in titles
    watched = await board.recv_type("message", seq=question["seq"], timeout=10)
    assert watched["author"] == "visitor"

    # Typing, agent -> visitor (and the supervisor); then the answer, on a and on c.
    await agent.send({"type": "typing", "conversation_id": conv_id, "active": True})
    assert (await visitor.recv_type("typing", who="agent", timeout=10))["active"] is True
    assert (await board.recv_type("typing", who="agent", timeout=10))["active"] is True
    answer = await agent.send_text(
        "Open My account, Orders, then Return items.", conversation_id=conv_id
    )
    reply = await visitor.recv_type("message", seq=answer["seq"], timeout=10)
    assert (reply["author"], reply["text"]) == (
        "agent",
        "Open My account, Orders, then Return items.",
    )
    assert (await board.recv_type("message", seq=answer["seq"], timeout=10))["author"] == "agent"

    # Read receipts both ways, seen by the supervisor too.
    await visitor.send({"type": "seen", "conversation_id": conv_id, "seq": answer["seq"]})
    receipt = await agent.recv_type("seen", who="visitor", timeout=10)
    assert receipt["seq"] == answer["seq"]
    await agent.send({"type": "seen", "conversation_id": conv_id, "seq": question["seq"]})
    receipt = await visitor.recv_type("seen", who="agent", timeout=10)
    assert receipt["seq"] == question["seq"]
    assert (await board.recv_type("seen", who="visitor", timeout=10))["seq"] == answer["seq"]
    assert (await board.recv_type("seen", who="agent", timeout=10))["seq"] == question["seq"]


async def leader_holder(redis_url: str) -> bytes | None:
    async with Redis.from_url(redis_url) as redis:
        return await redis.get(leader_key())


async def test_after_a_redis_restart_agents_connected_all_along_still_get_new_chats(
    postgres_url: str, redis_srv: RedisServer
) -> None:
    # A quick re-election and slow heartbeats: the election comes first, as it mostly does.
    fast_election = {"LIVEDESK_LEADER_LEASE_TTL_S": "3", "LIVEDESK_PRESENCE_TTL_S": "60"}
    a, b = cluster(postgres_url, fresh_redis(redis_srv), 2, agents=1, **fast_election)
    await a.seed()
    async with running(a, b):
        chat = await chat_across(a, b)
        await redis_outage(redis_srv, a, b)
        await redis_back(redis_srv, a, b)
        await until(lambda: leader_holder(redis_srv.url), "a leader elected after the outage")
        newcomer, _ = await visitor_on(a)
        await newcomer.send_text("hello after the outage")
        # A loaded machine may take a few lease terms to settle on one leader after the
        # outage; the chat must still reach the agent who stayed connected.
        assigned = await chat.agent.recv_type("assigned", timeout=30)
        assert assigned["conversation"]["conversation_id"] != chat.conv_id
