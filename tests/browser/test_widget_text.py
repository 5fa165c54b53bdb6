"""The widget shows what was stored: user text isolated from the line around it, invisible
format characters (bidi overrides, zero-width spaces) shown as codes; and its composer is
16 px on a phone, so iOS does not zoom the page when it takes the focus."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import WireAgent, expect
from tests.browser.test_widget import TIMEOUT, W, bubbles, start_chat
from tests.live import LiveServer

pytestmark = pytest.mark.browser


def test_widget_isolates_text_and_shows_invisible_characters(
    page: Any, hub: LiveServer, wire_agent: Callable[..., WireAgent]
) -> None:
    agent = wire_agent()
    text = "pay\u200bpal \u202eexe.txt"
    conv = start_chat(page, hub, agent, text)
    mine = bubbles(page, "visitor").first
    expect(mine).to_have_attribute("dir", "auto")
    expect(mine).to_have_text("payU+200Bpal U+202Eexe.txt")
    agent.say(conv, "See \u2067https://example.com/a\u2069 now")
    reply = bubbles(page, "agent").first
    expect(reply).to_have_text("See U+2067https://example.com/aU+2069 now")
    expect(reply.locator("a")).to_have_attribute("href", "https://example.com/a")
    assert reply.evaluate("n => getComputedStyle(n).unicodeBidi") == "isolate"
    shown = reply.inner_text() + mine.inner_text()
    assert not any(c in shown for c in "\u200b\u202e\u2067\u2069")


def test_widget_composer_is_16px_on_a_phone(
    browser: Any, hub: LiveServer, wire_agent: Callable[..., WireAgent]
) -> None:
    wire_agent()  # someone is online: the composer, not the offline form
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = ctx.new_page()
        page.set_default_timeout(TIMEOUT)
        page.goto(hub.url + "/demo")
        page.locator(f"{W} .launcher").click()
        composer = page.locator(f"{W} .composer textarea")
        expect(composer).to_be_visible()
        expect(composer).to_have_css("font-size", "16px")
    finally:
        ctx.close()
