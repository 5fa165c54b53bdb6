"""The inbox in a real Chromium against a real hub: an offline message lands in the
Offline messages view live (the count follows over the socket), opens with its e-mail, is
answered and closed into Closed; a closed chat is reopened and lands back in the console as
a tab; a supervisor sees All open and the waiting list, filters it, and assigns from it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser.conftest import Wire, expect, log_in
from tests.browser.test_console import ANA, MARIUS, agent_socket, http_login, new_visitor
from tests.browser.test_console import desk as desk  # the seeded hub
from tests.live import LiveServer, visitor_session

pytestmark = pytest.mark.browser


async def offline_message(server: LiveServer, email: str, text: str) -> None:
    token = (await visitor_session(server, name="Mila"))["token"]
    async with httpx.AsyncClient(base_url=server.url) as http:
        sent = await http.post(
            "/api/visitor/offline", json={"token": token, "email": email, "text": text}
        )
        sent.raise_for_status()


def open_inbox(page: Any, view: str) -> None:
    if page.locator("#inbox").is_hidden():
        page.click("#inbox-toggle")
    page.click(f'#inbox-views button[data-view="{view}"]')


def test_an_offline_message_lands_in_the_inbox_live_is_answered_and_closed(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    page = log_in(browser, desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")
    wire.run(offline_message(desk, "mila@example.com", "Do you ship to <b>Niš</b>?"))
    # The badge follows over the socket (inbox_changed), no reload.
    expect(page.locator("#inbox-badge")).to_have_text("1")
    open_inbox(page, "offline")
    expect(page.locator('#inbox-views button[data-view="offline"]')).to_have_text(
        "Offline messages (1)"
    )
    item = page.locator("#inbox-list li button").first
    expect(item).to_contain_text("Do you ship to <b>Niš</b>?")  # text, never markup
    item.click()
    detail = page.locator("#inbox-detail")
    expect(detail).to_contain_text("mila@example.com")
    detail.locator("textarea").fill("Yes, we do.")
    detail.get_by_role("button", name="Reply by e-mail").click()
    expect(detail.locator(".transcript li.message")).to_have_count(2)
    expect(detail).to_contain_text("Handled by")
    detail.get_by_role("button", name="Close").click()
    expect(page.locator('#inbox-views button[data-view="offline"]')).to_have_text(
        "Offline messages (0)"
    )
    open_inbox(page, "closed")
    expect(page.locator("#inbox-list li")).to_have_count(1)
    page.locator("#inbox-list li button").first.click()
    expect(detail).to_contain_text("Yes, we do.")


def test_a_closed_chat_is_reopened_from_the_inbox_and_lands_in_the_console(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    page = log_in(browser, desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")
    vera, conv_id = wire.run(new_visitor(desk, "Vera", "Hello there"))
    wire.clients.append(vera)
    pane = page.locator(f'.chat[data-conversation-id="{conv_id}"]')
    expect(pane).to_have_count(1)
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    closed = page.context.request.post(
        f"{desk.url}/api/desk/conversations/{conv_id}/close",
        data={"tags": ["billing"]},
        headers={"x-csrf-token": token},
    )
    assert closed.ok
    open_inbox(page, "closed")
    page.fill("#inbox-filters input[name=tag]", "billing")
    page.click("#inbox-filters button[type=submit]")
    expect(page.locator("#inbox-list li")).to_have_count(1)
    page.locator("#inbox-list li button").first.click()
    detail = page.locator("#inbox-detail")
    expect(detail).to_contain_text("billing")
    detail.get_by_role("button", name="Reopen and take").click()
    page.click("#inbox-toggle")  # back to the console
    expect(pane).to_be_visible()
    expect(page.locator("#inbox-views button[data-view=mine]")).to_have_text("Mine (1)")


def test_an_agent_picks_a_waiting_chat_from_the_waiting_view(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    page = log_in(browser, desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")
    # Romanian: Ana does not list it, so the router holds it for a Romanian speaker.
    vera, conv_id = wire.run(new_visitor(desk, "Vera", "Bună ziua", language="ro"))
    wire.clients.append(vera)
    open_inbox(page, "waiting")
    expect(page.locator('#inbox-views button[data-view="waiting"]')).to_have_text("Waiting (1)")
    row = page.locator("#inbox-list li button").first
    expect(row).to_contain_text("Bună ziua")
    row.click()
    page.locator("#inbox-detail").get_by_role("button", name="Pick").click()
    expect(page.locator('#inbox-views button[data-view="waiting"]')).to_have_text("Waiting (0)")
    page.click("#inbox-toggle")
    expect(page.locator(f'.chat[data-conversation-id="{conv_id}"]')).to_be_visible()


def test_a_supervisor_sees_the_waiting_list_on_the_dashboard_and_assigns_from_it(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    ana = wire.run(agent_socket(desk, wire.run(http_login(desk, *ANA))))
    wire.clients.append(ana)
    # Romanian: Ana does not list it, so it waits (for a Romanian speaker) in the queue.
    vera, conv_id = wire.run(new_visitor(desk, "Vera", "Comanda mea întârzie", language="ro"))
    wire.clients.append(vera)
    page = log_in(browser, desk, *MARIUS)
    expect(page).to_have_url(desk.url + "/supervisor")
    row = page.locator(f'#waiting-rows tr[data-id="{conv_id}"]')
    expect(row).to_contain_text("Comanda mea întârzie")
    expect(row).to_contain_text("ro")
    expect(row).to_contain_text("Vera")
    ana_option = row.locator("select option", has_text="Ana").get_attribute("value")
    row.locator("select").select_option(value=ana_option)
    row.get_by_role("button", name="Assign").click()
    assigned = wire.run(ana.recv_type("assigned"))
    assert assigned["conversation"]["conversation_id"] == conv_id
    expect(row).to_have_count(0)
    # And in the console's All open view, filtered by language.
    page.goto(desk.url + "/agent")
    expect(page.locator("#link")).to_have_text("online")
    open_inbox(page, "open")
    page.fill("#inbox-filters input[name=language]", "de")
    page.click("#inbox-filters button[type=submit]")
    expect(page.locator("#inbox-list li")).to_have_count(0)
    page.fill("#inbox-filters input[name=language]", "ro")
    page.click("#inbox-filters button[type=submit]")
    expect(page.locator("#inbox-list li")).to_have_count(1)


def test_search_finds_a_message_without_its_accents_and_marks_the_words_as_text(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    page = log_in(browser, desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")
    vera, conv_id = wire.run(new_visitor(desk, "Vera", "<i>Račun</i> za mart nije stigao"))
    wire.clients.append(vera)
    expect(page.locator(f'.chat[data-conversation-id="{conv_id}"]')).to_have_count(1)
    page.click("#inbox-toggle")
    page.fill("#inbox-search input[name=q]", "RACUN")
    page.click("#inbox-search button[type=submit]")
    hit = page.locator("#inbox-list li.search-hit")
    expect(hit).to_have_count(1)
    expect(hit.locator("mark")).to_have_text("Račun")
    expect(hit).to_contain_text("<i>Račun</i> za mart")  # the stored text, shown as text
    assert hit.locator("i").count() == 0
    hit.locator("button").click()
    expect(page.locator("#inbox-detail .transcript li.message").first).to_contain_text(
        "nije stigao"
    )
