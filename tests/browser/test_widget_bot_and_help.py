"""The widget's bot and help in a real Chromium (issue 21, "Widget and bot"; issue 15.5):
yes/no as buttons, an offer to end once an article helped, popular articles before typing,
a welcome line with the reply time, a way to end the chat, no "back in the queue" after an
offer the visitor never saw, and a gender-neutral "joined" note."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from tests.browser.conftest import EmbedSite, Wire, WireAgent, expect, staff_http
from tests.browser.test_widget import W, bubbles, db_rows, open_widget, write
from tests.browser.test_widget_features import ARTICLES
from tests.integration.conftest import add_agents, make_settings
from tests.live import LiveServer

pytestmark = pytest.mark.browser


def notes(page: Any) -> Any:
    return page.locator(f"{W} .log .note")


def conversation_row(hub: LiveServer, conv: str) -> Any:
    return db_rows(
        hub, "select state, agent_id, closed_by from conversations where id = :c", c=conv
    )[0]


def test_bot_asks_with_buttons_and_offers_to_end_once_an_article_helped(
    page: Any, hub: LiveServer, wire_agent: Callable[..., WireAgent], artifacts: Path
) -> None:
    with staff_http(hub, "sam@example.com") as http:
        for article in ARTICLES:
            http.post("/api/kb/articles", json=article).raise_for_status()
    agent = wire_agent()
    agent.fill_up(5)  # Ana is full: the visitor waits with the bot
    open_widget(page, hub.url + "/demo")
    write(page, "Where is my order? I want to track my parcel")
    asked = page.locator(f"{W} .log .item[data-author=bot]").last
    expect(asked.locator(".bubble")).to_contain_text("Did")
    expect(asked.locator(".bubble")).not_to_contain_text("(yes/no)")
    buttons = page.locator(f"{W} .quick .quick-reply")
    expect(buttons).to_have_text(["Yes", "No"])
    page.screenshot(path=str(artifacts / "widget-bot-buttons.png"))

    buttons.first.click()
    expect(bubbles(page, "visitor").last).to_have_text("Yes")
    helped = page.locator(f"{W} .log .item[data-author=bot]").last
    expect(helped.locator(".bubble")).to_contain_text("end the chat")
    end = page.locator(f"{W} .quick .quick-reply[data-action=end]")
    expect(end).to_have_text("End chat")
    expect(page.locator(f"{W} .quick")).to_have_count(1)  # the yes/no buttons are gone
    conv = db_rows(hub, "select id from conversations order by created_ms desc limit 1")[0][0]
    end.click()
    expect(notes(page).last).to_have_text("The chat has ended")
    expect(page.locator(f"{W} .quick")).to_have_count(0)
    state, agent_id, closed_by = conversation_row(hub, conv)
    assert (state, agent_id, closed_by) == ("closed", None, "visitor")


def test_help_view_shows_popular_articles_before_anything_is_typed(
    page: Any, hub: LiveServer
) -> None:
    with staff_http(hub, "sam@example.com") as http:
        for article in ARTICLES:
            http.post("/api/kb/articles", json=article).raise_for_status()
    open_widget(page, hub.url + "/demo")
    with page.expect_response(lambda r: "/api/kb/top?" in r.url and "lang=en" in r.url):
        page.locator(f"{W} header .help").click()
    expect(page.locator(f"{W} .kb-heading")).to_have_text("Popular articles")
    titles = page.locator(f"{W} .result strong")
    expect(titles).to_have_count(2)
    expect(titles.first).to_have_text(re.compile(r"Returning an item|Where is my order"))
    titles.filter(has_text="Returning an item").click()
    expect(page.locator(f"{W} article h3")).to_have_text("Returning an item")


def test_welcome_line_tells_the_expected_reply_time(
    page: Any, hub: LiveServer, wire_agent: Callable[..., WireAgent]
) -> None:
    wire_agent()  # Ana is online with free slots
    open_widget(page, hub.url + "/demo")
    expect(page.locator(f"{W} .intro")).to_have_text(
        "Hi! Ask us anything here. We usually reply within a minute."
    )


def test_visitor_ends_the_chat_after_confirming(
    page: Any, hub: LiveServer, wire_agent: Callable[..., WireAgent]
) -> None:
    agent = wire_agent()
    open_widget(page, hub.url + "/demo")
    end_bar = page.locator(f"{W} .endbar")
    expect(end_bar).to_be_hidden()  # nothing to end yet
    write(page, "Hello, a quick question")
    conv = agent.assigned()
    expect(page.locator(f"{W} .intro")).to_be_hidden()  # the welcome line is for before
    end_bar.get_by_role("button", name="End chat").click()
    expect(end_bar).to_contain_text("End this chat?")
    end_bar.get_by_role("button", name="Cancel").click()
    expect(end_bar).not_to_contain_text("End this chat?")
    end_bar.get_by_role("button", name="End chat").click()
    end_bar.locator(".confirm").click()
    closed = agent.frame("event", event="closed", conversation_id=conv)
    assert closed["data"]["by"] == "visitor"
    expect(notes(page).last).to_have_text("The chat has ended")
    expect(end_bar).to_be_hidden()
    expect(page.locator(f"{W} .rating, {W} .log .card")).not_to_have_count(0)


# ---------------------------------------------------------------- an offer the visitor never saw


@pytest.fixture
def manual_hub(tmp_path: Path, wire: Wire) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path, auto_accept=False, accept_timeout_s=120.0)
    wire.run(add_agents(settings, ("ana@example.com", "agent", 5)))
    server = LiveServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


def _event(payload: Any, name: str) -> bool:
    if not isinstance(payload, bytes):
        return False
    frame = msgpack.unpackb(payload, raw=False)
    return isinstance(frame, dict) and frame.get("type") == "event" and frame.get("event") == name


def test_no_back_in_the_queue_note_after_an_offer_the_visitor_never_saw(
    page: Any, manual_hub: LiveServer
) -> None:
    agent = WireAgent(manual_hub)
    try:
        with page.expect_websocket() as opened:
            open_widget(page, manual_hub.url + "/demo")
        socket = opened.value
        write(page, "Is anyone there?")
        offer = agent.frame("offer")
        with socket.expect_event("framereceived", lambda p: _event(p, "requeued")):
            agent.send({"type": "decline", "conversation_id": offer["conversation_id"]})
        # The next own message's ack comes after the requeued event on the same socket.
        write(page, "Still waiting")
        expect(page.locator(f"{W} .item.mine").last).to_have_attribute(
            "data-seq", re.compile(r"^\d+$")
        )
        expect(notes(page).filter(has_text="back in the queue")).to_have_count(0)
    finally:
        agent.close()


# ---------------------------------------------------------------- gender-neutral notes


@pytest.mark.parametrize(
    ("lang", "joined"),
    [
        ("ru", "Ana теперь в чате"),
        ("sr-Latn", "Ana je sada u razgovoru"),
        ("sr-Cyrl", "Ana је сада у разговору"),
        ("sl", "Ana je zdaj v klepetu"),
    ],
)
def test_agent_joined_note_is_gender_neutral(
    page: Any,
    hub: LiveServer,
    site: EmbedSite,
    wire_agent: Callable[..., WireAgent],
    lang: str,
    joined: str,
) -> None:
    agent = wire_agent()
    html = (
        f"<!doctype html><html lang={lang}><head><meta charset=utf-8><title>shop</title></head>"
        f'<body><script src="{hub.url}/widget.js" data-lang="{lang}" defer></script></body></html>'
    )
    page.goto(site.page(f"/{lang}", html))
    page.locator(f"{W} .launcher").click()
    write(page, "Zdravo")
    agent.assigned()
    expect(notes(page).first).to_have_text(joined)
