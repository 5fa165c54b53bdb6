"""The visitor widget in a real Chromium against a real hub; the agent is driven over the wire.

Every wait is an expectation with a timeout (Playwright's expect / wait_for_*), never a sleep.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import EmbedSite, WireAgent, expect, staff_http
from tests.live import LiveServer

pytestmark = pytest.mark.browser

DOCS_IMG = Path(__file__).parents[2] / "docs" / "img"
TIMEOUT = 15_000
W = "#livedesk-widget"


TRACKING_ARTICLE = {
    "id": "track-order-en",
    "lang": "en",
    "title": "Where is my order? Tracking your parcel",
    "body": "We e-mail you a tracking number when the parcel leaves.\n\n"
    "Follow it at https://courier.example/track. <img src=x onerror=alert(1)>",
    "tags": ["orders"],
}


def open_widget(page: Any, url: str) -> None:
    page.goto(url)
    page.locator(f"{W} .launcher").click()
    expect(page.locator(f"{W} .panel")).to_be_visible()


def write(page: Any, text: str) -> None:
    box = page.locator(f"{W} .composer textarea")
    box.fill(text)
    box.press("Enter")


def bubbles(page: Any, author: str) -> Any:
    return page.locator(f"{W} .log .item[data-author={author}] .bubble")


def db_rows(hub: LiveServer, sql: str, **params: Any) -> list[Any]:
    """Read the hub's database directly: what was stored, not what a client was told."""
    import sqlalchemy as sa

    engine = sa.create_engine(hub.settings.server.database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params).all())
    finally:
        engine.dispose()


def stored_texts(hub: LiveServer, conv: str, author: str) -> list[str]:
    rows = db_rows(
        hub,
        "select body from messages where conversation_id = :c and kind = 'text' and author = :a order by seq",
        c=conv,
        a=author,
    )
    return [r[0] for r in rows]


def start_chat(page: Any, hub: LiveServer, agent: WireAgent, first: str) -> str:
    open_widget(page, hub.url + "/demo")
    write(page, first)
    conv = agent.assigned()
    agent.heard(first)
    return conv


def test_chat_with_an_agent_survives_a_reload(
    page: Any, hub: LiveServer, wire_agent: Callable[..., WireAgent], artifacts: Path
) -> None:
    agent = wire_agent()
    conv = start_chat(page, hub, agent, "Hello, where is my order 1234?")
    expect(page.locator(f"{W} .log .note").first).to_contain_text("Ana joined the chat")

    agent.send({"type": "typing", "conversation_id": conv, "active": True})
    expect(page.locator(f"{W} .typing")).to_have_text("Ana is typing…")
    agent.say(conv, "Let me check. Track it at https://example.com/track?id=1234.")
    reply = page.locator(f"{W} .log .item[data-author=agent]").first
    expect(reply.locator(".who")).to_have_text("Ana")
    expect(reply.locator(".avatar")).to_have_text("A")
    link = reply.locator(".bubble a")
    expect(link).to_have_attribute("href", "https://example.com/track?id=1234")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(link).to_have_attribute("target", "_blank")
    expect(page.locator(f"{W} .typing")).to_have_text("")

    # The visitor's typing reaches the agent, and the unsent draft (the `preview`) already
    # drives the knowledge base's suggestions for the agent.
    with staff_http(hub, "sam@example.com") as http:
        http.post("/api/kb/articles", json=TRACKING_ARTICLE).raise_for_status()
    page.locator(f"{W} .composer textarea").fill("how do I track my parcel")
    typing = agent.frame("typing", who="visitor", active=True)
    assert typing["conversation_id"] == conv
    # Suggestions for a draft carry no `for_seq` (there is no stored message yet).
    suggested = agent.until(lambda f: f.get("type") == "suggestions" and f.get("for_seq") is None)
    assert "track-order-en" in str(suggested["items"])
    page.locator(f"{W} .composer textarea").fill("")
    agent.frame("typing", who="visitor", active=False)
    write(page, "Thanks, it says shipped.")
    agent.heard("Thanks, it says shipped.")
    # The widget told the server it has read the agent's reply; the agent's read receipt shows.
    agent_seq = bubbles(page, "agent").count() and int(
        page.locator(f"{W} .log .item[data-author=agent]").first.get_attribute("data-seq") or 0
    )
    seen = agent.until(
        lambda f: f.get("type") == "seen" and f.get("who") == "visitor" and f["seq"] >= agent_seq
    )
    assert seen["conversation_id"] == conv and agent_seq >= 2
    last_mine = bubbles(page, "visitor").last
    expect(last_mine).to_have_text("Thanks, it says shipped.")
    expect(page.locator(f"{W} .seen")).to_have_count(0)
    # The bubble learns its seq from the ack (messages are not echoed to their sender).
    mine = page.locator(f"{W} .log .item.mine").last
    expect(mine).to_have_attribute("data-seq", re.compile(r"^[1-9][0-9]*$"))
    ack_seq = int(mine.get_attribute("data-seq") or 0)
    agent.send({"type": "seen", "conversation_id": conv, "seq": ack_seq})
    expect(page.locator(f"{W} .item.mine").last.locator(".seen")).to_have_text("Seen")
    agent.say(conv, "Great, it should arrive tomorrow.")
    expect(bubbles(page, "agent")).to_have_count(2)
    page.screenshot(path=str(artifacts / "widget-chat.png"))
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    shutil.copy(artifacts / "widget-chat.png", DOCS_IMG / "widget-chat.png")

    page.reload()
    # The panel was open before the reload and opens again by itself (state in localStorage).
    expect(page.locator(f"{W} .panel")).to_be_visible()
    expect(bubbles(page, "agent")).to_have_text(
        [
            "Let me check. Track it at https://example.com/track?id=1234.",
            "Great, it should arrive tomorrow.",
        ]
    )
    expect(bubbles(page, "visitor")).to_have_text(
        ["Hello, where is my order 1234?", "Thanks, it says shipped."]
    )
    expect(page.locator(f"{W} .log .note")).to_have_count(1)
    # Still the same conversation: a new line goes to the same agent.
    write(page, "One more thing")
    assert agent.heard("One more thing")["conversation_id"] == conv
    page.screenshot(path=str(artifacts / "widget-after-reload.png"))


