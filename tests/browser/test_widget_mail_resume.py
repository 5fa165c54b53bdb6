"""The link in a continuity mail reopens the conversation: a visitor who left gets the
agent's reply by mail, opens its link in another browser, and the widget there is that
visitor, open on that conversation, with the reply in it."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatserver.backends.store import Store
from tests.browser.conftest import EmbedSite, Wire, WireAgent, expect
from tests.browser.test_widget import W, bubbles, open_widget, write
from tests.cluster_nodes import until
from tests.live import LiveServer
from tests.mail_catcher import MailCatcher

pytestmark = pytest.mark.browser


@pytest.fixture
def catcher() -> Iterator[MailCatcher]:
    c = MailCatcher()
    c.start()
    try:
        yield c
    finally:
        c.stop()


def embed_html(hub: LiveServer) -> str:
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>shop</title></head><body>"
        f'<p>page text</p><script src="{hub.url}/widget.js" defer></script></body></html>'
    )


@pytest.fixture
def mail_hub(tmp_path: Path, site: EmbedSite, catcher: MailCatcher) -> Iterator[LiveServer]:
    from tests.integration.conftest import make_settings, seed_agents

    settings = make_settings(
        tmp_path,
        allowed_origins=[site.origin],
        smtp_url=catcher.url,
        mail_reply_domain="mail.test",
        mail_continuity_after_s=0,
        mail_poll_s=0.05,
        mail_resume_url=f"{site.origin}/help?from=mail",
    )
    seeding = threading.Thread(target=seed_agents, args=(settings, ("ana@example.com", "agent", 5)))
    seeding.start()
    seeding.join(30)
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


def give_email(wire: Wire, hub: LiveServer, conv_id: str) -> None:
    """The visitor's address, as the pre-chat form would have stored it."""

    async def run() -> None:
        store = Store(hub.settings.server.database_url)
        await store.start()
        try:
            conv = await store.get_conversation(conv_id)
            assert conv is not None
            visitor = await store.get_visitor(conv.visitor_id)
            assert visitor is not None
            visitor.email = "rada@example.com"
            await store.save_visitor(visitor)
        finally:
            await store.stop()

    wire.run(run())


def test_the_link_in_the_mail_opens_the_widget_on_that_conversation_in_another_browser(
    browser: Any, mail_hub: LiveServer, site: EmbedSite, catcher: MailCatcher, wire: Wire
) -> None:
    site.page("/help", embed_html(mail_hub))
    agent = WireAgent(mail_hub)
    try:
        first = browser.new_context(locale="en-US")
        page = first.new_page()
        open_widget(page, site.page("/shop", embed_html(mail_hub)))
        write(page, "Is my parcel on its way?")
        conv_id = agent.assigned()
        agent.heard("Is my parcel on its way?")
        give_email(wire, mail_hub, conv_id)
        first.close()  # the visitor left: no socket, the reply goes by mail
        # The mail goes only once the hub has seen the socket close (a reply while the
        # visitor is still there is no mail); the close reaches the hub on its own time.
        hub = mail_hub.app.state.hub

        async def visitor_left() -> bool:
            return not hub.visitors  # this test's only visitor

        wire.run(until(visitor_left, "the hub saw the visitor's tab close"))
        agent.say(conv_id, "Yes, it ships today.")
        (mail,) = wire.run(catcher.wait_for(1))
        plain = mail.get_body(preferencelist=("plain",)).get_content()
        link = re.search(r"https?://\S+livedesk_resume=\S+", plain)
        assert link is not None, plain
        assert link.group(0).startswith(f"{site.origin}/help?from=mail&")

        other = browser.new_context(locale="en-US")  # another browser: nothing stored
        try:
            page = other.new_page()
            page.set_default_timeout(15_000)
            page.goto(link.group(0))
            expect(page.locator(f"{W} .panel")).to_be_visible()
            expect(bubbles(page, "agent")).to_have_text(["Yes, it ships today."])
            expect(bubbles(page, "visitor")).to_have_text(["Is my parcel on its way?"])
            assert "livedesk_resume" not in page.url and "from=mail" in page.url
            write(page, "Thanks!")
            frame = agent.heard("Thanks!")
            assert frame["conversation_id"] == conv_id
        finally:
            other.close()
    finally:
        agent.close()
