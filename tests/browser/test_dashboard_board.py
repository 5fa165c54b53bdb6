"""The supervisor dashboard's honest figures and readable monitor in a real Chromium: chats
waiting past the target count as misses, the Load tile counts available agents only, success
reads as success, the charts fit a 1366 px screen, and the monitor names people and events."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Wire, expect
from tests.browser.test_console import MARIUS
from tests.browser.test_console import desk as desk  # the seeded hub with secure cookies
from tests.browser.test_console_desk import BOB, visitor, wire_agent_on
from tests.live import LiveServer

pytestmark = pytest.mark.browser


def board_page(browser: Any, server: LiveServer, width: int = 1400) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-US")
    page = context.new_page()
    page.goto(server.url + "/login")
    page.fill("input[name=email]", MARIUS[0])
    page.fill("input[name=password]", MARIUS[1])
    page.click("button[type=submit]")
    expect(page).to_have_url(server.url + "/supervisor")
    expect(page.locator("#link")).to_have_text("online")
    return page


def test_answered_within_target_counts_chats_still_waiting_past_it(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    desk.app.state.board.target_s = 2.0  # a target a test can wait past
    bob = wire_agent_on(wire, desk, *BOB)
    vera, conv = visitor(wire, desk, "Vera", "answered at once", language=None)
    wire.run(bob.recv_type("assigned"))
    wire.run(bob.send_text("Hello Vera", conversation_id=conv))
    wire.run(bob.send({"type": "status", "status": "away"}))
    wire.run(bob.recv_type("status"))
    visitor(wire, desk, "Walt", "nobody comes", language=None)  # waits past the target

    page = board_page(browser, desk)
    row = page.locator("#sla tbody tr", has_text="Answered within target")
    # One answered in time, one waiting past the target: half, not 100 %.
    expect(row).to_contain_text(re.compile(r"50%.*50%"), timeout=15_000)
    page.context.close()


def test_the_load_tile_counts_available_agents_and_shows_chats_held_by_agents_away(
    browser: Any, desk: LiveServer, wire: Wire
) -> None:
    bob = wire_agent_on(wire, desk, *BOB)
    for n in range(3):
        visitor(wire, desk, f"V{n}", f"question {n}", language=None)
        wire.run(bob.recv_type("assigned"))
    page = board_page(browser, desk)
    expect(page.locator("#load-total")).to_have_text("3/5")
    wire.run(bob.send({"type": "status", "status": "away"}))
    # Marius's own dashboard socket is not a seat; nobody is available now.
    expect(page.locator("#load-total")).to_have_text("0/0")
    expect(page.locator("#load-hint")).to_have_text("+3 held by agents away")
    page.context.close()


def test_the_monitor_names_people_and_events(browser: Any, desk: LiveServer, wire: Wire) -> None:
    bob = wire_agent_on(wire, desk, *BOB)
    vera, conv = visitor(wire, desk, "Vera \u202eevil", "Where is my parcel?", language=None)
    wire.run(bob.recv_type("assigned"))
    wire.run(bob.send_text("Looking now", conversation_id=conv))

    page = board_page(browser, desk)
    chip = page.locator(f'.chip[data-conversation-id="{conv}"]')
    expect(chip).to_have_text("Vera U+202Eevil")
    chip.click()
    expect(page.locator("#monitor-title")).to_have_text("Vera U+202Eevil")
    log = page.locator("#monitor-log")
    expect(log.locator("li.event").first).to_have_text("Assigned to Bob")
    expect(log.locator("li.visitor")).to_contain_text("Vera U+202Eevil: Where is my parcel?")
    expect(log.locator("li.agent")).to_contain_text("Bob: Looking now")
    assert conv not in page.locator("#monitor").inner_text()
    page.context.close()


def test_a_success_in_the_monitor_reads_as_success(
    browser: Any, desk: LiveServer, wire: Wire, artifacts: Path
) -> None:
    bob = wire_agent_on(wire, desk, *BOB)
    wire_agent_on(wire, desk, *MARIUS)  # the supervisor is on the desk: a take-over lands
    visitor(wire, desk, "Vera", "Where is my parcel?", language=None)
    wire.run(bob.recv_type("assigned"))
    page = board_page(browser, desk)
    page.locator(".chip").first.click()
    expect(page.locator("#monitor-log")).to_contain_text("Where is my parcel?")
    page.click("#monitor-takeover")
    status = page.locator("#monitor-status")
    expect(status).to_have_text("Taken over: it is in your console now.")
    expect(page.locator("#monitor-error")).to_have_text("")
    colour = status.evaluate("n => getComputedStyle(n).color")
    red, green, blue = (int(x) for x in re.findall(r"\d+", colour)[:3])
    assert green > red and green > blue, colour
    page.screenshot(path=str(artifacts / "dashboard-monitor.png"), full_page=True)
    page.context.close()


def test_chart_labels_fit_at_1366_px(
    browser: Any, desk: LiveServer, wire: Wire, artifacts: Path
) -> None:
    from chatserver.services.dashboard import Sample

    # Six (very) busy hours behind us: five-digit figures on every axis make wide labels.
    now = int(time.time() * 1000)
    history = desk.app.state.board.history
    for i in range(72):
        ts = now - (72 - i) * 300_000
        history.append(Sample(ts, 12_000 + i * 20, 10_500.0 + i, 15_000, 30_000.0 + i * 400))
    bob = wire_agent_on(wire, desk, *BOB)
    visitor(wire, desk, "Vera", "Hello", language=None)
    wire.run(bob.recv_type("assigned"))

    page = board_page(browser, desk, width=1366)
    expect(page.locator("body")).to_have_attribute(
        "data-points", re.compile(r"^[1-9]\d+$"), timeout=15_000
    )
    page.locator(".chip").first.click()  # the monitor opens beside
    expect(page.locator("#monitor")).to_be_visible()
    page.screenshot(path=str(artifacts / "dashboard-1366.png"), full_page=True)
    charts = page.locator(".charts .uplot")
    expect(charts).to_have_count(2)
    # Every vertical axis is wide enough for its widest label (uPlot draws on a canvas: the
    # axis box is what the labels get; the font is uPlot's default axis font).
    cramped = page.locator(".charts").evaluate(
        """panel => {
          const ctx = document.createElement('canvas').getContext('2d');
          ctx.font = '12px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif';
          const label = ctx.measureText('10,000').width;
          const out = [];
          for (const axis of panel.querySelectorAll('.u-axis')) {
            const r = axis.getBoundingClientRect();
            if (r.height > r.width && r.width < label + 12) out.push([Math.round(r.width), Math.round(label)]);
          }
          return out;
        }"""
    )
    assert cramped == [], f"axes narrower than their labels: {cramped}"
    overflow = page.locator(".charts").evaluate(
        """panel => {
          const box = panel.getBoundingClientRect();
          const out = [];
          for (const n of panel.querySelectorAll('.uplot, .u-legend, .u-title, canvas')) {
            const r = n.getBoundingClientRect();
            if (r.width && (r.right > box.right + 0.5 || r.left < box.left - 0.5)) out.push(n.className || n.tagName);
          }
          if (panel.scrollWidth > panel.clientWidth) out.push('panel scrolls sideways');
          return out;
        }"""
    )
    assert overflow == [], overflow
    page.context.close()
