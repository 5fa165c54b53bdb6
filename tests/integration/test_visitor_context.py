"""The visitor's context for the customer panel against a real server: the pages of the
visit (kept in memory until the visitor writes, then stored), browser/OS/device from the
User-Agent, time zone and local time, visits, and one stable name across conversations."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from chatserver.core.names import visitor_alias
from chatserver.core.settings import Settings
from tests.integration.conftest import seed_agents
from tests.integration.test_desk_api import login, online
from tests.live import LiveServer, connect_visitor

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def desk(settings: Settings) -> Iterator[LiveServer]:
    seed_agents(settings, ("bob@example.com", "agent", 5))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def page_view(server: LiveServer, token: str | None, url: str, title: str) -> str:
    body: dict = {
        "page": {"url": url, "title": title, "referrer": "https://search.example/?q=shoes"},
        "time_zone": "Europe/Belgrade",
    }
    if token:
        body["token"] = token
    async with httpx.AsyncClient(base_url=server.url) as http:
        got = await http.post("/api/visitor/session", json=body, headers={"user-agent": IPHONE})
        got.raise_for_status()
        return str(got.json()["token"])


async def test_the_customer_panel_shows_the_visit_and_a_stable_name(desk: LiveServer) -> None:
    token = await page_view(desk, None, "https://shop.example/", "Shop")
    token = await page_view(desk, token, "https://shop.example/shoes", "Shoes")
    bob = await login(desk, "bob@example.com")
    agent = await online(desk, bob)
    visitor, _ = await connect_visitor(desk, token=token, codec="json")
    visitor_id = (await visitor.recv_type("welcome"))["visitor_id"]
    conv_id = (await visitor.send_text("Do these run small?"))["conversation_id"]
    await agent.recv_type("assigned")
    panel = (await bob.get(f"/api/desk/conversations/{conv_id}")).json()["customer"]
    visit = panel["visit"]
    assert visit["current_page"]["url"] == "https://shop.example/shoes"
    assert visit["current_page"]["title"] == "Shoes"
    assert [p["title"] for p in visit["pages"]] == ["Shoes", "Shop"]
    assert visit["referrer"] == "https://search.example/?q=shoes"
    assert visit["browser"].startswith("Mobile Safari") and visit["os"].startswith("iOS")
    assert visit["device"] == "iPhone"
    assert visit["time_zone"] == "Europe/Belgrade" and visit["local_time"][-6:] in (
        "+01:00",
        "+02:00",
    )
    assert visit["visits"] == 1
    assert panel["alias"] == visitor_alias(visitor_id)
    inbox = (await bob.get(f"/api/inbox/{conv_id}")).json()
    assert inbox["conversation"]["alias"] == panel["alias"]


def test_an_anonymous_visitors_name_is_stable_and_differs_between_visitors() -> None:
    assert visitor_alias("abc") == visitor_alias("abc")
    names = {visitor_alias(f"visitor-{n}") for n in range(200)}
    assert len(names) > 150
    assert all(len(n.split()) == 2 for n in names)


async def test_a_page_that_is_not_http_is_refused(desk: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=desk.url) as http:
        got = await http.post("/api/visitor/session", json={"page": {"url": "javascript:alert(1)"}})
    assert got.status_code == 400
