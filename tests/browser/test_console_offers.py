"""Manual accept in the agent console (``auto_accept=False``): the router offers a chat with
``offer``; the console shows it as an "incoming chat" card with a countdown and Accept /
Decline, answers with ``accept`` / ``decline``, and drops the card on ``offer_withdrawn``.

A real hub and a real Chromium; visitors speak the wire protocol from the ``Wire`` thread
(Playwright's sync API cannot run inside a running event loop). The console's own socket is
watched through Playwright's websocket events, so the tests see which frames it sent and got.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Wire
from tests.browser.test_console import new_visitor
from tests.integration.conftest import AGENT_PASSWORD, add_agents, make_settings
from tests.live import Client, LiveServer

pytestmark = pytest.mark.browser
ANA = "ana@example.com"
LONG_DEADLINE_S = 120.0  # never runs out during a test that answers the offer


@pytest.fixture
def manual_desk(tmp_path: Path, wire: Wire) -> Iterator[Callable[..., LiveServer]]:
    """Start a hub with manual accept on and a single agent, Ana (nobody online yet)."""
    servers: list[LiveServer] = []

    def start(accept_timeout_s: float = LONG_DEADLINE_S) -> LiveServer:
        settings = make_settings(
            tmp_path,
            cookie_secure=True,
            first_reply_timeout_s=None,
            auto_accept=False,
            accept_timeout_s=accept_timeout_s,
        )
        # Seeding runs on the wire's loop: Playwright's sync API keeps a loop on this thread.
        wire.run(add_agents(settings, (ANA, "agent", 5)))
        servers.append(LiveServer(settings).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@dataclass
class Console:
    """Ana's console page and every JSON frame its agent socket sent and received."""

    page: Any
    sent: list[dict[str, Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def offer(self, conv_id: str) -> Any:
        return self.page.locator(f'#offers .offer[data-conversation-id="{conv_id}"]')

    def tab(self, conv_id: str) -> Any:
        return self.page.locator(f'.tab[data-conversation-id="{conv_id}"]')

    def pane(self, conv_id: str) -> Any:
        return self.page.locator(f'.chat[data-conversation-id="{conv_id}"]')

    def answers(self) -> list[dict[str, Any]]:
        return [f for f in self.sent if f.get("type") in ("accept", "decline")]


def open_console(browser: Any, server: LiveServer, email: str = ANA) -> Console:
    """Log in through the login page; the frame recorder is on before the socket opens."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 860}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    console = Console(page)

    def record(into: list[dict[str, Any]]) -> Callable[[str | bytes], None]:
        def on_frame(payload: str | bytes) -> None:
            if isinstance(payload, str):
                into.append(json.loads(payload))

        return on_frame

    def on_websocket(ws: Any) -> None:
        if ws.url.endswith("/ws/agent"):
            ws.on("framesent", record(console.sent))
            ws.on("framereceived", record(console.received))

    def on_dialog(dialog: Any) -> None:
        console.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("websocket", on_websocket)
    page.on("dialog", on_dialog)
    page.goto(server.url + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", AGENT_PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(server.url + "/agent")
    expect(page.locator("#link")).to_have_text("online")
    return console


def stored(wire: Wire, server: LiveServer, conv_id: str) -> tuple[str, int | None]:
    conv = wire.run(server.app.state.store.get_conversation(conv_id))
    assert conv is not None
    return conv.state, conv.agent_id


def agent_id(wire: Wire, server: LiveServer, email: str = ANA) -> int:
    agent = wire.run(server.app.state.store.get_agent_by_email(email))
    assert agent is not None
    return int(agent.id)


def visitor_writes(wire: Wire, server: LiveServer, name: str, text: str) -> tuple[Client, str]:
    """A visitor (closed with the wire) who writes first: the conversation to be offered."""
    client, conv_id = wire.run(new_visitor(server, name, text))
    wire.clients.append(client)
    return client, conv_id


def test_an_offer_shows_with_a_countdown_and_accepting_opens_the_chat(
    browser: Any, manual_desk: Callable[..., LiveServer], wire: Wire, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    server = manual_desk()
    console = open_console(browser, server)
    page = console.page
    expect(page.locator("#offers")).to_be_hidden()  # nothing offered yet
    beeps = int(page.evaluate("document.body.dataset.beeps || 0"))

    vera, conv_id = visitor_writes(
        wire, server, "Vera <b>Bold</b>", "Hello, I was charged twice for my order"
    )
    card = console.offer(conv_id)
    expect(card).to_be_visible()
    expect(page.locator("#offers")).to_be_visible()
    # What the agent decides on, all of it as text (never as markup).
    expect(card.locator(".offer-name")).to_have_text("Vera <b>Bold</b>")
    expect(card.locator(".offer-preview")).to_have_text("Hello, I was charged twice for my order")
    expect(card.locator(".offer-name b")).to_have_count(0)
    # A countdown to the deadline that actually counts down.
    timer = card.locator("[role=timer]")
    expect(timer).to_have_text(re.compile(r"^\d+:\d\d$"))
    first = timer.inner_text()
    expect(timer).not_to_have_text(first, timeout=5_000)
    # The console's existing notifications: the beep and the title badge.
    assert int(page.evaluate("document.body.dataset.beeps || 0")) > beeps
    expect(page).to_have_title(re.compile(r"^\(1\) "))
    # Not the agent's chat yet.
    expect(console.tab(conv_id)).to_have_count(0)
    assert stored(wire, server, conv_id) == ("offered", agent_id(wire, server))
    page.screenshot(path=str(artifacts / "console-offer.png"))

    # Accept from the keyboard: the button is focusable and labelled for screen readers.
    accept = card.get_by_role("button", name=re.compile(r"^Accept chat with Vera"))
    accept.focus()
    page.keyboard.press("Enter")
    expect(card).to_have_count(0)
    assert console.answers() == [{"type": "accept", "conversation_id": conv_id}]

    # The normal `assigned` flow opens the chat, with the visitor's message in it.
    tab = console.tab(conv_id)
    expect(tab).to_have_attribute("aria-selected", "true")
    pane = console.pane(conv_id)
    expect(pane.locator("li.item.visitor .text")).to_have_text(
        ["Hello, I was charged twice for my order"]
    )
    expect(pane.locator(".chat-head .state")).to_have_text("active")
    expect(page.locator("#offers")).to_be_hidden()
    expect(page).to_have_title(re.compile(r"^Console"))
    joined = wire.run(vera.recv_type("event", event="assigned"))
    assert joined["data"]["agent"]["name"] == "Ana"
    assert stored(wire, server, conv_id) == ("active", agent_id(wire, server))
    assert console.dialogs == []
    page.context.close()


def test_declining_an_offer_passes_the_chat_on(
    browser: Any, manual_desk: Callable[..., LiveServer], wire: Wire
) -> None:
    from playwright.sync_api import expect

    server = manual_desk()
    console = open_console(browser, server)
    page = console.page
    walt, conv_id = visitor_writes(wire, server, "Walt", "Is anyone there?")
    card = console.offer(conv_id)
    expect(card).to_be_visible()
    expect(card.get_by_role("button", name=re.compile(r"^Decline chat with Walt"))).to_be_visible()

    page.keyboard.press("Alt+n")  # decline the most urgent offer, from anywhere
    expect(card).to_have_count(0)
    assert console.answers() == [{"type": "decline", "conversation_id": conv_id}]

    # The hub passes it on; with Ana the only agent, it goes back to waiting.
    requeued = wire.run(walt.recv_type("event", event="requeued"))
    assert requeued["data"]["reason"] == "declined"
    assert stored(wire, server, conv_id) == ("bot", None)
    assert not any(
        f.get("type") == "assigned" and f["conversation"]["conversation_id"] == conv_id
        for f in console.received
    )
    expect(console.tab(conv_id)).to_have_count(0)
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("#offers")).to_be_hidden()
    page.context.close()


def test_an_unanswered_offer_goes_away_when_the_hub_withdraws_it(
    browser: Any, manual_desk: Callable[..., LiveServer], wire: Wire
) -> None:
    from playwright.sync_api import expect

    server = manual_desk(accept_timeout_s=3.0)
    console = open_console(browser, server)
    page = console.page
    una, conv_id = visitor_writes(wire, server, "Una", "Hello?")
    card = console.offer(conv_id)
    expect(card).to_be_visible()
    expect(card.locator("[role=timer]")).to_have_text(re.compile(r"^0:0[0-3]$"))

    # Nobody answers: the hub withdraws the offer and the card goes, with a short note.
    expect(card).to_have_count(0, timeout=15_000)
    expect(page.locator(".toast", has_text="moved on (timeout)")).to_be_visible()
    withdrawn = [f for f in console.received if f.get("type") == "offer_withdrawn"]
    assert withdrawn == [
        {"type": "offer_withdrawn", "conversation_id": conv_id, "reason": "accept_timeout"}
    ]
    assert console.answers() == []
    requeued = wire.run(una.recv_type("event", event="requeued"))
    assert requeued["data"]["reason"] == "accept_timeout"
    assert stored(wire, server, conv_id) == ("bot", None)
    expect(console.tab(conv_id)).to_have_count(0)
    expect(page.locator("#offers")).to_be_hidden()
    page.context.close()


def test_several_offers_are_listed_each_with_its_own_countdown(
    browser: Any, manual_desk: Callable[..., LiveServer], wire: Wire, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    server = manual_desk()
    console = open_console(browser, server)
    page = console.page
    payload = '<img src=x onerror="alert(1)">'
    first, first_conv = visitor_writes(wire, server, payload, "First: " + payload)
    expect(console.offer(first_conv)).to_be_visible()
    second, second_conv = visitor_writes(wire, server, "Walt", "Second in line")

    cards = page.locator("#offers .offer")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_have_attribute("data-conversation-id", first_conv)
    expect(cards.nth(1)).to_have_attribute("data-conversation-id", second_conv)
    expect(cards.locator("[role=timer]")).to_have_count(2)
    expect(console.offer(first_conv).locator(".offer-name")).to_have_text(payload)
    expect(page).to_have_title(re.compile(r"^\(2\) "))
    page.screenshot(path=str(artifacts / "console-offers.png"))

    # Alt+Y takes the most urgent offer (the oldest); the other one stays, still counting.
    page.keyboard.press("Alt+y")
    expect(console.offer(first_conv)).to_have_count(0)
    assert console.answers() == [{"type": "accept", "conversation_id": first_conv}]
    expect(console.tab(first_conv)).to_have_attribute("aria-selected", "true")
    left = console.offer(second_conv)
    expect(left).to_be_visible()
    timer = left.locator("[role=timer]")
    shown = timer.inner_text()
    expect(timer).not_to_have_text(shown, timeout=5_000)

    # The second visitor gives up while offered: the hub withdraws the offer.
    wire.run(second.send({"type": "close"}))
    expect(left).to_have_count(0)
    expect(page.locator(".toast", has_text="moved on (visitor left)")).to_be_visible()
    expect(console.tab(second_conv)).to_have_count(0)
    expect(page.locator("#offers")).to_be_hidden()
    assert console.answers() == [{"type": "accept", "conversation_id": first_conv}]
    assert console.dialogs == []  # the name and text were never markup
    page.context.close()


def test_an_offer_still_standing_after_a_reload_comes_back_from_the_welcome(
    browser: Any, manual_desk: Callable[..., LiveServer], wire: Wire
) -> None:
    from playwright.sync_api import expect

    server = manual_desk()
    console = open_console(browser, server)
    page = console.page
    rita, conv_id = visitor_writes(wire, server, "Rita", "Can you help me?")
    expect(console.offer(conv_id)).to_be_visible()

    # The hub keeps the offer through the disconnect grace; the new socket's `welcome` lists
    # it as `offered`, without its deadline, so the card shows the time as unknown.
    page.reload()
    expect(page.locator("#link")).to_have_text("online")
    card = console.offer(conv_id)
    expect(card).to_be_visible()
    expect(card.locator("[role=timer]")).to_have_text("–:––")
    expect(card.locator(".offer-name")).to_have_text("Rita")
    expect(console.tab(conv_id)).to_have_count(0)  # an offer, not one of her chats

    card.get_by_role("button", name="Accept chat with Rita").click()
    expect(card).to_have_count(0)
    expect(console.tab(conv_id)).to_have_attribute("aria-selected", "true")
    expect(console.pane(conv_id).locator("li.item.visitor .text")).to_have_text(
        ["Can you help me?"]
    )
    assert stored(wire, server, conv_id) == ("active", agent_id(wire, server))
    page.context.close()
