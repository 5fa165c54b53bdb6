"""The supervisor dashboard in a real Chromium: live load within a second, the cap holding
the sixth chat back until one closes, silent monitoring."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser import test_console as console
from tests.browser.conftest import Wire, log_in
from tests.browser.test_console import ANA, DOCS_IMG, MARIUS, new_visitor
from tests.live import LiveServer

# The console's seeded hub with secure cookies (the wire's event loop is the conftest's).
desk = console.desk

pytestmark = pytest.mark.browser


def test_dashboard_follows_load_live_and_the_cap_holds_the_sixth_chat(
    browser: Any, desk: LiveServer, wire: Wire, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    console = log_in(browser, desk, *ANA)
    expect(console.locator("#link")).to_have_text("online")
    ana_id = console.locator("#me").get_attribute("data-agent-id")
    board = log_in(browser, desk, *MARIUS)
    expect(board).to_have_url(desk.url + "/supervisor")
    expect(board.locator("#link")).to_have_text("online")
    load = board.locator(f'[data-testid="load-{ana_id}"]')
    expect(load).to_have_text("0/5")

    visitors = []
    for n in range(1, 6):
        client, conv_id = wire.run(new_visitor(desk, f"Visitor {n}", f"Question number {n}"))
        visitors.append((client, conv_id))
        wire.run(client.recv_type("event", event="assigned"))
        # The board pushes on the assignment itself: well within a second.
        expect(load).to_have_text(f"{n}/5", timeout=1000)
    expect(console.locator(".tab")).to_have_count(5)

    sixth, sixth_conv = wire.run(new_visitor(desk, "Visitor 6", "Am I next?"))
    queued = wire.run(sixth.recv_type("queue"))
    assert queued["position"] == 1
    expect(board.locator("#q-length")).to_have_text("1", timeout=1000)
    sixth_tab = console.locator(f'.tab[data-conversation-id="{sixth_conv}"]')
    expect(sixth_tab).to_have_count(0)
    expect(load).to_have_text("5/5")

    # Silent monitoring: the supervisor reads a live chat; the agent sees no sign of it.
    first_client, first_conv = visitors[0]
    board.locator(f'tr[data-agent-id="{ana_id}"] .chip').first.click()
    monitor = board.locator("#monitor-log")
    expect(monitor).to_contain_text("Question number 1")
    wire.run(first_client.send_text("Are you still there?"))
    expect(monitor).to_contain_text("Are you still there?")

    # Service levels refresh every few seconds, chart samples too: wait for both to show.
    first_row = board.locator("#sla tbody tr").first
    expect(first_row).to_contain_text(re.compile(r"Conversations\s*6\s*6"), timeout=10_000)
    expect(board.locator("body")).to_have_attribute(
        "data-points", re.compile(r"^([2-9]|\d\d+)$"), timeout=15_000
    )
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    board.screenshot(path=str(DOCS_IMG / "dashboard.png"), full_page=True)
    board.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)

    # Ana closes one chat: the sixth arrives at once and the board shows it.
    console.locator(f'.tab[data-conversation-id="{visitors[1][1]}"]').click()
    console.keyboard.press("Alt+c")
    console.fill("#close-tags", "faq")
    console.click("#close-ok")
    expect(sixth_tab).to_have_count(1)
    expect(board.locator("#q-length")).to_have_text("0", timeout=1000)
    expect(load).to_have_text("5/5")
    assert wire.run(sixth.recv_type("event", event="assigned"))["data"]["agent"]["id"] == str(
        int(ana_id)  # ids on the wire are strings
    )
    console.context.close()
    board.context.close()