def test_network_cut_loses_nothing_and_doubles_nothing(
    page: Any, context: Any, hub: LiveServer, wire_agent: Callable[..., WireAgent], artifacts: Path
) -> None:
    agent = wire_agent()
    conv = start_chat(page, hub, agent, "before the cut")
    expect(page.locator(f"{W} .item.mine[data-seq]")).to_have_count(1)

    context.set_offline(True)
    expect(page.locator(f"{W} .banner")).to_be_visible()
    write(page, "typed offline 1")
    write(page, "typed offline 2")
    expect(page.locator(f"{W} .item.mine.pending")).to_have_count(2)
    agent.say(conv, "said while you were away")
    page.screenshot(path=str(artifacts / "widget-offline-queue.png"))
    context.set_offline(False)

    agent.heard("typed offline 1")
    agent.heard("typed offline 2")
    expect(page.locator(f"{W} .item.mine.pending")).to_have_count(0)
    expect(page.locator(f"{W} .banner")).to_be_hidden()
    expect(bubbles(page, "agent")).to_have_text(["said while you were away"])
    expect(bubbles(page, "visitor")).to_have_text(
        ["before the cut", "typed offline 1", "typed offline 2"]
    )
    assert stored_texts(hub, conv, "visitor") == [
        "before the cut",
        "typed offline 1",
        "typed offline 2",
    ]
    assert stored_texts(hub, conv, "agent") == ["said while you were away"]


XSS = [
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(2)">click</a> javascript:alert(3)',
    "<svg onload=alert(4)></svg><script>alert(5)</script>",
]


def test_xss_payloads_render_as_text(
    page: Any, hub: LiveServer, wire_agent: Callable[..., WireAgent], dialogs: list[str]
) -> None:
    agent = wire_agent()
    conv = start_chat(page, hub, agent, XSS[0])
    for payload in XSS[1:]:
        write(page, payload)
        agent.heard(payload)
    for payload in XSS:
        agent.say(conv, payload)
    expect(bubbles(page, "agent")).to_have_text(XSS)
    expect(bubbles(page, "visitor")).to_have_text(XSS)
    log = page.locator(f"{W} .log")
    expect(log.locator("img, script, .bubble svg, iframe")).to_have_count(0)
    # javascript: is never a link; only http(s) would be.
    expect(log.locator(".bubble a")).to_have_count(0)
    page.reload()  # replayed history is rendered by the same code path: still inert
    expect(bubbles(page, "agent")).to_have_count(3)
    expect(page.locator("img")).to_have_count(0)
    assert dialogs == []


def test_offline_form_when_nobody_is_online(page: Any, hub: LiveServer, artifacts: Path) -> None:
    open_widget(page, hub.url + "/demo")
    form = page.locator(f"{W} form.offline")
    expect(form).to_be_visible()
    expect(page.locator(f"{W} .composer")).to_have_count(0)
    form.get_by_label("Your name").fill("Mia")
    # The form is built once; re-renders on later frames keep what the visitor typed.
    expect(form.get_by_label("Your name")).to_have_value("Mia")
    form.get_by_label("E-mail").fill("mia@example.com")
    form.get_by_label("Message").fill("Please call me back about <b>order</b> 77.")
    with page.expect_response(lambda r: r.url.endswith("/api/visitor/offline")) as answer:
        form.get_by_role("button", name="Send message").click()
    assert answer.value.status == 200
    assert answer.value.json() == {"ok": True}
    expect(form.locator(".sent")).to_have_text("Thank you! We will get back to you by e-mail.")
    rows = db_rows(hub, "select name, email, text from offline_messages")
    assert [tuple(r) for r in rows] == [
        ("Mia", "mia@example.com", "Please call me back about <b>order</b> 77.")
    ]
    page.screenshot(path=str(artifacts / "widget-offline-form.png"))


