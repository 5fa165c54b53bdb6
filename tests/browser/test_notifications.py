"""Desktop notifications in a real Chromium with the Notification permission granted: the
agent turns them on with one click; a new chat and a visitor's message in a chat that is not
in front notify, a message in the chat in front does not; the choice is kept with the agent
(another browser reads it).

The "Enable sound" prompt is tested with the autoplay policy stood in for: headless Chromium
starts every AudioContext running whatever --autoplay-policy it is given. Web Push itself is tested against a push service on loopback (tests/integration/
test_web_push.py): headless Chromium has no push service to subscribe to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Wire, expect, sign_in
from tests.browser.test_console import ANA, new_visitor
from tests.browser.test_console import desk as desk  # the seeded hub
from tests.live import LiveServer

pytestmark = pytest.mark.browser

# Records every notification the page makes, and still makes it.
RECORD = """
(() => {
  const Real = window.Notification;
  window.__notes = [];
  class Recorded extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notes.push({ title, body: (options && options.body) || "" });
    }
  }
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  Recorded.requestPermission = (...a) => Real.requestPermission(...a);
  window.Notification = Recorded;
})();
"""


def notes(page: Any) -> list[dict[str, str]]:
    return list(page.evaluate("() => window.__notes"))


def test_new_chats_and_messages_out_of_focus_notify_once_turned_on(
    browser: Any, desk: LiveServer, wire: Wire, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    context.grant_permissions(["notifications"], origin=desk.url)
    context.add_init_script(RECORD)
    page = context.new_page()
    page.goto(desk.url + "/login")
    page.fill("input[name=email]", ANA[0])
    page.fill("input[name=password]", ANA[1])
    page.click("button[type=submit]")
    expect(page.locator("#link")).to_have_text("online")
    toggle = page.locator("#notify-toggle")
    # Permission already granted: on by default; the agent may turn it off and on.
    expect(toggle).to_have_text("Notifications on")
    toggle.click()
    expect(toggle).to_have_text("Notifications off")
    # The choice is the agent's, not this browser's: another browser, where the permission
    # alone would turn them on, reads "off".
    other = browser.new_context()
    other.grant_permissions(["notifications"], origin=desk.url)
    elsewhere = sign_in(other.new_page(), desk, *ANA)
    expect(elsewhere.locator("#link")).to_have_text("online")
    expect(elsewhere.locator("#notify-toggle")).to_have_text("Notifications off")
    other.close()
    vera, first = wire.run(new_visitor(desk, "Vera", "first chat"))
    wire.clients.append(vera)
    expect(page.locator(f'.chat[data-conversation-id="{first}"]')).to_have_count(1)
    assert notes(page) == []  # off: nothing
    toggle.click()
    expect(toggle).to_have_text("Notifications on")
    page.reload()
    expect(page.locator("#notify-toggle")).to_have_text("Notifications on")  # kept
    expect(page.locator("#link")).to_have_text("online")
    mira, second = wire.run(new_visitor(desk, "Mira", "second chat"))
    wire.clients.append(mira)
    page.wait_for_function("() => window.__notes.some(n => n.title === 'New chat: Mira')")
    # Show Vera's chat: a message from Mira is now out of sight and notifies; Vera's not.
    page.locator(f'button.tab[data-conversation-id="{first}"]').click()
    expect(page.locator(f'.chat[data-conversation-id="{first}"]')).to_be_visible()
    wire.run(vera.send_text("in front"))
    wire.run(mira.send_text("out of sight"))
    page.wait_for_function("() => window.__notes.some(n => n.body === 'out of sight')")
    assert not any(n["body"] == "in front" for n in notes(page))
    context.close()


# A browser holding sound back until the page is clicked, as Chrome's autoplay policy does
# after a reload (headless Chromium does not): every AudioContext reads "suspended" until a
# resume() made from a click.
HELD_BACK = """
(() => {
  const Real = window.AudioContext;
  window.AudioContext = class HeldBack extends Real {
    get state() { return this.__resumed ? super.state : "suspended"; }
    resume() {
      window.__resumedOnClick = navigator.userActivation.isActive;
      this.__resumed = true;
      return super.resume();
    }
  };
})();
"""


def test_sound_held_back_after_a_reload_rings_after_one_click_on_enable_sound(
    browser: Any, desk: LiveServer
) -> None:
    context = browser.new_context()
    context.add_init_script(HELD_BACK)
    page = sign_in(context.new_page(), desk, *ANA)
    expect(page.locator("#link")).to_have_text("online")
    enable = page.locator("#sound-enable")
    expect(enable).to_be_visible()
    page.evaluate(
        "() => { window.__soundOn = false;"
        " document.addEventListener('desk:sound-enabled', () => { window.__soundOn = true; }); }"
    )
    enable.click()
    expect(enable).to_be_hidden()
    assert page.evaluate("() => window.__soundOn") is True
    # Resumed from the click itself (the gesture the browser waits for).
    assert page.evaluate("() => window.__resumedOnClick") is True
    context.close()
