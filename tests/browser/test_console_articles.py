"""Issue 15.4 in the console: Insert puts a whole reply into the composer (the article's
answer, else whole sentences of its body), and the full article opens beside the chat, as
text."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from chatserver.live.auth import session_cookie_name
from tests.browser.conftest import Wire, log_in
from tests.browser.test_console import ANA, MARIUS, desk, http_login, new_visitor
from tests.live import LiveServer

pytestmark = pytest.mark.browser
__all__ = ["desk"]  # the fixture, shared with the console tests

SENTENCES = [
    "Gift cards are sent by e-mail within ten minutes of payment.",
    "Each card is valid for three years from the day it was bought.",
    "A card can be used for several orders until its balance is spent.",
    "Cards cannot be exchanged for cash, and a lost code can be sent again from your account.",
    "If the recipient never got the e-mail, ask them to look in their spam folder first.",
    "Our team can resend it to another address once we have confirmed the order number.",
    "Cards bought in our shops work online too, and online cards work in every shop.",
    "A card whose balance is lower than the order can be topped up with any payment method.",
]
GIFT_CARDS = {
    "id": "gift-cards-en",
    "lang": "en",
    "title": "Gift cards: delivery, validity and <b>balance</b>",
    "body": " ".join(SENTENCES)
    + "\n\nCorporate orders <img src=x onerror=alert(1)> go to our sales team at "
    "https://sales.example/gift.",
    "tags": ["gift card", "voucher"],
}
WRAPPING = {
    "id": "gift-wrap-en",
    "lang": "en",
    "title": "Gift wrapping with a handwritten card",
    "body": "We wrap any order in recycled paper. A handwritten card costs nothing extra.",
    "answer": "Yes, we gift-wrap any order for 3 EUR, handwritten card included.",
    "tags": ["gift", "wrapping"],
}


def save_articles(wire: Wire, server: LiveServer, *articles: dict[str, Any]) -> None:
    async def run() -> None:
        cookie = await http_login(server, *MARIUS)
        headers = {"cookie": f"{session_cookie_name(server.settings)}={cookie}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as http:
            # Writes carry the session's CSRF token, as the console's do.
            headers["x-csrf-token"] = (await http.get("/api/me")).json()["csrf"]
            for article in articles:
                (
                    await http.post("/api/kb/articles", json=article, headers=headers)
                ).raise_for_status()

    wire.run(run())


def test_insert_puts_a_whole_reply_and_the_article_opens_beside_the_chat(
    browser: Any, desk: LiveServer, wire: Wire, artifacts: Any
) -> None:
    from playwright.sync_api import expect

    save_articles(wire, desk, GIFT_CARDS, WRAPPING)
    page = log_in(browser, desk, *ANA)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    expect(page.locator("#link")).to_have_text("online")
    vera, conv_id = wire.run(new_visitor(desk, "Vera", "Hello"))
    wire.clients.append(vera)
    wire.run(vera.recv_type("event", event="assigned"))
    pane = page.locator(f'.chat[data-conversation-id="{conv_id}"]')
    wire.run(vera.send_text("How long is a gift card valid, and when is it sent?"))
    card = pane.locator('.suggestion[data-article-id="gift-cards-en"]')
    expect(card).to_be_visible(timeout=10_000)
    expect(card.locator("p")).to_have_text(re.compile("…$"))  # the preview is cut

    composer = pane.locator("textarea")
    card.get_by_role("button", name="Insert").click()
    value = composer.input_value()
    assert not value.endswith("…")
    assert value in {" ".join(SENTENCES[:n]) for n in range(1, len(SENTENCES) + 1)}, value
    assert len(value) > len(card.locator("p").inner_text())

    card.get_by_role("button", name="Open").click()
    article = pane.locator(".article-view")
    expect(article.locator("h4")).to_have_text("Gift cards: delivery, validity and <b>balance</b>")
    expect(article.locator(".article-text p")).to_have_count(2)
    expect(article.locator(".article-text p").last).to_contain_text("<img src=x onerror=alert(1)>")
    expect(article.locator("img, b")).to_have_count(0)
    page.screenshot(path=str(artifacts / "console-article.png"))
    article.get_by_role("button", name="Close").click()
    expect(article).to_be_hidden()

    composer.fill("")
    wire.run(vera.send_text("Can you gift wrap my order with a handwritten card?"))
    wrap = pane.locator('.suggestion[data-article-id="gift-wrap-en"]')
    expect(wrap).to_be_visible(timeout=10_000)
    wrap.get_by_role("button", name="Open").click()
    expect(article.locator("h4")).to_have_text(WRAPPING["title"])
    article.get_by_role("button", name="Insert answer").click()
    expect(composer).to_have_value(WRAPPING["answer"])
    composer.fill("")
    wrap.get_by_role("button", name="Insert").click()
    expect(composer).to_have_value(WRAPPING["answer"])
    composer.press("Enter")
    got = wire.run(vera.recv_type("message", author="agent"))
    assert got["text"] == WRAPPING["answer"]
    assert dialogs == []
    page.context.close()
