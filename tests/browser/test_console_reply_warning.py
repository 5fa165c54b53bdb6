"""Chats taken from agents, in a real Chromium against a real hub with the first-reply
timeout on: the console names the chat before it moves, a draft counts as work (the chat
stays), and a chat taken away keeps its draft for when it comes back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatserver.cli.demo import seed_demo
from tests.browser.conftest import Wire, desk_page, expect, log_in, sign_in
from tests.browser.test_console import ANA, MARIUS
from tests.browser.test_console_desk import (
    BOB,
    agent_id,
    csrf_post,
    visitor,
    wire_agent_on,
)
from tests.integration.conftest import add_agents, make_settings
from tests.live import LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(tmp_path: Path, wire: Wire) -> Iterator[LiveServer]:
    settings = make_settings(
        tmp_path, cookie_secure=True, first_reply_timeout_s=4.0, first_reply_warning_s=3.0
    )
    wire.run(seed_demo(settings))
    wire.run(add_agents(settings, ("bob@example.com", "agent", 5)))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


def frames_of(page: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(frames the console received, frames it sent) on its agent socket, as they happen."""
    received: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []

    def on_socket(ws: Any) -> None:
        if not ws.url.endswith("/ws/agent"):
            return
        ws.on(
            "framereceived",
            lambda p: received.append(json.loads(p)) if isinstance(p, str) else None,
        )
        ws.on("framesent", lambda p: sent.append(json.loads(p)) if isinstance(p, str) else None)

    page.on("websocket", on_socket)
    return received, sent


def test_the_console_names_the_chat_before_it_moves_to_a_colleague(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    page = log_in(browser, desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")
    _, conv = visitor(wire, desk, "Vera", "Hello", language=None)  # Bob lists no language
    pane = page.locator(f'.chat[data-conversation-id="{conv}"]')
    expect(pane).to_have_count(1)
    wire_agent_on(wire, desk, *BOB)  # a colleague with room: the chat may move
    warning = pane.locator(".reply-warning")
    expect(warning).to_be_visible(timeout=10_000)
    expect(warning).to_contain_text("Chat with Vera moves to a colleague in")
    expect(page.locator(f'.tab[data-conversation-id="{conv}"]')).to_have_count(0, timeout=10_000)
    expect(page.locator(".toast")).to_contain_text("Chat with Vera moved to a colleague")
    page.context.close()


def test_a_draft_counts_as_work_and_the_chat_stays(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    page = desk_page(browser)
    received, sent = frames_of(page)  # before the console opens its socket
    sign_in(page, desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")
    _, conv = visitor(wire, desk, "Vera", "Hello", language=None)  # Bob lists no language
    composer = page.locator(f'.chat[data-conversation-id="{conv}"] textarea')
    composer.fill("Let me look that up")  # a draft, no typing frames after it
    wire_agent_on(wire, desk, *BOB)
    # The hub warns; the console answers with `working` for the draft; the warning is withdrawn.
    deadline_ms, waited = 15_000, 0
    while waited < deadline_ms and not any(
        f.get("type") == "working" and f.get("conversation_id") == conv for f in sent
    ):
        page.wait_for_timeout(100)  # Playwright delivers socket events while it waits
        waited += 100
    assert any(f.get("type") == "working" for f in sent), "the console never reported its draft"
    while waited < deadline_ms and not any(
        f.get("type") == "reply_warning" and f.get("moves_in_s") is None for f in received
    ):
        page.wait_for_timeout(100)
        waited += 100
    assert any(f.get("type") == "reply_warning" and f.get("moves_in_s") is None for f in received)
    assert not [f for f in received if f.get("type") == "unassigned"]
    expect(page.locator(f'.tab[data-conversation-id="{conv}"]')).to_have_count(1)
    expect(page.locator(f'.chat[data-conversation-id="{conv}"] .reply-warning')).to_be_hidden()
    page.context.close()


def test_a_chat_taken_away_keeps_its_draft_and_brings_it_back(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    page = log_in(browser, desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")
    _, conv = visitor(wire, desk, "Vera", "Hello", language=None)  # Bob lists no language
    composer = page.locator(f'.chat[data-conversation-id="{conv}"] textarea')
    composer.press_sequentially("Half an answer")
    wire_agent_on(wire, desk, *BOB)
    bob_id, ana_id = agent_id(wire, desk, BOB[0]), agent_id(wire, desk, ANA[0])
    # A supervisor moves it to Bob, and then back to Ana.
    marius = log_in(browser, desk, *MARIUS)
    expect(marius).to_have_url(desk.url + "/supervisor")
    url = f"{desk.url}/api/desk/conversations/{conv}/transfer"
    assert csrf_post(marius, url, {"to_agent": bob_id}).ok
    expect(page.locator(f'.tab[data-conversation-id="{conv}"]')).to_have_count(0)
    expect(page.locator(".toast")).to_contain_text("Your draft is kept")
    assert csrf_post(marius, url, {"to_agent": ana_id}).ok
    composer = page.locator(f'.chat[data-conversation-id="{conv}"] textarea')
    expect(composer).to_have_value("Half an answer")
    marius.context.close()
    page.context.close()
