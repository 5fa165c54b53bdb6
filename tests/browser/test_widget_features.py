"""The widget's service features in a real Chromium: self-service KB, the bot holding the queue,
paid credits, the unread badge and the hidden-tab notification, the pre-chat form."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chatserver.live.auth import identity_hash
from tests.browser.conftest import EmbedSite, WireAgent, expect, staff_http
from tests.browser.test_widget import (
    TIMEOUT,
    TRACKING_ARTICLE,
    W,
    bubbles,
    open_widget,
    stored_texts,
    write,
)
from tests.live import LiveServer

pytestmark = pytest.mark.browser

ARTICLES = [
    TRACKING_ARTICLE,
    {
        "id": "returns-en",
        "lang": "en",
        "title": "Returning an item",
        "body": "You have 30 days to return an item.",
        "tags": ["returns"],
    },
]


def test_kb_self_service_before_a_chat(
    page: Any, hub: LiveServer, artifacts: Path, dialogs: list[str]
) -> None:
    with staff_http(hub, "sam@example.com") as http:
        for article in ARTICLES:
            http.post("/api/kb/articles", json=article).raise_for_status()
    open_widget(page, hub.url + "/demo")
    page.locator(f"{W} header .help").click()
    search = page.get_by_role("searchbox", name="Search help articles")
    expect(search).to_be_focused()
    with page.expect_response(lambda r: "/api/kb/search?" in r.url and "lang=en" in r.url):
        search.fill("where is my parcel")
    hit = page.locator(f"{W} .result").first
    expect(hit.locator("strong")).to_have_text("Where is my order? Tracking your parcel")
    hit.click()
    article = page.locator(f"{W} article")
    expect(article.locator("h3")).to_have_text("Where is my order? Tracking your parcel")
    expect(article.locator("p")).to_have_count(2)
    expect(article.locator("p").last).to_contain_text("<img src=x onerror=alert(1)>")
    expect(article.locator("a")).to_have_attribute("href", "https://courier.example/track")
    expect(article.locator("img")).to_have_count(0)
    page.screenshot(path=str(artifacts / "widget-kb.png"))
    expect(hit).to_be_hidden()  # the article replaces the list
    back = page.locator(f"{W} .kb .back")
    back.click()  # to the results
    expect(hit).to_be_visible()
    expect(article).to_be_hidden()
    expect(search).to_be_visible()
    back.click()  # to the chat
    expect(page.locator(f"{W} .view.chat")).to_be_visible()
    assert dialogs == []


def test_bot_holds_the_queue_then_hands_over(
    page: Any, hub: LiveServer, wire_agent: Callable[..., WireAgent], artifacts: Path
) -> None:
    agent = wire_agent()
    held = agent.fill_up(5)  # Ana is at her cap of 5: the next visitor waits with the bot
    open_widget(page, hub.url + "/demo")
    write(page, "Hi, anyone there?")
    bot = page.locator(f"{W} .log .item[data-author=bot]").first
    expect(bot.locator(".who")).to_contain_text("Bot")
    expect(bot.locator(".avatar.bot")).to_have_count(1)
    expect(page.locator(f"{W} .status .queue").first).to_have_text("You are next in line")
    page.screenshot(path=str(artifacts / "widget-bot-queue.png"))

    page.locator(f"{W} .chip.human").last.click()
    expect(bubbles(page, "visitor").last).to_have_text("Talk to a person")
    # Stored (it has its seq), and the bot's offer of a person is gone from older messages.
    expect(page.locator(f"{W} .item.mine").last).to_have_attribute("data-seq", re.compile(r"^\d+$"))
    expect(page.locator(f"{W} .chip.human")).to_have_count(1)

    agent.send({"type": "close", "conversation_id": held[0]})  # a slot frees up
    conv = agent.assigned()
    expect(page.locator(f"{W} .log .note").last).to_have_text("Ana joined the chat")
    expect(page.locator(f"{W} .status .queue")).to_have_count(0)
    expect(page.locator(f"{W} .chip.human")).to_have_count(0)
    assert stored_texts(hub, conv, "visitor") == ["Hi, anyone there?", "Talk to a person"]


def test_credits_of_a_verified_customer_in_russian(
    page: Any, hub: LiveServer, site: EmbedSite, artifacts: Path
) -> None:
    email = "kim@example.com"
    assert hub.settings.security.identity_secret
    signed = identity_hash(hub.settings.security.identity_secret, email)
    with staff_http(hub, "boss@example.com") as admin:

        def change(kind: str, amount: int, action: str) -> None:
            admin.post(
                f"/api/credits/{email}/{kind}",
                json={"amount": amount, "reason": "test", "action_id": action},
            ).raise_for_status()

        change("grant", 3, "first")
        html = (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>shop</title></head><body>"
            f'<script src="{hub.url}/widget.js" data-lang="ru" data-email="{email}" '
            f'data-identity-hash="{signed}" defer></script></body></html>'
        )
        page.goto(site.page("/account", html))
        page.locator(f"{W} .launcher").click()
        credits = page.locator(f"{W} .status .credits")
        expect(credits).to_contain_text("Осталось 3 кредита поддержки")
        link = credits.locator("a")
        expect(link).to_have_text("Купить ещё")
        expect(link).to_have_attribute("href", "https://shop.example/support-credits")
        # Nobody is online: the offline form already knows the customer's e-mail.
        expect(page.locator(f"{W} form.offline input[name=email]")).to_have_value(email)
        page.screenshot(path=str(artifacts / "widget-credits-ru.png"))
        change("grant", 2, "second")  # live `balance` frames, plural forms follow
        expect(credits).to_contain_text("Осталось 5 кредитов поддержки")
        change("adjust", -4, "third")
        expect(credits).to_contain_text("Остался 1 кредит поддержки")


HIDDEN_TAB = """
Object.defineProperty(Document.prototype, "hidden", { get: () => window.__hidden === true });
window.__setHidden = (v) => { window.__hidden = v; document.dispatchEvent(new Event("visibilitychange")); };
"""


def test_unread_badge_and_hidden_tab_notification(
    page: Any, hub: LiveServer, wire_agent: Callable[..., WireAgent]
) -> None:
    page.add_init_script(HIDDEN_TAB)  # headless tabs never hide on their own
    agent = wire_agent()
    open_widget(page, hub.url + "/demo")
    write(page, "hello")
    conv = agent.assigned()
    agent.heard("hello")
    page.keyboard.press("Escape")
    launcher = page.locator(f"{W} .launcher")
    expect(launcher).to_be_focused()
    badge = page.locator(f"{W} .badge")
    expect(badge).to_be_hidden()
    agent.say(conv, "first reply")
    expect(badge).to_have_text("1")
    agent.say(conv, "second reply")
    expect(badge).to_have_text("2")
    expect(launcher).to_have_attribute("aria-label", "Open chat (2 unread messages)")
    # The agent's read receipt: nothing is marked seen while the panel is closed.
    launcher.click()
    expect(badge).to_be_hidden()
    seen = agent.until(lambda f: f.get("type") == "seen" and f.get("who") == "visitor")
    while seen["seq"] < 4:  # the visitor read its own line (2) early on; now the replies
        seen = agent.until(lambda f: f.get("type") == "seen" and f.get("who") == "visitor")
    assert seen["conversation_id"] == conv

    title = page.title()
    page.evaluate("window.__setHidden(true)")
    agent.say(conv, "are you still there?")
    expect(page).to_have_title(f"(1) New message · {title}", timeout=TIMEOUT)
    page.evaluate("window.__setHidden(false)")
    expect(page).to_have_title(title)


def test_prechat_form_renews_the_session_with_name_and_email(
    page: Any, hub: LiveServer, site: EmbedSite, wire_agent: Callable[..., WireAgent]
) -> None:
    agent = wire_agent()
    html = (
        "<!doctype html><html lang=sl><head><meta charset=utf-8><title>trgovina</title></head><body>"
        f'<script src="{hub.url}/widget.js" data-prechat="true" defer></script></body></html>'
    )
    page.goto(site.page("/trgovina", html))
    page.locator(f"{W} .launcher").click()
    form = page.locator(f"{W} form.prechat")
    expect(form.locator("h3")).to_have_text("Preden začnemo, nam povejte, kdo ste")
    expect(page.locator(f"{W} .composer")).to_have_count(0)
    form.get_by_label("Vaše ime").fill("Nika Novak")
    form.get_by_label("E-pošta").fill("nika@example.com")
    with page.expect_response(lambda r: r.url.endswith("/api/visitor/session")) as renewed:
        form.get_by_role("button", name="Začni klepet").click()
    assert renewed.value.request.post_data_json["name"] == "Nika Novak"
    assert renewed.value.request.post_data_json["email"] == "nika@example.com"
    write(page, "Živjo")
    frame = agent.call(agent.client.recv_type("assigned"))
    assert frame["conversation"]["visitor"]["name"] == "Nika Novak"


def test_a_paid_reply_spends_a_credit_and_running_out_says_so(
    page: Any, hub: LiveServer, site: EmbedSite, wire_agent: Callable[..., WireAgent]
) -> None:
    email = "lee@example.com"
    assert hub.settings.security.identity_secret
    signed = identity_hash(hub.settings.security.identity_secret, email)
    with staff_http(hub, "boss@example.com") as admin:
        admin.post(
            f"/api/credits/{email}/grant",
            json={"amount": 1, "reason": "test", "action_id": "one"},
        ).raise_for_status()
    agent = wire_agent()
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>shop</title></head><body>"
        f'<script src="{hub.url}/widget.js" data-email="{email}" '
        f'data-identity-hash="{signed}" defer></script></body></html>'
    )
    page.goto(site.page("/account", html))
    page.locator(f"{W} .launcher").click()
    credits = page.locator(f"{W} .status .credits")
    expect(credits).to_contain_text("1 support credit left")
    write(page, "first question")
    conv = agent.assigned()
    agent.heard("first question")
    agent.say(conv, "first answer")  # the first human reply is billed
    expect(credits).to_contain_text("0 support credits left")

    agent.send({"type": "close", "conversation_id": conv})
    expect(page.locator(f"{W} form.rating")).to_be_visible()
    write(page, "second question")
    second = agent.assigned()
    assert second != conv
    agent.heard("second question")
    agent.say(second, "second answer")
    note = page.locator(f"{W} .log .note", has_text="You have no support credits left.")
    expect(note).to_have_count(1)
    expect(note.locator("a")).to_have_attribute("href", "https://shop.example/support-credits")
