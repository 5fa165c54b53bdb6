"""The bot across nodes and restarts: its state is folded from the stored transcript, so
the visitor's node, the routing node and a restarted process all see the same bot.
Real hub processes on Redis and PostgreSQL (a restarted one on its SQLite file)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from chatserver.backends.redis_keys import leader_key
from chatserver.backends.store import Store
from chatserver.cli.demo import import_kb
from chatserver.services.assist import Assistant
from chatserver.testing.loadtest import HubProcess
from tests.cluster_nodes import (
    agent_email,
    agent_on,
    cluster,
    running,
    target,
    until,
    visitor_on,
)
from tests.live import Client, connect_visitor
from tests.servers import RedisServer

KB_ARTICLES = Path(__file__).parents[1] / "data" / "kb_articles.jsonl"
ANSWERS = ("answer", "offer", "no_answer")


async def seed_kb(database_url: str) -> None:
    """Before the nodes start: each loads its index when it starts."""
    store = Store(database_url)
    assist = Assistant(store)
    try:
        await import_kb(assist, KB_ARTICLES)
    finally:
        await assist.stop()
        await store.stop()


async def leader_pid(redis_url: str) -> int | None:
    """The pid in the node id holding the leader lease (node ids are host-pid-random)."""
    async with Redis.from_url(redis_url) as redis:
        holder = await redis.get(leader_key())
    return int(holder.decode().split("-")[-2]) if holder else None


async def transcript(client: Client, conv_id: str) -> list[dict[str, Any]]:
    """The conversation as the store holds it now (a resume from the start), by seq."""
    await client.send({"type": "resume", "conversation_id": conv_id, "after_seq": 0})
    await client.recv_until(
        lambda f: f.get("type") == "resumed" and f["conversation"]["conversation_id"] == conv_id,
        timeout=15,
    )
    items = {
        f["seq"]: f
        for f in client.drop("message") + client.drop("event")
        if f.get("conversation_id") == conv_id
    }
    return [items[s] for s in sorted(items)]


async def until_stored(
    client: Client, conv_id: str, found: Callable[[list[dict[str, Any]]], bool], what: str
) -> list[dict[str, Any]]:
    """The transcript once ``found`` holds for it (another process writes it)."""

    async def check() -> list[dict[str, Any]] | None:
        items = await transcript(client, conv_id)
        return items if found(items) else None

    result: list[dict[str, Any]] = await until(check, what)
    return result


def bot_said(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in items if f.get("type") == "message" and f["author"] == "bot"]


def answered(seq: int) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda items: any(f.get("for_seq") == seq for f in bot_said(items))


def handed_off(items: list[dict[str, Any]]) -> bool:
    return any(f.get("event") == "handoff" for f in items)


async def test_visitor_on_the_node_that_does_not_route_is_greeted_first_answered_after_and_the_agent_gets_the_summary(
    postgres_url: str, redis_srv: RedisServer
) -> None:
    redis_srv.restart()  # no leader lease of an earlier test
    hubs = cluster(postgres_url, redis_srv.url, 2, agents=1, cap=1)
    await hubs[0].seed()
    await seed_kb(postgres_url)
    async with running(*hubs):
        pid = await until(lambda: leader_pid(redis_srv.url), "a leader")
        leader = next(h for h in hubs if h.pid == pid)
        other = next(h for h in hubs if h is not leader)

        # The only agent (cap 1) is busy with a first chat: the next visitor waits, with the bot.
        agent, _ = await agent_on(leader, agent_email(0))
        first, _ = await visitor_on(leader)
        busy = (await first.send_text("keeping the agent busy"))["conversation_id"]
        held = await agent.recv_type("assigned", timeout=30)
        assert held["conversation"]["conversation_id"] == busy

        # On the node that does not route, the visitor's first words are a question.
        visitor, _ = await visitor_on(other, language="en")
        question = await visitor.send_text("How do I reset my password?")
        conv_id = question["conversation_id"]
        items = await until_stored(
            visitor, conv_id, answered(question["seq"]), "the bot's answer to the question"
        )
        said = bot_said(items)
        assert said[0]["bot_kind"] == "greeting", [f.get("bot_kind") for f in said]
        assert [f["bot_kind"] for f in said].count("greeting") == 1
        reply = next(f for f in said if f.get("for_seq") == question["seq"])
        assert reply["bot_kind"] in ("answer", "offer") and reply["articles"]
        assert question["seq"] < said[0]["seq"] < reply["seq"]

        # A second question the knowledge base cannot answer: the no-answer line, after.
        unknown = await visitor.send_text("does the tv support hdmi 2.1")
        items = await until_stored(
            visitor, conv_id, answered(unknown["seq"]), "the bot's reply to the second question"
        )
        [no_answer] = [f for f in bot_said(items) if f.get("for_seq") == unknown["seq"]]
        assert no_answer["bot_kind"] == "no_answer" and no_answer["seq"] > unknown["seq"]

        # The agent frees up and takes the waiting chat: the bot's summary is theirs.
        await agent.send({"type": "close", "conversation_id": busy})
        taken = await agent.recv_type("assigned", timeout=30)
        assert taken["conversation"]["conversation_id"] == conv_id
        items = await until_stored(agent, conv_id, handed_off, "the hand-off summary")
        [handoff] = [f for f in items if f.get("event") == "handoff"]
        summary = handoff["data"]["summary"]
        assert "reset my password" in summary and "hdmi 2.1" in summary
        assert "Bot found no article." in summary
        assert handoff["seq"] > no_answer["seq"]


async def test_a_restarted_hub_remembers_what_its_bot_said_and_greets_only_once(
    tmp_path: Path,
) -> None:
    hub = HubProcess(1, 2, db_dir=str(tmp_path))
    await hub.seed()
    await seed_kb(hub.url_db)
    async with running(hub):
        visitor, token = await visitor_on(hub, language="en")
        question = await visitor.send_text("How do I reset my password?")
        conv_id = question["conversation_id"]
        items = await until_stored(
            visitor, conv_id, answered(question["seq"]), "the bot's answer to the question"
        )
        [asked] = [f for f in bot_said(items) if f.get("for_seq") == question["seq"]]
        assert asked["bot_kind"] in ("answer", "offer")

        hub.kill()  # kill -9: whatever it held in memory is gone
        hub.start()

        visitor, _ = await connect_visitor(target(hub), token=token)
        await visitor.recv_type("welcome", timeout=30)
        # "Yes" is feedback on the answer given before the restart: the bot knows it asked.
        yes = await visitor.send_text("Yes", conversation_id=conv_id)
        items = await until_stored(visitor, conv_id, answered(yes["seq"]), "the bot's thanks")
        said = bot_said(items)
        [thanks] = [f for f in said if f.get("for_seq") == yes["seq"]]
        assert thanks["bot_kind"] == "helped"
        assert [f["bot_kind"] for f in said].count("greeting") == 1

        # Helped, so out of the queue; a second restart does not queue it again: the agent
        # who comes online gets the next visitor's chat, not this one.
        hub.kill()
        hub.start()
        agent, _ = await agent_on(hub, agent_email(0))
        newcomer, _ = await visitor_on(hub)
        later = (await newcomer.send_text("a new question"))["conversation_id"]
        first = await agent.recv_type("assigned", timeout=30)
        assert first["conversation"]["conversation_id"] == later

        # After all, a person: the agent gets the whole story, from all three lives.
        visitor, _ = await connect_visitor(target(hub), token=token)
        await visitor.recv_type("welcome", timeout=30)
        human = await visitor.send_text("I want to talk to a human", conversation_id=conv_id)
        taken = await agent.recv_type("assigned", timeout=30)
        assert taken["conversation"]["conversation_id"] == conv_id
        items = await until_stored(agent, conv_id, handed_off, "the hand-off summary")
        assert answered(human["seq"])(items)
        assert [f["bot_kind"] for f in bot_said(items)].count("greeting") == 1
        [handoff] = [f for f in items if f.get("event") == "handoff"]
        summary = handoff["data"]["summary"]
        assert "reset my password" in summary and "Helped: yes" in summary
        assert summary.endswith("Visitor asked for a human: yes")
