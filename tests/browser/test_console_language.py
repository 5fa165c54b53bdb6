"""The console and the dashboard in the agent's own language and time zone, in a real
Chromium: the agent sets both on their own page, and from then on the templates' words, the
scripts' words (plural forms included) and the transcript's times follow them."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.browser.conftest import Wire, expect, log_in
from tests.browser.test_inbox import offline_message
from tests.integration.conftest import AGENT_PASSWORD
from tests.live import LiveServer, connect_visitor, desk_headers

pytestmark = pytest.mark.browser
AGENT, SUPERVISOR = "ana@example.com", "sam@example.com"
TOKYO = "Asia/Tokyo"  # far from the machine's zone: a time shown in it cannot be the local one


def choose_language(page: Any, server: LiveServer, language: str, zone: str, saved: str) -> None:
    """The agent's own settings page: language and time zone, saved (the page reloads in
    the new language and says so in it)."""
    page.goto(server.url + "/admin/me")
    page.select_option("#m-lang", language)
    page.fill("#m-tz", zone)
    page.click("#me-form button[type=submit]")
    expect(page.locator("#status")).to_have_text(saved)


def test_the_console_speaks_slovenian_with_times_in_the_agents_zone(
    browser: Any, hub: LiveServer, wire: Wire
) -> None:
    page = log_in(browser, hub, AGENT)
    expect(page.locator("#status")).to_have_text("Available")  # the browser's English at first
    choose_language(page, hub, "sl", TOKYO, "Shranjeno.")

    page.goto(hub.url + "/agent")
    expect(page.locator("html")).to_have_attribute("lang", "sl")
    expect(page.locator("#link")).to_have_text("povezan")  # the script's word for "online"
    expect(page.locator("#status")).to_have_text("Na voljo")
    expect(page.locator("#empty")).to_have_text("Še ni pogovorov. Novi se prikažejo tukaj sami.")
    expect(page.locator("#offers-title")).to_contain_text("Dohodni pogovori")

    visitor, _ = wire.run(connect_visitor(hub, codec="json", name="Vera", language="sl"))
    wire.clients.append(visitor)
    wire.run(visitor.recv_type("welcome"))
    conv_id = wire.run(visitor.send_text("Kje je moje naročilo?"))["conversation_id"]

    pane = page.locator(f'.chat[data-conversation-id="{conv_id}"]')
    item = pane.locator("li.item.visitor").first
    expect(item).to_contain_text("Kje je moje naročilo?")
    expect(pane.locator(".suggestions h3")).to_have_text("Predlogi")
    expect(pane.locator(".customer")).to_contain_text("ni preverjen")
    expect(pane.locator("button.transfer")).to_have_text("Predaj")
    expect(pane.locator("textarea")).to_have_attribute(
        "placeholder", "Odgovor … (/ za pripravljene odgovore)"
    )
    # The message's time: Slovenian (24-hour) and in the agent's zone, not the machine's.
    stamp = item.locator("time")
    expect(stamp).to_have_text(re.compile(r"^\d{1,2}:\d{2}:\d{2}$"))
    moment = datetime.fromisoformat(stamp.get_attribute("datetime").replace("Z", "+00:00"))
    in_tokyo = moment.astimezone(ZoneInfo(TOKYO))
    shown = [int(part) for part in stamp.inner_text().split(":")]
    assert shown == [in_tokyo.hour, in_tokyo.minute, in_tokyo.second]

    # A transcript event in the agent's words (common.js), from the same catalog.
    page.locator("button.close").click()
    page.locator("#close-ok").click()
    expect(page.locator(".toast").last).to_have_text("Zaprto.")


def test_the_console_and_dashboard_speak_serbian_cyrillic(browser: Any, hub: LiveServer) -> None:
    page = log_in(browser, hub, SUPERVISOR)
    choose_language(page, hub, "sr-Cyrl", TOKYO, "Сачувано.")

    page.goto(hub.url + "/agent")
    expect(page.locator("html")).to_have_attribute("lang", "sr-Cyrl")
    expect(page.locator("#status")).to_have_text("Доступан")
    expect(page.locator("#link")).to_have_text("на вези")
    expect(page.locator("#empty")).to_have_text("Још нема разговора. Нови стижу овде сами.")
    page.locator("#help-toggle").click()
    expect(page.locator("#help")).to_contain_text("следећи / претходни разговор")
    # The inbox's script speaks from the console's catalog too.
    page.locator("#inbox-toggle").click()
    expect(page.locator('#inbox-views button[data-view="mine"]')).to_contain_text("Моји")

    page.goto(hub.url + "/supervisor")
    expect(page.locator(".sla h2")).to_have_text("Нивои услуге")
    expect(page.locator("#link")).to_have_text("на вези")
    expect(page.locator("#me")).to_contain_text("(Надзорник)")
    # The board's first frame: the script's own words and the time in the agent's locale.
    expect(page.locator("#updated")).to_have_text(re.compile(r"^ажурирано у \d{1,2}:\d{2}:\d{2}$"))
    expect(page.locator("#load-hint")).to_have_text("разговори / места доступних агената")


def test_the_inbox_counts_and_tells_its_history_in_slovenian(
    browser: Any, hub: LiveServer, wire: Wire
) -> None:
    # Two: Slovenian's dual, which neither English's two forms nor a bare count gets right.
    wire.run(offline_message(hub, "mila@example.com", "Ali pošiljate v Niš?"))
    wire.run(offline_message(hub, "mila@example.com", "Še eno vprašanje."))
    page = log_in(browser, hub, AGENT)
    choose_language(page, hub, "sl", TOKYO, "Shranjeno.")
    page.goto(hub.url + "/agent")
    page.locator("#inbox-toggle").click()
    page.click('#inbox-views button[data-view="offline"]')
    expect(page.locator("#inbox-total")).to_have_text("2 pogovora")
    item = page.locator("#inbox-list li button").first
    expect(item.locator(".muted")).to_contain_text("obrazec brez povezave")
    item.click()
    # The state change as one phrase: the states in the agent's words, the visitor by name.
    change = page.locator("#inbox-detail ol.transcript").last.locator("li").first
    expect(change).to_have_text(re.compile(r" – → obrazec brez povezave, spremenil: Mila$"))


ARTICLE_EN = {
    "id": "gift-wrap",
    "lang": "en",
    "title": "Gift wrapping with a handwritten card",
    "body": "We wrap any order in recycled paper with a handwritten card for 3 EUR.",
    "tags": ["gift", "wrapping"],
}
ARTICLE_SL = {
    "id": "gift-wrap-sl",
    "lang": "sl",
    "title": "Darilno zavijanje z ročno napisano voščilnico",
    "body": "Vsako naročilo zavijemo v reciklirani papir z ročno napisano voščilnico za 3 EUR.",
    "tags": ["darilo"],
    "group": "gift-wrap",
}


async def save_articles(server: LiveServer) -> None:
    headers = await desk_headers(server, SUPERVISOR, AGENT_PASSWORD)
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=10) as http:
        for article in (ARTICLE_EN, ARTICLE_SL):
            saved = await http.put(f"/api/kb/articles/{article['id']}", json=article)
            assert saved.status_code == 200, saved.text


def test_an_agent_reads_a_suggested_article_in_their_language_and_inserts_the_visitors(
    browser: Any, hub: LiveServer, wire: Wire
) -> None:
    wire.run(save_articles(hub))
    page = log_in(browser, hub, AGENT)
    choose_language(page, hub, "sl", TOKYO, "Shranjeno.")
    page.goto(hub.url + "/agent")
    expect(page.locator("#link")).to_have_text("povezan")

    visitor, _ = wire.run(connect_visitor(hub, codec="json", name="Walt", language="en"))
    wire.clients.append(visitor)
    wire.run(visitor.recv_type("welcome"))
    conv_id = wire.run(visitor.send_text("Can you gift wrap my order with a handwritten card?"))[
        "conversation_id"
    ]
    pane = page.locator(f'.chat[data-conversation-id="{conv_id}"]')
    suggestion = pane.locator('.suggestion[data-article-id="gift-wrap"]')
    expect(suggestion).to_be_visible(timeout=10_000)
    suggestion.get_by_role("button", name="Odpri").click()
    view = pane.locator(".article-view")
    expect(view.locator("h4")).to_have_text(ARTICLE_SL["title"])  # the agent's language
    expect(view.locator(".translation-note")).to_contain_text("(sl)")
    view.get_by_role("button", name="Vstavi odgovor").click()
    # What goes to the visitor is their own language's article.
    expect(pane.locator("textarea")).to_have_value(re.compile(r"^We wrap any order"))
