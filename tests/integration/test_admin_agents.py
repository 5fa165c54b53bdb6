"""Inviting an agent with a one-time link: the link sets a password once, then is dead."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chatserver.core.settings import Settings
from tests.integration.conftest import AGENT_PASSWORD, add_agents, make_settings, seed_agents
from tests.live import LiveServer, desk_headers

ADMIN, AGENT = "boss@example.com", "ana@example.com"
NEW_PASSWORD = "a long new password"


@pytest.fixture
def desk(settings: Settings) -> Iterator[LiveServer]:
    seed_agents(settings, (ADMIN, "admin", 5), (AGENT, "agent", 5))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def test_an_invitation_link_sets_the_new_agents_password_once(desk: LiveServer) -> None:
    headers = await desk_headers(desk, ADMIN, AGENT_PASSWORD)
    async with httpx.AsyncClient(base_url=desk.url, timeout=10) as http:
        made = await http.post(
            "/api/admin/agents/invite",
            headers=headers,
            json={"email": "new@example.com", "name": "Nova", "role": "agent", "cap": 3},
        )
        assert made.status_code == 200, made.text
        link = made.json()["link"]
        assert link.startswith(desk.url + "/invite/")
        # Before the link is used nobody can log in as the new agent.
        refused = await http.post("/login", json={"email": "new@example.com", "password": ""})
        assert refused.status_code in (400, 401)
        page = await http.get(link)
        assert page.status_code == 200 and "new@example.com" in page.text
        short = await http.post(link, json={"password": "short"})
        assert short.status_code == 400
        assert (await http.post(link, json={"password": NEW_PASSWORD})).status_code == 200
        login = await http.post(
            "/login", json={"email": "new@example.com", "password": NEW_PASSWORD}
        )
        assert login.status_code in (200, 303), login.text
        # Used once: dead.
        assert (await http.get(link)).status_code == 404
        assert (await http.post(link, json={"password": "another long one"})).status_code == 404
        again = await http.post(
            "/api/admin/agents/invite",
            headers=headers,
            json={"email": "new@example.com", "name": "Nova"},
        )
        assert again.status_code == 409


async def test_only_admins_may_invite(desk: LiveServer) -> None:
    headers = await desk_headers(desk, AGENT, AGENT_PASSWORD)
    async with httpx.AsyncClient(base_url=desk.url, timeout=10) as http:
        refused = await http.post(
            "/api/admin/agents/invite",
            headers=headers,
            json={"email": "x@example.com", "name": "X"},
        )
        assert refused.status_code == 403
        forged = await http.get(desk.url + "/invite/not-a-token")
        assert forged.status_code == 404


async def test_an_agents_own_language_and_time_zone_shape_their_pages(desk: LiveServer) -> None:
    headers = await desk_headers(desk, AGENT, AGENT_PASSWORD)
    async with httpx.AsyncClient(base_url=desk.url, headers=headers, timeout=10) as http:
        english = await http.get("/admin/me", headers={"accept-language": "en"})
        assert "My language and time zone" in english.text
        bad = await http.post("/api/admin/me", json={"ui_language": "xx"})
        assert bad.status_code == 400
        bad_zone = await http.post("/api/admin/me", json={"time_zone": "Nowhere/Land"})
        assert bad_zone.status_code == 400
        saved = await http.post(
            "/api/admin/me", json={"ui_language": "ru", "time_zone": "Europe/Moscow"}
        )
        assert saved.status_code == 200, saved.text
        # Their setting wins over what the browser asks for.
        russian = await http.get("/admin/me", headers={"accept-language": "sl"})
        assert '<html lang="ru">' in russian.text
        assert "Мой язык и часовой пояс" in russian.text
        assert "(Europe/Moscow)" in russian.text
        # An agent is refused the admin pages in their language.
        refused = await http.get("/admin/routing")
        assert refused.status_code == 403 and "Эта страница для администраторов." in refused.text
        # The whole refusal page speaks it, and so do the console and the dashboard's refusal.
        assert "Нет доступа" in refused.text and "Назад в консоль" in refused.text
        assert "Not allowed" not in refused.text
        console = await http.get("/agent", headers={"accept-language": "sl"})
        assert '<html lang="ru">' in console.text and "Входящие чаты" in console.text
        assert '"timeZone": "Europe/Moscow"' in console.text  # for the scripts' clocks
        board = await http.get("/supervisor")
        assert board.status_code == 403
        assert "Панель руководителя — для руководителей и администраторов." in board.text


async def test_the_login_page_speaks_the_browsers_language(desk: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=desk.url, timeout=10) as http:
        slovenian = await http.get("/login", headers={"accept-language": "sl-SI,en;q=0.5"})
        assert '<html lang="sl">' in slovenian.text and "Geslo" in slovenian.text
        cyrillic = await http.get("/login?lang=sr-Cyrl")
        assert "Лозинка" in cyrillic.text


async def test_credit_packs_saved_by_an_admin_win_over_the_packs_file(
    tmp_path: Path,
) -> None:
    from tests.integration.test_billing_http import DATA, SECRET, SHOP, deliver, order_body

    settings = make_settings(
        tmp_path,
        woocommerce_secret=SECRET,
        woocommerce_source=SHOP + "/",
        credit_packs=str(DATA / "packs.json"),  # SUPPORT-5: 5, product 77: 2
    )
    await add_agents(settings, (ADMIN, "admin", 5))
    server = await asyncio.to_thread(LiveServer(settings).start)
    try:
        headers = await desk_headers(server, ADMIN, AGENT_PASSWORD)
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=10) as http:
            page = await http.get("/admin/credits")
            assert server.url + "/integrations/woocommerce/webhook" in page.text
            bad = await http.post(
                "/api/admin/settings", json={"values": {"credit_pack_credits": {"X": "many"}}}
            )
            assert bad.status_code == 400 and bad.json()["field"] == "credit_pack_credits"
            saved = await http.post(
                "/api/admin/settings",
                json={"values": {"credit_pack_credits": {"SUPPORT-5": 10, "MUG-BLUE": 3}}},
            )
            assert saved.status_code == 200, saved.text
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as shop:
            delivered = await deliver(shop, order_body())
        assert delivered.status_code == 200, delivered.text
        # 2 × SUPPORT-5 at the saved 10, product 77 at the file's 2, 1 × MUG-BLUE at 3.
        assert delivered.json()["granted"] == 2 * 10 + 2 + 3
    finally:
        await asyncio.to_thread(server.stop)


async def test_a_team_is_exactly_the_agents_ticked_and_routing_hears_of_it(
    desk: LiveServer,
) -> None:
    headers = await desk_headers(desk, ADMIN, AGENT_PASSWORD)
    async with httpx.AsyncClient(base_url=desk.url, headers=headers, timeout=10) as http:
        agents = {a["name"]: a["id"] for a in (await http.get("/api/desk/agents")).json()["agents"]}
        ana, boss = agents["Ana"], agents["Boss"]
        made = await http.post("/api/admin/teams", json={"name": "Billing", "members": [ana, boss]})
        assert made.status_code == 200 and sorted(made.json()["changed"]) == sorted([ana, boss])
        listed = (await http.get("/api/desk/agents")).json()
        assert listed["teams"] == ["Billing"]
        shrunk = await http.post("/api/admin/teams", json={"name": "Billing", "members": [ana]})
        assert shrunk.json()["changed"] == [boss]
        page = await http.get("/admin/teams")
        assert "Billing" in page.text and "1 member" in page.text
        bad = await http.post("/api/admin/teams", json={"name": "a,b", "members": []})
        assert bad.status_code == 400
    agent_headers = await desk_headers(desk, AGENT, AGENT_PASSWORD)
    async with httpx.AsyncClient(base_url=desk.url, headers=agent_headers, timeout=10) as http:
        refused = await http.post("/api/admin/teams", json={"name": "X", "members": [ana]})
        assert refused.status_code == 403


async def test_the_article_preview_is_markdown_with_no_markup_of_the_authors(
    desk: LiveServer,
) -> None:
    headers = await desk_headers(desk, ADMIN, AGENT_PASSWORD)
    hostile = (
        "# Returns\n\n**Within 30 days.** <img src=x onerror=alert(1)> <script>alert(2)</script>\n\n"
        "[track](https://courier.example/t) [bad](javascript:alert(3))"
    )
    async with httpx.AsyncClient(base_url=desk.url, headers=headers, timeout=10) as http:
        shown = await http.post("/api/admin/kb/preview", json={"body": hostile})
        assert shown.status_code == 200
        html = shown.json()["html"]
        assert "<h1>Returns</h1>" in html and "<strong>Within 30 days.</strong>" in html
        assert '<a href="https://courier.example/t">track</a>' in html
        assert "<img" not in html and "<script" not in html and 'href="javascript' not in html
        assert "&lt;script&gt;" in html
        assert (await http.get("/admin/kb")).status_code == 200
    agent_headers = await desk_headers(desk, AGENT, AGENT_PASSWORD)
    async with httpx.AsyncClient(base_url=desk.url, headers=agent_headers, timeout=10) as http:
        assert (await http.get("/admin/kb")).status_code == 403
        refused = await http.post("/api/admin/kb/preview", json={"body": "x"})
        assert refused.status_code == 403
