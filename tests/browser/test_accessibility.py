"""axe-core, run in a real Chromium, finds no serious or critical accessibility violation on
the login page, the widget (closed, open, chatting), the console with a chat, and the
dashboard.

axe-core comes inside the ``axe-playwright-python`` wheel (a dev dependency), so the
README's test command brings it; without it these tests fail and say so, rather than skip.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import EmbedSite, Wire, WireAgent, expect, sign_in
from tests.browser.test_console import ANA, MARIUS
from tests.browser.test_console import desk as desk  # the seeded hub with secure cookies
from tests.browser.test_console_desk import BOB, visitor, wire_agent_on
from tests.browser.test_widget import W, write
from tests.live import LiveServer

pytestmark = pytest.mark.browser
_AXE_WHEEL = find_spec("axe_playwright_python")
AXE = Path(_AXE_WHEEL.origin if _AXE_WHEEL and _AXE_WHEEL.origin else "/nonexistent").with_name(
    "axe.min.js"
)
BLOCKING = ("serious", "critical")
DESK_VIEWPORT = {"width": 1400, "height": 900}


def axe_problems(page: Any) -> list[str]:
    """Serious and critical violations on the page as it is now, one line each."""
    if not AXE.is_file():
        pytest.fail(
            f"axe-core is missing ({AXE} not found): install the dev extras "
            "(pip install -e '.[dev]' brings axe-playwright-python, which ships axe.min.js)",
            pytrace=False,
        )
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    lines = []
    for v in result["violations"]:
        if v["impact"] not in BLOCKING:
            continue
        targets = "; ".join(
            " >> ".join(str(t) for t in node["target"]) + " — " + node["failureSummary"]
            for node in v["nodes"][:4]
        )
        lines.append(f"{v['impact']} {v['id']}: {v['help']} [{targets}]")
    return lines


def assert_clean(page: Any, where: str) -> None:
    problems = axe_problems(page)
    assert not problems, f"axe on {where}:\n" + "\n".join(problems)


def new_page(browser: Any, **options: Any) -> Any:
    # The desk's pages forbid inline scripts (CSP); axe is injected as one.
    context = browser.new_context(bypass_csp=True, locale="en-US", **options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def test_the_login_page_has_no_serious_accessibility_violations(
    browser: Any, desk: LiveServer
) -> None:
    page = new_page(browser)
    page.goto(desk.url + "/login")
    assert_clean(page, "the login page")
    # A failed login shows an error: still clean.
    page.fill("input[name=email]", ANA[0])
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_be_visible()
    assert_clean(page, "the login page after a failed login")
    page.context.close()


def test_the_widget_closed_open_and_chatting_has_no_serious_accessibility_violations(
    browser: Any, hub: LiveServer, site: EmbedSite, wire_agent: Callable[..., WireAgent]
) -> None:
    agent = wire_agent()
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>shop</title></head>"
        f'<body><main><h1>Shop</h1></main><script src="{hub.url}/widget.js" defer></script>'
        "</body></html>"
    )
    page = new_page(browser, viewport={"width": 1100, "height": 760})
    page.goto(site.page("/shop", html))
    expect(page.locator(f"{W} .launcher")).to_be_visible()
    assert_clean(page, "the widget, closed")
    page.locator(f"{W} .launcher").click()
    expect(page.locator(f"{W} .panel")).to_be_visible()
    assert_clean(page, "the widget, open")
    write(page, "Hello, is anyone there? https://shop.example/orders/1")
    conv = agent.assigned()
    agent.heard("Hello, is anyone there? https://shop.example/orders/1")
    agent.say(conv, "Yes, Ana here. How can I help?")
    expect(page.locator(f"{W} .log .item[data-author=agent]")).to_have_count(1)
    assert_clean(page, "the widget, chatting")
    page.context.close()


def test_the_console_with_a_chat_has_no_serious_accessibility_violations(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    page = sign_in(new_page(browser, viewport=DESK_VIEWPORT), desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")
    vera, conv = visitor(wire, desk, "Vera", "Where is my order? How can I track my parcel?")
    visitor(wire, desk, "Walt", "A second chat, unread")
    pane = page.locator(f'.chat[data-conversation-id="{conv}"]')
    expect(pane.locator(".suggestion").first).to_be_visible(timeout=10_000)
    expect(pane.locator(".customer")).to_contain_text("not verified")
    assert_clean(page, "the console with a chat")
    page.context.close()


def test_the_dashboard_has_no_serious_accessibility_violations(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    bob = wire_agent_on(wire, desk, *BOB)
    visitor(wire, desk, "Vera", "Hello", language=None)
    wire.run(bob.recv_type("assigned"))
    page = sign_in(new_page(browser, viewport=DESK_VIEWPORT), desk, *MARIUS)
    expect(page.locator("#link")).to_have_text("online")
    expect(page.locator("#agents tbody tr")).to_have_count(1)
    expect(page.locator("#sla tbody tr")).to_have_count(9)
    page.locator(".chip").first.click()
    expect(page.locator("#monitor-log")).to_contain_text("Hello")
    assert_clean(page, "the dashboard")
    page.context.close()
