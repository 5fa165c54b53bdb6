"""The admin screens in a real Chromium against a real hub: what an admin saves reaches the
widget, the consoles and the routing at once, and the server refuses everyone else."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import EmbedSite, WireAgent, expect, log_in
from tests.live import LiveServer, connect_visitor

pytestmark = pytest.mark.browser
W = "#livedesk-widget"
ADMIN, AGENT = "boss@example.com", "ana@example.com"


def open_widget(browser: Any, server: LiveServer) -> Any:
    """A new visitor (own browser context) opens the widget on the demo page."""
    page = browser.new_context(locale="en-US").new_page()
    page.set_default_timeout(15_000)
    page.goto(server.url + "/demo")
    page.locator(f"{W} .launcher").click()
    expect(page.locator(f"{W} .panel")).to_be_visible()
    return page


def test_an_admin_closes_the_hours_and_the_next_visitor_gets_the_offline_form(
    browser: Any, hub: LiveServer, wire_agent: Callable[..., WireAgent], artifacts: Path
) -> None:
    wire_agent(AGENT)  # someone is online: only the hours can close the desk
    before = open_widget(browser, hub)
    expect(before.locator(f"{W} .composer")).to_be_visible()
    expect(before.locator(f"{W} form.offline")).to_have_count(0)

    admin = log_in(browser, hub, ADMIN)
    admin.goto(hub.url + "/admin/routing")
    today = datetime.now(UTC).date()
    admin.get_by_label("Business hours (empty: always open)").fill("mon-sun 00:00-23:59")
    admin.get_by_label("Time zone").fill("UTC")
    admin.get_by_label("Holidays (one ISO date a line)").fill(
        f"{today.isoformat()}\n{(today + timedelta(days=1)).isoformat()}"
    )
    # Keyboard only: Enter in a text field submits the form.
    admin.get_by_label("Time zone").press("Enter")
    expect(admin.locator("#status")).to_have_text("Saved.")
    admin.wait_for_load_state()
    expect(admin.locator("table.audit")).to_contain_text("holidays")
    expect(admin.locator("table.audit")).to_contain_text(ADMIN)
    admin.screenshot(path=str(artifacts / "admin-routing.png"), full_page=True)

    after = open_widget(browser, hub)
    expect(after.locator(f"{W} form.offline")).to_be_visible()
    expect(after.locator(f"{W} .composer")).to_have_count(0)


def test_an_edited_canned_reply_is_what_the_agents_shortcut_offers_without_a_reload(
    browser: Any, hub: LiveServer, wire: Any
) -> None:
    admin = log_in(browser, hub, ADMIN)
    admin.goto(hub.url + "/admin/canned")

    def save_reply(text: str) -> None:
        admin.get_by_label("Shortcut").fill("refundtime")
        admin.get_by_label("Language").fill("en")
        admin.get_by_label("Text").fill(text)
        admin.get_by_role("button", name="Save").click()
        expect(admin.locator("#status")).to_have_text("Saved.")
        expect(admin.locator("table.canned-list")).to_contain_text(text)

    save_reply("Refunds take five working days.")

    console = log_in(browser, hub, AGENT)
    expect(console.locator("#link")).to_have_text("online")
    visitor, _ = wire.run(connect_visitor(hub, codec="json"))
    wire.clients.append(visitor)
    wire.run(visitor.recv_type("welcome"))
    conv = wire.run(visitor.send_text("How long does a refund take?"))["conversation_id"]
    pane = console.locator(f'.chat[data-conversation-id="{conv}"]')
    composer = pane.locator("textarea")
    composer.press_sequentially("/refundt")
    expect(pane.locator(".canned li").first).to_contain_text("five working days")

    # The admin rewrites it; the agent's page is never reloaded.
    admin.locator('[data-edit-canned][data-shortcut="refundtime"]').click()
    save_reply("Refunds take three working days.")
    composer.fill("")
    composer.press_sequentially("/refundt")
    expect(pane.locator(".canned li").first).to_contain_text("three working days")
    composer.press("Tab")
    expect(composer).to_have_value(re.compile("three working days"))


def test_an_admin_changes_an_agents_cap_and_routing_follows(
    browser: Any, hub: LiveServer, wire_agent: Callable[..., WireAgent], wire: Any
) -> None:
    admin = log_in(browser, hub, ADMIN)
    admin.goto(hub.url + "/admin/agents")
    row = admin.locator("tr", has=admin.get_by_text(AGENT))
    cap = row.get_by_label("Chats at once for Ana")
    cap.fill("1")
    row.get_by_role("button", name="Save").click()
    expect(admin.locator("#status")).to_have_text("Saved.")

    ana = wire_agent(AGENT)
    ana.fill_up(1)  # one chat: Ana is full at cap 1
    waiting, _ = wire.run(connect_visitor(hub, codec="json"))
    wire.clients.append(waiting)
    wire.run(waiting.recv_type("welcome"))
    conv = wire.run(waiting.send_text("a second chat while Ana is full"))["conversation_id"]
    queued = wire.run(waiting.recv_type("queue"))
    assert queued["position"] == 1

    cap.fill("2")
    cap.press("Enter")  # the keyboard submits the row's form
    expect(admin.locator("#status")).to_have_text("Saved.")
    assigned = ana.frame("assigned")
    assert assigned["conversation"]["conversation_id"] == conv


def test_an_agent_is_refused_the_admin_screens_by_the_server(browser: Any, hub: LiveServer) -> None:
    page = log_in(browser, hub, AGENT)
    response = page.goto(hub.url + "/admin/routing")
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_have_text("This page is for admins.")
    # Its API too, even with the page's own CSRF token in hand.
    status = page.evaluate(
        """async () => {
            const me = await (await fetch('/api/me')).json();
            const r = await fetch('/api/admin/settings', {method: 'POST',
                headers: {'content-type': 'application/json', 'x-csrf-token': me.csrf},
                body: JSON.stringify({values: {auto_accept: false}})});
            return r.status;
        }"""
    )
    assert status == 403


def test_the_widget_page_builds_the_embed_tag_and_previews_it(
    browser: Any, hub: LiveServer, artifacts: Path
) -> None:
    admin = log_in(browser, hub, ADMIN)
    admin.goto(hub.url + "/admin/widget")
    # Where the tag goes is said as text: "</body>" shown, not taken for markup.
    expect(admin.locator("p.hint").first).to_contain_text("just before </body>.")
    admin.get_by_label("Bottom left").check()
    admin.get_by_label("Title (the greeting at the top of the chat; empty: the widget's own)").fill(
        'Ask "us" <anything>'
    )
    admin.locator("#w-langs").get_by_label("Slovenščina").check()
    admin.locator("#w-langs").get_by_label("English").check()
    # The look is saved on the server: the tag names the site (and a team) only.
    code = admin.get_by_label("Paste this into your website")
    expect(code).to_have_value(
        f'<script src="{hub.url}/widget.js" data-site="default" defer></script>'
    )
    admin.get_by_label("Team (its chats and business hours)").select_option(index=0)
    # The preview frame carries the unsaved look, and the widget runs in it.
    frame = admin.frame_locator("#widget-preview")
    expect(frame.locator('script[data-position="left"][data-langs="en,sl"]')).to_have_count(1)
    expect(frame.locator("script[data-title='Ask \"us\" <anything>']")).to_have_count(1)
    expect(frame.locator(f"{W} .launcher")).to_be_visible()
    admin.screenshot(path=str(artifacts / "admin-widget.png"), full_page=True)


def test_a_supervisor_writes_an_article_with_a_preview_and_tries_a_question(
    browser: Any, hub: LiveServer
) -> None:
    page = log_in(browser, hub, "sam@example.com")
    page.goto(hub.url + "/admin/kb")
    page.get_by_label("Article id", exact=False).fill("gift-wrap")
    page.get_by_label("Language", exact=True).select_option("en")
    page.get_by_label("Title").fill("Gift wrapping with a handwritten card")
    page.get_by_label("Tags (comma-separated)").fill("gift, wrapping")
    page.get_by_label("Body (Markdown)").fill("We **wrap** any order. <img src=x onerror=alert(1)>")
    preview = page.locator("#article-preview")
    expect(preview.locator("strong")).to_have_text("wrap")
    expect(preview).to_contain_text("<img src=x onerror=alert(1)>")  # shown as text
    expect(preview.locator("img")).to_have_count(0)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#status")).to_have_text("Saved.")
    expect(page.locator(".kb-list")).to_contain_text("Gift wrapping with a handwritten card")
    page.get_by_label("Try a question").fill("can you gift wrap my order")
    expect(page.locator("#try-results li").first).to_contain_text("Gift wrapping")


def test_an_admin_closes_a_teams_hours_and_that_teams_widget_shows_the_offline_form(
    browser: Any,
    hub: LiveServer,
    site: EmbedSite,
    wire_agent: Callable[..., WireAgent],
    artifacts: Path,
) -> None:
    wire_agent(AGENT)  # someone is online: only the team's hours can close its widget
    admin = log_in(browser, hub, ADMIN)
    # The team exists once someone is in it.
    admin.goto(hub.url + "/admin/teams")
    admin.get_by_label("Team name").fill("billing")
    admin.get_by_role("checkbox", name="Ana").last.check()
    admin.get_by_role("button", name="Save").last.click()
    expect(admin.locator("#status")).to_have_text("Saved.")

    def widget_for(team: str | None) -> Any:
        attrs = f'data-team="{team}"' if team else ""
        html = (
            f'<!doctype html><body><script src="{hub.url}/widget.js" {attrs} defer></script></body>'
        )
        page = browser.new_context(locale="en-US").new_page()
        page.set_default_timeout(15_000)
        page.goto(site.page(f"/{team or 'shop'}", html))
        page.locator(f"{W} .launcher").click()
        expect(page.locator(f"{W} .panel")).to_be_visible()
        return page

    before = widget_for("billing")
    expect(before.locator(f"{W} .composer")).to_be_visible()

    # Closed today and tomorrow for billing only: holidays on the team's own hours.
    today = datetime.now(UTC).date()
    admin.get_by_label("Business hours (empty: the desk's)").fill("mon-sun 00:00-23:59")
    admin.get_by_label("Time zone (empty: the desk's)").fill("UTC")
    admin.get_by_label("Holidays (one ISO date a line; empty: the desk's)").fill(
        f"{today.isoformat()}\n{(today + timedelta(days=1)).isoformat()}"
    )
    admin.get_by_role("form", name="Business hours of billing").get_by_role(
        "button", name="Save"
    ).click()
    expect(admin.locator("#status")).to_have_text("Saved.")
    admin.wait_for_load_state()
    expect(admin.get_by_label("Holidays (one ISO date a line; empty: the desk's)")).to_have_value(
        re.compile(today.isoformat())
    )
    admin.screenshot(path=str(artifacts / "admin-team-hours.png"), full_page=True)

    billing = widget_for("billing")
    expect(billing.locator(f"{W} form.offline")).to_be_visible()
    expect(billing.locator(f"{W} .composer")).to_have_count(0)
    # The desk's own hours are untouched: a widget for no team still offers a person.
    anyone = widget_for(None)
    expect(anyone.locator(f"{W} .composer")).to_be_visible()
    expect(anyone.locator(f"{W} form.offline")).to_have_count(0)
    # The change is audited like every setting.
    admin.goto(hub.url + "/admin/routing")
    expect(admin.locator("table.audit")).to_contain_text("team_hours")


def test_the_widget_look_saved_by_an_admin_reaches_a_page_whose_tag_names_only_the_site(
    browser: Any, hub: LiveServer, site: EmbedSite
) -> None:
    admin = log_in(browser, hub, ADMIN)
    admin.goto(hub.url + "/admin/widget")
    admin.get_by_label("Bottom left").check()
    admin.get_by_label("Title (the greeting at the top of the chat; empty: the widget's own)").fill(
        "Kako vam lahko pomagamo?"
    )
    admin.locator("#widget-form").get_by_role("button", name="Save").click()
    expect(admin.locator("#status")).to_have_text("Saved.")

    html = f'<!doctype html><body><script src="{hub.url}/widget.js" defer></script></body>'
    page = browser.new_context(locale="en-US").new_page()
    page.set_default_timeout(15_000)
    page.goto(site.page("/plain", html))
    page.locator(f"{W} .launcher").click()
    expect(page.locator(f"{W} #ld-title")).to_have_text("Kako vam lahko pomagamo?")
    expect(page.locator(f"{W} .root")).to_have_class(re.compile(r"\bleft\b"))
    # What a tag says itself still wins.
    tagged = html.replace("defer>", 'data-title="Shop help" defer>')
    other = browser.new_context(locale="en-US").new_page()
    other.goto(site.page("/tagged", tagged))
    other.locator(f"{W} .launcher").click()
    expect(other.locator(f"{W} #ld-title")).to_have_text("Shop help")


def test_an_admin_requires_the_phone_and_the_widget_asks_for_it_and_the_agent_sees_it(
    browser: Any, hub: LiveServer, artifacts: Path
) -> None:
    admin = log_in(browser, hub, ADMIN)
    admin.goto(hub.url + "/admin/widget")
    admin.get_by_label("Ask a few questions before the chat").check()
    admin.locator("#w-fields").get_by_label("E-mail").select_option("optional")
    admin.locator("#w-fields").get_by_label("Phone").select_option("required")
    # The preview follows the unsaved form: its widget asks for the phone already.
    preview = admin.frame_locator("#widget-preview")
    expect(preview.locator('script[data-fields*="phone"]')).to_have_count(1)
    admin.locator("#widget-form").get_by_role("button", name="Save").click()
    expect(admin.locator("#status")).to_have_text("Saved.")
    admin.screenshot(path=str(artifacts / "admin-widget-fields.png"), full_page=True)

    agent = log_in(browser, hub, AGENT)
    expect(agent.locator("#link")).to_have_text("online")

    visitor = open_widget(browser, hub)
    form = visitor.locator(f"{W} form.prechat")
    expect(form.get_by_label("Phone")).to_be_visible()
    form.get_by_label("Your name").fill("Ada")
    form.get_by_label("Phone").fill("   ")  # only spaces: not an answer
    form.get_by_role("button", name="Start chat").click()
    expect(form.get_by_role("alert")).to_have_text("Please fill in the required fields.")
    expect(visitor.locator(f"{W} .composer")).to_have_count(0)
    form.get_by_label("Phone").fill("+386 40 123 456")
    with visitor.expect_response(lambda r: r.url.endswith("/api/visitor/session")) as renewed:
        form.get_by_role("button", name="Start chat").click()
    assert renewed.value.request.post_data_json["answers"] == {"phone": "+386 40 123 456"}
    box = visitor.locator(f"{W} .composer textarea")
    box.fill("Where is my parcel?")
    box.press("Enter")

    panel = agent.locator(".chat .customer")
    phone = panel.locator("dt", has_text=re.compile("^Phone$")).locator(
        "xpath=following-sibling::dd[1]"
    )
    expect(phone).to_have_text("+386 40 123 456")
