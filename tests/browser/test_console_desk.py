"""The agent console's week-one fixes in a real Chromium against a real hub: who a chat can be
transferred to (and back to the queue), unread counts and drafts across reloads, a chat filled
in the background opening at its end, links, suggestions for the agent a chat moves to, the
customer panel's live balance, user text shown as stored, and the small things (header,
shortcuts overlay, login, favicon, the phone composer)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from chatserver.live.auth import identity_hash
from tests.browser.conftest import Wire, WireAgent, expect, log_in, staff_http
from tests.browser.test_console import (
    ANA,
    MARIUS,
    agent_socket,
    http_login,
    new_visitor,
)
from tests.browser.test_console import desk as desk  # the seeded hub with secure cookies
from tests.integration.conftest import AGENT_PASSWORD
from tests.live import Client, LiveServer, connect_visitor

pytestmark = pytest.mark.browser
BOB = ("bob@example.com", AGENT_PASSWORD)


def visitor(wire: Wire, server: LiveServer, name: str, text: str, **kw: Any) -> tuple[Client, str]:
    client, conv = wire.run(new_visitor(server, name, text, **kw))
    wire.clients.append(client)
    return client, conv


def wire_agent_on(wire: Wire, server: LiveServer, email: str, password: str) -> Client:
    cookie = wire.run(http_login(server, email, password))
    client = wire.run(agent_socket(server, cookie))
    wire.clients.append(client)
    return client


def csrf_post(page: Any, url: str, body: dict[str, Any]) -> Any:
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    return page.context.request.post(url, data=body, headers={"x-csrf-token": token})


def agent_id(wire: Wire, server: LiveServer, email: str) -> int:
    agent = wire.run(server.app.state.store.get_agent_by_email(email))
    assert agent is not None
    return int(agent.id)


# ---------------------------------------------------------------- transfer


def test_transfer_dialog_shows_who_cannot_take_the_chat_and_offers_the_queue(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    page = log_in(browser, desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")
    _, conv = visitor(wire, desk, "Vera", "Hello")
    pane = page.locator(f'.chat[data-conversation-id="{conv}"]')
    expect(pane.locator("li.item.visitor")).to_have_count(1)

    pane.locator("button.transfer").click()
    target = page.locator("#transfer-target")
    bob = target.locator("option", has_text="Bob")
    expect(bob).to_have_count(1)
    # Bob is not connected: listed, greyed, with the reason; choosing him is not possible.
    expect(bob).to_be_disabled()
    expect(bob).to_contain_text("offline")
    queue = target.locator("option", has_text="Back to the queue")
    expect(queue).to_have_count(1)

    # The server says the same in words when asked anyway (no bare "2").
    bob_id = agent_id(wire, desk, BOB[0])
    refused = csrf_post(
        page, f"{desk.url}/api/desk/conversations/{conv}/transfer", {"to_agent": bob_id}
    )
    assert refused.status == 409
    assert refused.json()["error"] == "agent_unavailable"
    assert "Bob is offline" in refused.json()["message"]

    target.select_option(value="queue:")
    page.click("#transfer-ok")
    expect(page.locator(f'.tab[data-conversation-id="{conv}"]')).to_have_count(0)
    stored = wire.run(desk.app.state.store.get_conversation(conv))
    assert stored is not None and stored.agent_id != agent_id(wire, desk, ANA[0])
    page.context.close()


def test_a_supervisor_is_asked_before_a_transfer_beyond_an_agents_cap(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    # Bob fills up first (visitors with no language: Bob speaks none on record).
    bob = wire_agent_on(wire, desk, *BOB)
    for n in range(5):
        visitor(wire, desk, f"Filler {n}", f"filler {n}", language=None)
        wire.run(bob.recv_type("assigned"))
    ana = wire_agent_on(wire, desk, *ANA)
    _, conv = visitor(wire, desk, "Vera", "Please help")
    wire.run(ana.recv_type("assigned"))
    ana_id, bob_id = agent_id(wire, desk, ANA[0]), agent_id(wire, desk, BOB[0])

    board = log_in(browser, desk, *MARIUS)
    expect(board.locator("#link")).to_have_text("online")
    board.locator(f'tr[data-agent-id="{ana_id}"] .chip').click()
    expect(board.locator("#monitor-log")).to_contain_text("Please help")
    target = board.locator("#monitor-target")
    expect(target.locator("option", has_text="Bob")).to_have_count(1)
    target.select_option(value=f"agent:{bob_id}")
    board.click("#monitor-transfer")
    # Refused, visibly, with the choice to go beyond the cap: nothing moved yet.
    expect(board.locator("#monitor-error")).to_contain_text("5 of 5")
    expect(board.locator("#monitor-override")).to_be_visible()
    stored = wire.run(desk.app.state.store.get_conversation(conv))
    assert stored is not None and stored.agent_id == ana_id

    board.click("#monitor-override")
    expect(board.locator("#monitor-status")).to_have_text("Transferred.")
    frame = wire.run(bob.recv_type("assigned"))
    assert frame["conversation"]["conversation_id"] == conv
    board.context.close()


def test_the_agent_who_receives_a_transferred_chat_gets_suggestions(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    ana = log_in(browser, desk, *ANA)
    expect(ana.locator("#link")).to_have_text("online")
    vera, conv = visitor(wire, desk, "Vera", "Hello")
    wire.run(vera.recv_type("event", event="assigned"))
    wire.run(vera.send_text("Where is my order? How can I track my parcel?"))
    ana_pane = ana.locator(f'.chat[data-conversation-id="{conv}"]')
    expect(ana_pane.locator(".suggestion").first).to_be_visible(timeout=10_000)

    bob = log_in(browser, desk, *BOB)
    expect(bob.locator("#link")).to_have_text("online")
    ana_pane.locator("button.transfer").click()
    target = ana.locator("#transfer-target")
    target.select_option(label=target.locator("option", has_text="Bob").inner_text())
    ana.click("#transfer-ok")
    bob_pane = bob.locator(f'.chat[data-conversation-id="{conv}"]')
    expect(bob_pane.locator("li.item.visitor")).to_have_count(2)
    # The visitor has not written again: the suggestions come with the chat.
    expect(bob_pane.locator(".suggestion").first).to_be_visible(timeout=10_000)
    ana.context.close()
    bob.context.close()


# ---------------------------------------------------------------- across reloads


def test_unread_counts_do_not_grow_again_after_a_reload(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    page = log_in(browser, desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")
    _, first = visitor(wire, desk, "Vera", "first chat")
    walt, second = visitor(wire, desk, "Walt", "second chat")
    first_tab = page.locator(f'.tab[data-conversation-id="{first}"]')
    second_tab = page.locator(f'.tab[data-conversation-id="{second}"]')
    expect(first_tab).to_have_attribute("aria-selected", "true")
    wire.run(walt.send_text("are you there?"))
    expect(second_tab.locator(".badge")).to_have_text("2")
    second_tab.click()  # read them
    expect(second_tab.locator(".badge")).to_be_hidden()
    first_tab.click()

    page.reload()
    expect(page.locator("#link")).to_have_text("online")
    second_pane = page.locator(f'.chat[data-conversation-id="{second}"]')
    expect(second_pane.locator("li.item.visitor")).to_have_count(2)
    expect(page.locator("body")).to_have_attribute("data-unread", "0")
    expect(second_tab.locator(".badge")).to_be_hidden()
    expect(page).to_have_title(re.compile(r"^Console"))

    # Something new after the reload counts once.
    if (
        page.locator(f'.tab[data-conversation-id="{second}"]').get_attribute("aria-selected")
        == "true"
    ):
        first_tab.click()
    wire.run(walt.send_text("hello again"))
    expect(second_tab.locator(".badge")).to_have_text("1")
    page.context.close()


def test_a_draft_survives_a_reload_and_goes_once_sent(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    page = log_in(browser, desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")
    vera, conv = visitor(wire, desk, "Vera", "Hello")
    composer = page.locator(f'.chat[data-conversation-id="{conv}"] textarea')
    composer.press_sequentially("Half a thought")
    page.reload()
    expect(page.locator("#link")).to_have_text("online")
    composer = page.locator(f'.chat[data-conversation-id="{conv}"] textarea')
    expect(composer).to_have_value("Half a thought")
    composer.press("End")
    composer.press_sequentially(", finished")
    composer.press("Enter")
    assert wire.run(vera.recv_type("message", author="agent"))["text"] == "Half a thought, finished"
    page.reload()
    expect(page.locator("#link")).to_have_text("online")
    expect(page.locator(f'.chat[data-conversation-id="{conv}"] textarea')).to_have_value("")
    page.context.close()


def test_a_chat_filled_in_the_background_opens_at_its_end(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    page = log_in(browser, desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")
    visitor(wire, desk, "Vera", "the open chat")
    walt, second = visitor(wire, desk, "Walt", "line 0")
    for n in range(1, 25):
        wire.run(walt.send_text(f"line {n}\nwith a second line to take some room"))
    pane = page.locator(f'.chat[data-conversation-id="{second}"]')
    expect(pane.locator("li.item.visitor")).to_have_count(25)
    page.locator(f'.tab[data-conversation-id="{second}"]').click()
    log = pane.locator("ol.log")
    expect(pane.locator("li.item.visitor").last).to_be_in_viewport()
    at_end = log.evaluate("l => l.scrollHeight - l.scrollTop - l.clientHeight")
    assert at_end < 2, at_end
    page.context.close()


# ---------------------------------------------------------------- what is shown


def test_links_in_messages_are_clickable_and_only_http(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    page = log_in(browser, desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")
    text = (
        "Look at https://shop.example/orders?id=7. Not javascript:alert(1) "
        'nor <a href="https://evil.example">this</a> nor data:text/html,x'
    )
    _, conv = visitor(wire, desk, "Vera", text)
    message = page.locator(f'.chat[data-conversation-id="{conv}"] li.item.visitor .text')
    expect(message).to_have_text(text)
    links = message.locator("a")
    expect(links).to_have_count(2)  # the order page, and the URL inside the typed markup
    first = links.first
    expect(first).to_have_attribute("href", "https://shop.example/orders?id=7")
    expect(first).to_have_text("https://shop.example/orders?id=7")
    expect(first).to_have_attribute("target", "_blank")
    expect(first).to_have_attribute("rel", re.compile(r"\bnoopener\b.*\bnoreferrer\b"))
    hrefs = links.evaluate_all("ls => ls.map(l => l.protocol)")
    assert set(hrefs) == {"https:"}
    page.context.close()


def test_user_text_is_isolated_and_invisible_characters_are_shown(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    page = log_in(browser, desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")
    name = "Eve \u202egnp.exe"
    text = "pay\u200b pal \u2067abc\u2069 \u202eevil"
    _, conv = visitor(wire, desk, name, text)
    pane = page.locator(f'.chat[data-conversation-id="{conv}"]')
    message = pane.locator("li.item.visitor .text")
    expect(message).to_have_attribute("dir", "auto")
    shown = message.inner_text()
    for hidden in ("\u202e", "\u200b", "\u2067", "\u2069"):
        assert hidden not in shown
    for code in ("U+202E", "U+200B", "U+2067", "U+2069"):
        assert code in shown
    tab_name = page.locator(f'.tab[data-conversation-id="{conv}"] .tab-name bdi')
    expect(tab_name).to_have_text("Eve U+202Egnp.exe")
    # Isolated: the name cannot reorder the line it sits in.
    bidi = tab_name.evaluate("n => getComputedStyle(n).unicodeBidi")
    assert bidi == "isolate"
    page.context.close()


def test_the_customer_panel_follows_a_spent_credit(
    browser: Any, hub: LiveServer, wire_agent: Callable[..., WireAgent], wire: Wire
) -> None:
    email = "lee@example.com"
    with staff_http(hub, "boss@example.com") as admin:
        admin.post(
            f"/api/credits/{email}/grant",
            json={"amount": 3, "reason": "test", "action_id": "three"},
        ).raise_for_status()
    page = log_in(browser, hub, "ana@example.com", AGENT_PASSWORD)
    expect(page.locator("#link")).to_have_text("online")
    assert hub.settings.security.identity_secret
    lee, _ = wire.run(
        connect_visitor(
            hub,
            codec="json",
            name="Lee",
            email=email,
            identity_hash=identity_hash(hub.settings.security.identity_secret, email),
        )
    )
    wire.clients.append(lee)
    wire.run(lee.recv_type("welcome"))
    conv = wire.run(lee.send_text("I paid for help"))["conversation_id"]
    pane = page.locator(f'.chat[data-conversation-id="{conv}"]')
    left = pane.locator(".customer dd.credits-left")
    expect(left).to_have_text("3")
    composer = pane.locator("textarea")
    composer.fill("Happy to help")
    composer.press("Enter")  # the first human reply spends a credit
    expect(left).to_have_text("2")
    page.context.close()


# ---------------------------------------------------------------- small things


def test_the_console_header_says_online_once(browser: Any, desk: LiveServer) -> None:
    page = log_in(browser, desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")
    header = page.locator("header.bar").inner_text()
    assert len(re.findall(r"\bonline\b", header, re.IGNORECASE)) == 1, header
    page.context.close()


def test_the_shortcuts_overlay_closes_on_escape(browser: Any, desk: LiveServer) -> None:
    page = log_in(browser, desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")
    page.click("#help-toggle")
    expect(page.locator("#help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()
    page.context.close()


def test_a_failed_login_keeps_the_email(browser: Any, desk: LiveServer) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(desk.url + "/login")
    page.fill("input[name=email]", ANA[0])
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("Wrong e-mail or password")
    expect(page.locator("input[name=email]")).to_have_value(ANA[0])
    expect(page.locator("input[name=password]")).to_have_value("")
    context.close()


def test_the_desk_pages_have_a_favicon(browser: Any, desk: LiveServer) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(desk.url + "/login")
    icon = page.locator('link[rel="icon"]')
    href = icon.get_attribute("href")
    assert href
    response = context.request.get(desk.url + href)
    assert response.ok and "image/" in response.headers["content-type"]
    context.close()


def test_the_console_composer_is_16px_on_a_phone(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(desk.url + "/login")
    expect(page.locator("input[name=email]")).to_have_css("font-size", "16px")
    page.fill("input[name=email]", ANA[0])
    page.fill("input[name=password]", ANA[1])
    page.click("button[type=submit]")
    expect(page.locator("#link")).to_have_text("online")
    _, conv = visitor(wire, desk, "Vera", "Hello")
    composer = page.locator(f'.chat[data-conversation-id="{conv}"] textarea')
    expect(composer).to_have_css("font-size", "16px")
    context.close()


def test_the_customer_panel_shows_where_the_visitor_is_as_text(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    page = log_in(browser, desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")

    async def arrive() -> tuple[Client, str]:
        client, _ = await connect_visitor(
            desk,
            codec="json",
            name="Rada",
            language="sr",
            time_zone="Europe/Belgrade",
            page={
                "url": "https://shop.example/shoes",
                "title": "Shoes <b>sale</b>",
                "referrer": "https://search.example/?q=shoes",
            },
        )
        await client.recv_type("welcome")
        return client, (await client.send_text("Do you have size 38?"))["conversation_id"]

    client, conv = wire.run(arrive())
    wire.clients.append(client)
    panel = page.locator(f'.chat[data-conversation-id="{conv}"] .customer')
    fact = panel.locator("dt", has_text=re.compile("^Page$")).locator(
        "xpath=following-sibling::dd[1]"
    )
    expect(fact).to_have_text("Shoes <b>sale</b> — https://shop.example/shoes")
    assert panel.locator("b").count() == 0  # the title is text, never markup
    came = panel.locator("dt", has_text="Came from").locator("xpath=following-sibling::dd[1]")
    expect(came).to_have_text("https://search.example/?q=shoes")
    local = panel.locator("dt", has_text="Local time").locator("xpath=following-sibling::dd[1]")
    expect(local).to_contain_text("(Europe/Belgrade)")
    channel = panel.locator("dt", has_text="Channel").locator("xpath=following-sibling::dd[1]")
    expect(channel).to_have_text("chat")
    expect(panel.locator(".channel-counts")).to_have_text("1 in chat · 0 mail in · 0 mail out")
    page.context.close()
