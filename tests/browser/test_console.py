"""The agent console in a real Chromium against a real hub; visitors and other agents speak
the wire protocol from a background thread with its own event loop (Playwright's sync API
cannot run inside a running loop)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from websockets.asyncio.client import connect

from chatserver.cli.demo import seed_demo
from chatserver.core.settings import Settings
from chatserver.live.auth import session_cookie_name
from tests.browser.conftest import Wire, log_in
from tests.integration.conftest import AGENT_PASSWORD, add_agents, make_settings
from tests.live import Client, LiveServer, connect_visitor

pytestmark = pytest.mark.browser
T = TypeVar("T")
DOCS_IMG = Path(__file__).parents[2] / "docs" / "img"
ANA = ("ana@demo.livedesk", "demo-ana")
MARIUS = ("marius@demo.livedesk", "demo-marius")


async def http_login(server: LiveServer, email: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post("/login", json={"email": email, "password": password})
        response.raise_for_status()
        # httpx keeps no Secure cookie over plain HTTP; read the header itself.
        name = session_cookie_name(server.settings)
        match = re.search(rf"{re.escape(name)}=([^;]+)", response.headers["set-cookie"])
        assert match is not None
        return match.group(1)


async def agent_socket(server: LiveServer, cookie: str) -> Client:
    ws = await connect(
        f"{server.ws_url}/ws/agent",
        subprotocols=["livedesk.v1.json"],  # type: ignore[list-item]
        origin=server.url,  # type: ignore[arg-type]
        additional_headers={"Cookie": f"{session_cookie_name(server.settings)}={cookie}"},
        max_size=None,
    )
    client = Client(ws, "json")
    await client.recv_type("welcome")
    return client


async def new_visitor(
    server: LiveServer, name: str, text: str, language: str | None = "en"
) -> tuple[Client, str]:
    extra = {"language": language} if language else {}
    client, _ = await connect_visitor(server, codec="json", name=name, **extra)
    await client.recv_type("welcome")
    conv_id = (await client.send_text(text))["conversation_id"]
    return client, conv_id


def secure_settings(tmp_path: Path) -> Settings:
    # Secure cookies with the __Host- prefix over http://127.0.0.1: Chromium treats
    # loopback as a secure context, so the production cookie is what these tests drive.
    return make_settings(tmp_path, cookie_secure=True, first_reply_timeout_s=None)


@pytest.fixture
def desk(tmp_path: Path, wire: Wire) -> Iterator[LiveServer]:
    # Seeding runs on the wire's loop: Playwright's sync API keeps a loop on this thread.
    settings = secure_settings(tmp_path)
    wire.run(seed_demo(settings))  # Ana, Marius, and the demo knowledge base
    wire.run(add_agents(settings, ("bob@example.com", "agent", 5)))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


def test_agent_handles_a_chat_from_suggestion_to_transfer_and_close(
    browser: Any, desk: LiveServer, wire: Wire, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    page = log_in(browser, desk, *ANA)
    expect(page).to_have_url(desk.url + "/agent")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["__Host-livedesk_session"]
    assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Lax"
    expect(page.locator("#link")).to_have_text("online")

    vera, conv_id = wire.run(new_visitor(desk, "Vera <b>Bold</b>", "Hello, I have a question"))
    wire.clients.append(vera)
    tab = page.locator(f'.tab[data-conversation-id="{conv_id}"]')
    expect(tab).to_contain_text("Vera <b>Bold</b>")  # shown as text, never as markup
    assert int(page.evaluate("document.body.dataset.beeps || 0")) >= 1
    pane = page.locator(f'.chat[data-conversation-id="{conv_id}"]')
    expect(pane.locator("li.item.visitor")).to_contain_text("Hello, I have a question")
    expect(pane.locator(".customer")).to_contain_text("not verified")

    # The visitor asks something the knowledge base knows: suggestions arrive beside the chat.
    wire.run(vera.recv_type("event", event="assigned"))
    wire.run(vera.send_text("Where is my order? How can I track my parcel?"))
    suggestion = pane.locator(".suggestion").first
    expect(suggestion).to_be_visible(timeout=10_000)
    composer = pane.locator("textarea")
    composer.focus()
    page.keyboard.press("Alt+i")
    # A whole reply, never the preview cut off with "…" (tests/browser/test_console_articles.py).
    expect(composer).to_have_value(re.compile(r"[.!?]$"))
    inserted = composer.input_value()
    page.keyboard.press("Enter")
    got = wire.run(vera.recv_type("message", author="agent"))
    assert got["text"] == inserted

    # A canned reply by its shortcut.
    composer.fill("")
    composer.press_sequentially("/hi")
    expect(pane.locator(".canned li").first).to_be_visible()
    composer.press("Tab")
    expect(composer).to_have_value(re.compile(r"^Hello! Thanks for reaching out"))
    composer.press("Enter")
    canned = wire.run(vera.recv_type("message", author="agent", timeout=10))
    assert canned["text"].startswith("Hello! Thanks for reaching out")
    expect(pane.locator("li.item.agent:not(.pending)")).to_have_count(2)

    # A second chat arrives; switch with the keyboard; screenshot the console with both.
    walt, walt_conv = wire.run(new_visitor(desk, "Walt", "My parcel arrived damaged"))
    wire.clients.append(walt)
    walt_tab = page.locator(f'.tab[data-conversation-id="{walt_conv}"]')
    expect(walt_tab.locator(".badge")).to_have_text("1")
    expect(page).to_have_title(re.compile(r"^\(1\) Console"))
    assert int(page.evaluate("document.body.dataset.beeps")) >= 2
    page.keyboard.press("Alt+ArrowDown")
    expect(walt_tab).to_have_attribute("aria-selected", "true")
    expect(walt_tab.locator(".badge")).to_be_hidden()
    page.keyboard.press("Alt+1")
    expect(tab).to_have_attribute("aria-selected", "true")
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_IMG / "console.png"))
    page.screenshot(path=str(artifacts / "console.png"))

    # Transfer Vera's chat to Bob, who is online.
    bob_cookie = wire.run(http_login(desk, "bob@example.com", AGENT_PASSWORD))
    bob = wire.run(agent_socket(desk, bob_cookie))
    wire.clients.append(bob)
    pane.locator("button.transfer").click()
    target = page.locator("#transfer-target")
    expect(target.locator("option", has_text="Bob")).to_have_count(1)
    target.select_option(label=target.locator("option", has_text="Bob").inner_text())
    page.fill("#transfer-note", "Wants tracking details")
    page.click("#transfer-ok")
    expect(tab).to_have_count(0)
    assigned = wire.run(bob.recv_type("assigned"))
    assert assigned["conversation"]["conversation_id"] == conv_id
    moved = wire.run(vera.recv_type("event", event="transferred"))
    assert "note" not in moved["data"]  # the note is for Bob, not for Vera
    wire.run(bob.send({"type": "resume", "conversation_id": conv_id, "after_seq": 0}))
    handed = wire.run(bob.recv_type("event", event="transferred"))
    assert handed["data"]["note"] == "Wants tracking details"

    # Close Walt's chat with a tag, from the keyboard.
    expect(walt_tab).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Alt+c")
    page.fill("#close-tags", "damaged, returns")
    page.click("#close-ok")
    expect(walt_tab).to_have_count(0)
    assert wire.run(walt.recv_type("event", event="closed"))["data"]["by"] == "agent"
    conv = wire.run(desk.app.state.store.get_conversation(walt_conv))
    assert conv is not None and (conv.state, conv.tags, conv.outcome) == (
        "closed",
        "damaged,returns",
        "resolved",
    )
    page.context.close()


def test_console_reconnects_and_loses_nothing(browser: Any, desk: LiveServer, wire: Wire) -> None:
    from playwright.sync_api import expect

    page = log_in(browser, desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")
    vera, conv_id = wire.run(new_visitor(desk, "Vera", "one"))
    wire.clients.append(vera)
    pane = page.locator(f'.chat[data-conversation-id="{conv_id}"]')
    expect(pane.locator("li.item.visitor")).to_have_count(1)
    page.context.set_offline(True)
    page.evaluate("() => 0")  # the socket drops when the network goes
    for text in ("two", "three"):
        wire.run(vera.send_text(text))
    page.context.set_offline(False)
    expect(pane.locator("li.item.visitor")).to_have_count(3, timeout=15_000)
    expect(pane.locator("li.item.visitor .text")).to_have_text(["one", "two", "three"])
    page.context.close()


def test_an_agent_cannot_reach_the_dashboard_nor_a_colleagues_chat_and_csrf_is_required(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    from playwright.sync_api import expect

    bob_cookie = wire.run(http_login(desk, "bob@example.com", AGENT_PASSWORD))
    bob = wire.run(agent_socket(desk, bob_cookie))
    wire.clients.append(bob)
    # No language: Bob speaks none on record, and language routing would hold the chat.
    vera, bobs_conv = wire.run(new_visitor(desk, "Vera", "for Bob", language=None))
    wire.clients.append(vera)
    wire.run(bob.recv_type("assigned"))

    page = log_in(browser, desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")
    response = page.goto(desk.url + "/supervisor")
    assert response is not None and response.status == 403
    expect(page.locator("[role=alert]")).to_contain_text("supervisors")
    api = page.context.request
    assert api.get(desk.url + "/api/desk/board").status == 403
    assert api.get(f"{desk.url}/api/desk/conversations/{bobs_conv}").status == 404
    # A POST carrying the cookie but no CSRF token is refused and changes nothing.
    refused = api.post(f"{desk.url}/api/desk/conversations/{bobs_conv}/close", data={"tags": ["x"]})
    assert refused.status == 403
    conv = wire.run(desk.app.state.store.get_conversation(bobs_conv))
    assert conv is not None and conv.state == "active"
    page.context.close()
