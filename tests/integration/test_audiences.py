"""Who receives what (``protocol.AUDIENCES``): what staff write about a visitor — the
transfer note one agent leaves the next, the bot's hand-off summary — reaches staff and
never the visitor, live or on resume, while the visitor keeps a gapless ``seq``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chatserver.core.protocol import HIDDEN_EVENT
from tests.integration.conftest import Backend, seed_agents
from tests.integration.test_bot_and_kb import online_agent, seed_kb
from tests.integration.test_desk_api import chat_with, login, online
from tests.live import Client, LiveServer, connect_visitor

pytestmark = pytest.mark.conformance

NOTE = "prefers e-mail; suspected fraud, check the card"


@pytest.fixture
def two_agents(backend: Backend) -> Iterator[LiveServer]:
    settings = backend.settings()
    seed_kb(settings)
    seed_agents(settings, ("ana@example.com", "agent", 5), ("bob@example.com", "agent", 5))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def replay(client: Client, conv_id: str) -> list[dict[str, Any]]:
    """Every stored item of the conversation as ``client`` has it after a ``resume``, by
    seq (a live frame arriving meanwhile is the same item again: clients drop repeats)."""
    client.inbox.clear()
    await client.send({"type": "resume", "conversation_id": conv_id, "after_seq": 0})
    items: dict[int, dict[str, Any]] = {}
    while (frame := await client.recv(timeout=10))["type"] != "resumed":
        if frame["type"] in ("message", "event") and frame["conversation_id"] == conv_id:
            assert items.setdefault(frame["seq"], frame) == frame, "one seq, two contents"
    return [items[seq] for seq in sorted(items)]


def summaries(frame: dict[str, Any]) -> bool:
    return frame.get("event") == "handoff" or "summary" in (frame.get("data") or {})


def leaks(frames: list[dict[str, Any]], secret: str) -> list[dict[str, Any]]:
    return [f for f in frames if secret in repr(f)]


async def test_the_transfer_note_reaches_the_agents_and_never_the_visitor(
    two_agents: LiveServer,
) -> None:
    ana, bob = (
        await login(two_agents, "ana@example.com"),
        await login(two_agents, "bob@example.com"),
    )
    ana_ws = await online(two_agents, ana)
    visitor, conv_id = await chat_with(two_agents, ana_ws)
    bob_ws = await online(two_agents, bob)
    moved = await ana.post(
        f"/api/desk/conversations/{conv_id}/transfer", {"to_agent": bob.me["id"], "note": NOTE}
    )
    assert moved.status_code == 200, moved.text

    # Live: the visitor hears that a colleague takes over; the note stays with the staff.
    told = await visitor.recv_type("event", event="transferred", timeout=10)
    assert "note" not in told["data"] and "override" not in told["data"]
    assert (await bob_ws.recv_type("assigned"))["conversation"]["conversation_id"] == conv_id
    bob_view = await replay(bob_ws, conv_id)
    assert [f["data"]["note"] for f in bob_view if f.get("event") == "transferred"] == [NOTE]
    assert leaks(visitor.inbox, NOTE) == []

    # On resume: the same.
    items = await replay(visitor, conv_id)
    assert [f["seq"] for f in items] == list(range(1, len(items) + 1))
    assert [f["seq"] for f in items if f.get("event") == "transferred"] == [told["seq"]]
    assert leaks(items, NOTE) == []


async def test_the_bots_handoff_summary_reaches_the_agent_and_never_the_visitor(
    two_agents: LiveServer,
) -> None:
    visitor, _ = await connect_visitor(two_agents, language="en")
    await visitor.recv_type("welcome")
    await visitor.send_text("hi")
    asked = await visitor.send_text("How do I reset my password?")
    conv_id = asked["conversation_id"]
    await visitor.recv_until(
        lambda f: f.get("author") == "bot" and f.get("seq", 0) > asked["seq"], timeout=10
    )

    agent = await online_agent(two_agents)
    await agent.recv_type("assigned")
    handoff = await agent.recv_type("event", event="handoff", timeout=10)
    assert "reset my password" in handoff["data"]["summary"]
    again = [f for f in await replay(agent, conv_id) if f.get("event") == "handoff"]
    assert [f["data"]["summary"] for f in again] == [handoff["data"]["summary"]]

    # Live: the visitor gets the summary's place in the conversation, nothing of it.
    stand_in = await visitor.recv_type("event", seq=handoff["seq"], timeout=10)
    assert (stand_in["event"], stand_in["data"]) == (HIDDEN_EVENT, {})
    assert [f for f in visitor.inbox if summaries(f)] == []

    # On resume: the same, and the visitor's seqs stay gapless.
    items = await replay(visitor, conv_id)
    assert [f["seq"] for f in items] == list(range(1, len(items) + 1))
    assert [f for f in items if summaries(f)] == []
    assert items[handoff["seq"] - 1]["event"] == HIDDEN_EVENT