def test_csat_after_the_agent_closes(
    page: Any, hub: LiveServer, wire_agent: Callable[..., WireAgent], artifacts: Path
) -> None:
    agent = wire_agent()
    conv = start_chat(page, hub, agent, "Can you close this for me?")
    agent.say(conv, "Done, closing now.")
    agent.send({"type": "close", "conversation_id": conv})
    form = page.locator(f"{W} form.rating")
    expect(form).to_be_visible()
    expect(page.locator(f"{W} .log .note").last).to_have_text("The chat has ended")
    form.get_by_label("4 stars").check(force=True)
    form.get_by_label("Comment (optional)").fill("Quick and kind")
    form.get_by_role("button", name="Send rating").click()
    # "Thank you" is shown only on the server's `rated` answer.
    expect(form.locator(".thanks")).to_have_text("Thank you for your feedback!")
    page.screenshot(path=str(artifacts / "widget-csat.png"))
    assert _csat(hub, conv) == (4, "Quick and kind")


def _csat(hub: LiveServer, conv: str) -> tuple[int | None, str | None]:
    (row,) = db_rows(
        hub, "select csat_score, csat_comment from conversations where id = :c", c=conv
    )
    return row[0], row[1]


def _embed(
    page: Any, hub: LiveServer, site: EmbedSite, path: str, html_lang: str | None, attrs: str = ""
) -> None:
    """A page of another website with the one-tag embed; its CSS is as hostile as it gets."""
    lang = f' lang="{html_lang}"' if html_lang else ""
    html = (
        f"<!doctype html><html{lang}><head><meta charset=utf-8><title>shop</title>"
        "<style>*{color:red!important;font-size:40px!important} button{display:none!important}</style>"
        f'</head><body><p>page text</p><script src="{hub.url}/widget.js" {attrs} defer></script></body></html>'
    )
    page.goto(site.page(path, html))


def test_russian_from_data_lang(
    page: Any, hub: LiveServer, site: EmbedSite, artifacts: Path
) -> None:
    _embed(page, hub, site, "/shop-ru", "en", 'data-lang="ru" data-color="#0a7d4f"')
    launcher = page.locator(f"{W} .launcher")
    # The page's hostile CSS (button{display:none}) cannot reach into the shadow root.
    expect(launcher).to_be_visible()
    expect(launcher).to_have_attribute("aria-label", "Открыть чат")
    launcher.click()
    expect(page.locator(f"{W} header h2")).to_have_text("Напишите нам")
    expect(page.locator(f"{W} form.offline h3")).to_have_text("Сейчас нас нет на месте")
    expect(page.locator(f"{W} .panel")).to_have_attribute("lang", "ru")
    page.screenshot(path=str(artifacts / "widget-ru.png"))
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    shutil.copy(artifacts / "widget-ru.png", DOCS_IMG / "widget-offline-ru.png")


def test_serbian_cyrillic_from_the_page_language(
    page: Any, hub: LiveServer, site: EmbedSite, artifacts: Path
) -> None:
    _embed(page, hub, site, "/shop-sr", "sr-Cyrl")
    page.locator(f"{W} .launcher").click()
    expect(page.locator(f"{W} header h2")).to_have_text("Пишите нам")
    expect(page.locator(f"{W} form.offline h3")).to_have_text("Тренутно нисмо доступни")
    expect(page.locator(f"{W} form.offline").get_by_role("button")).to_have_text("Пошаљи поруку")
    page.screenshot(path=str(artifacts / "widget-sr-cyrl.png"))


def test_keyboard_and_phone_screen(browser: Any, hub: LiveServer, artifacts: Path) -> None:
    ctx = browser.new_context(
        viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True
    )
    try:
        page = ctx.new_page()
        page.set_default_timeout(TIMEOUT)
        page.goto(hub.url + "/demo")
        launcher = page.locator(f"{W} .launcher")
        launcher.focus()
        page.keyboard.press("Enter")
        panel = page.locator(f"{W} [role=dialog]")
        expect(panel).to_be_visible()
        expect(panel).to_have_attribute("aria-labelledby", "ld-title")
        expect(page.locator(f"{W} ol.log[aria-live=polite]")).to_have_count(1)
        expect(page.locator(f"{W} [role=status]").first).to_be_attached()
        # Nobody is online: the offline form replaces the composer and keeps the focus inside.
        expect(page.locator(f"{W} form.offline")).to_be_visible()
        assert page.evaluate("document.activeElement.shadowRoot.activeElement.name") == "name"
        box = panel.bounding_box()
        assert box is not None and box["width"] == 375 and box["height"] == 667
        page.screenshot(path=str(artifacts / "widget-phone.png"))
        page.keyboard.press("Escape")
        expect(panel).to_be_hidden()
        assert (
            page.evaluate("document.activeElement.shadowRoot.activeElement.className") == "launcher"
        )
    finally:
        ctx.close()
