"""A retried send is recognised per sender, not per role (issue 13, item 7): after a
transfer, the new agent's console may reuse a `client_msg_id` the old agent's used."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import Backend, seed_agents
from tests.integration.test_desk_api import chat_with, login, online
from tests.live import LiveServer

pytestmark = pytest.mark.conformance


@pytest.fixture
def desk(backend: Backend) -> Iterator[LiveServer]:
    settings = backend.settings()
    seed_agents(settings, ("ana@example.com", "agent", 5), ("bob@example.com", "agent", 5))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def test_after_a_transfer_the_new_agents_message_with_a_reused_id_is_stored(
    desk: LiveServer,
) -> None:
    ana, bob = await login(desk, "ana@example.com"), await login(desk, "bob@example.com")
    ana_ws = await online(desk, ana)
    visitor, conv_id = await chat_with(desk, ana_ws)
    first = await ana_ws.send_text("Ana here", conversation_id=conv_id, client_msg_id="c1")
    bob_ws = await online(desk, bob)
    bob_id = bob.me["id"]
    moved = await ana.post(f"/api/desk/conversations/{conv_id}/transfer", {"to_agent": bob_id})
    assert moved.status_code == 200, moved.text
    await bob_ws.recv_type("assigned")
    second = await bob_ws.send_text("Bob here", conversation_id=conv_id, client_msg_id="c1")
    assert not second["duplicate"] and second["seq"] > first["seq"]
    heard = await visitor.recv_type("message", author="agent", text="Bob here")
    assert heard["author_name"] == "Bob"
    # Bob's own retry is still one message.
    again = await bob_ws.send_text("Bob here", conversation_id=conv_id, client_msg_id="c1")
    assert again["duplicate"] and again["seq"] == second["seq"]
