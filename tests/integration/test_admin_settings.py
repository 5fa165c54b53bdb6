"""Settings saved in the admin screens: they overlay the environment, every change is
audited, only admins may make them, bad values and locked settings are refused, and a
change reaches the routing at once (this node) and every other node (over the bus)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from chatserver.backends.admin_queries import update_agent
from chatserver.backends.settings_store import audit_trail
from chatserver.backends.store import Store
from chatserver.testing.loadtest import PASSWORD as BENCH_PASSWORD
from tests.cluster_nodes import HubProcess, agent_email, agent_on, cluster, running, target, until
from tests.integration.conftest import AGENT_PASSWORD, Backend, seed_agents
from tests.live import LiveServer, connect_agent, connect_visitor, desk_headers, login_cookie
from tests.servers import RedisServer

pytestmark = pytest.mark.conformance
ADMIN, SUPERVISOR, AGENT = "boss@example.com", "sam@example.com", "ana@example.com"


def closed_today() -> dict[str, Any]:
    """Hours that are closed right now: today and tomorrow (UTC) are holidays."""
    today = datetime.now(UTC).date()
    return {
        "business_hours": "mon-sun 00:00-23:59",
        "timezone": "UTC",
        "holidays": [today.isoformat(), (today + timedelta(days=1)).isoformat()],
    }


@pytest.fixture
def desk(backend: Backend) -> Iterator[LiveServer]:
    settings = backend.settings(locked_settings=["first_reply_timeout_s"])
    seed_agents(settings, (ADMIN, "admin", 5), (SUPERVISOR, "supervisor", 5), (AGENT, "agent", 1))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def post(server: LiveServer, email: str, path: str, body: dict[str, Any]) -> httpx.Response:
    headers = await desk_headers(server, email, AGENT_PASSWORD)
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=10) as http:
        return await http.post(path, json=body)


async def agent_id(server: LiveServer, email: str) -> int:
    headers = await desk_headers(server, ADMIN, AGENT_PASSWORD)
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=10) as http:
        agents = (await http.get("/api/desk/agents")).json()["agents"]
    return int(next(a["id"] for a in agents if a["name"] == email.split("@")[0].title()))


async def audit(server: LiveServer) -> list[dict[str, Any]]:
    store = Store(server.settings.server.database_url)
    try:
        return await store.read(audit_trail)
    finally:
        await store.stop()


async def test_a_saved_setting_wins_over_the_environment_and_is_audited_with_before_and_after(
    desk: LiveServer,
) -> None:
    app_settings = lambda: desk.app.state.settings  # noqa: E731 (read it after each save)
    assert app_settings().routing.auto_accept is True  # the environment's default
    saved = await post(desk, ADMIN, "/api/admin/settings", {"values": {"auto_accept": False}})
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"changed": ["auto_accept"]}
    assert app_settings().routing.auto_accept is False
    assert desk.app.state.dispatch.router.config.auto_accept is False
    # Saving the same value again changes nothing and writes no audit row.
    again = await post(desk, ADMIN, "/api/admin/settings", {"values": {"auto_accept": False}})
    assert again.json() == {"changed": []}
    reset = await post(desk, ADMIN, "/api/admin/settings", {"reset": ["auto_accept"]})
    assert reset.json() == {"changed": ["auto_accept"]}
    assert app_settings().routing.auto_accept is True

    trail = await audit(desk)
    assert [(e["name"], e["before"], e["after"], e["actor"]) for e in trail] == [
        ("auto_accept", "false", None, ADMIN),
        ("auto_accept", None, "false", ADMIN),
    ]
    assert all(e["actor_id"] is not None and e["at_ms"] > 0 for e in trail)


async def test_stored_settings_survive_a_restart(desk: LiveServer) -> None:
    saved = await post(desk, ADMIN, "/api/admin/settings", {"values": {"accept_timeout_s": 42}})
    assert saved.status_code == 200, saved.text
    desk.stop()
    desk.start()
    assert desk.app.state.settings.routing.accept_timeout_s == 42
    assert desk.app.state.dispatch.router.config.accept_timeout_s == 42


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"business_hours": "whenever"}, "business_hours"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"default_agent_cap": 11}, "default_agent_cap"),
        ({"routing_policy": "random"}, "routing_policy"),
        ({"holidays": ["not-a-date"]}, "holidays"),
        ({"accept_timeout_s": 0}, "accept_timeout_s"),
        ({"secret_key": "mine"}, "secret_key"),  # connection-level: env-only
        ({"first_reply_timeout_s": 5}, "first_reply_timeout_s"),  # locked by the environment
    ],
)
async def test_a_value_the_setting_does_not_take_is_refused_and_nothing_is_stored(
    desk: LiveServer, values: dict[str, Any], field: str
) -> None:
    refused = await post(desk, ADMIN, "/api/admin/settings", {"values": values})
    assert refused.status_code == 400
    assert refused.json()["field"] == field
    assert await audit(desk) == []


async def test_only_admins_may_open_the_admin_screens_or_change_settings(
    desk: LiveServer,
) -> None:
    for email in (AGENT, SUPERVISOR):
        headers = await desk_headers(desk, email, AGENT_PASSWORD)
        async with httpx.AsyncClient(base_url=desk.url, headers=headers, timeout=10) as http:
            assert (await http.get("/admin/routing")).status_code == 403
            assert (await http.get("/admin/agents")).status_code == 403
            refused = await http.post(
                "/api/admin/settings", json={"values": {"auto_accept": False}}
            )
            assert refused.status_code == 403
            assert (await http.post("/api/admin/agents/3", json={"cap": 9})).status_code == 403
    # An admin without the CSRF token is refused too.
    cookie = await login_cookie(desk, ADMIN, AGENT_PASSWORD)
    jar = {"cookie": f"{desk.settings.security.session_cookie}={cookie}"}
    async with httpx.AsyncClient(base_url=desk.url, headers=jar, timeout=10) as http:
        assert (await http.get("/admin/routing")).status_code == 200
        no_token = await http.post("/api/admin/settings", json={"values": {"auto_accept": False}})
        assert no_token.status_code == 403
    async with httpx.AsyncClient(base_url=desk.url, timeout=10) as http:
        anonymous = await http.post("/api/admin/settings", json={"values": {}})
        assert anonymous.status_code == 401
    assert await audit(desk) == []
    assert desk.app.state.settings.routing.auto_accept is True


async def test_closing_the_hours_tells_the_next_visitor_nobody_is_available(
    desk: LiveServer,
) -> None:
    agent = await connect_agent(desk, await login_cookie(desk, AGENT, AGENT_PASSWORD))
    await agent.recv_type("welcome")
    before, _ = await connect_visitor(desk)
    assert (await before.recv_type("welcome"))["available"] is True
    saved = await post(desk, ADMIN, "/api/admin/settings", {"values": closed_today()})
    assert saved.status_code == 200, saved.text
    after, _ = await connect_visitor(desk)
    assert (await after.recv_type("welcome"))["available"] is False


async def test_raising_an_agents_cap_hands_them_the_waiting_chat_at_once(
    desk: LiveServer,
) -> None:
    agent = await connect_agent(desk, await login_cookie(desk, AGENT, AGENT_PASSWORD))
    await agent.recv_type("welcome")
    first, _ = await connect_visitor(desk)
    await first.recv_type("welcome")
    await first.send_text("first chat")
    await agent.recv_type("assigned")
    second, _ = await connect_visitor(desk)
    await second.recv_type("welcome")
    ack = await second.send_text("second chat, waiting: Ana holds one of one")
    await second.recv_type("queue")
    ana = await agent_id(desk, AGENT)
    raised = await post(desk, ADMIN, f"/api/admin/agents/{ana}", {"cap": 2})
    assert raised.status_code == 200, raised.text
    assigned = await agent.recv_type("assigned")
    assert assigned["conversation"]["conversation_id"] == ack["conversation_id"]
    bad = await post(desk, ADMIN, f"/api/admin/agents/{ana}", {"cap": 11})
    assert bad.status_code == 400


# ---------------------------------------------------------------------------- two nodes


@pytest.mark.redis
@pytest.mark.postgres
async def test_hours_closed_on_one_node_reach_the_other_node_over_the_bus(
    postgres_url: str, redis_srv: RedisServer
) -> None:
    redis_srv.restart()
    a, b = cluster(postgres_url, redis_srv.url, 2, agents=1)
    await a.seed(supervisors=(BENCH_ADMIN,))
    await promote_to_admin(a.url_db, BENCH_ADMIN)

    async def welcome_available(node: HubProcess) -> bool:
        visitor, _ = await connect_visitor(target(node))
        try:
            return bool((await visitor.recv_type("welcome", timeout=10))["available"])
        finally:
            await visitor.close()

    async def closed_on_b() -> bool:
        return not await welcome_available(b)

    async with running(a, b):
        await agent_on(b, agent_email(0))
        await until(lambda: welcome_available(b), "someone available on node b", 30)
        headers = await desk_headers(target(a), BENCH_ADMIN, BENCH_PASSWORD)
        async with httpx.AsyncClient(base_url=a.base, headers=headers, timeout=10) as http:
            saved = await http.post("/api/admin/settings", json={"values": closed_today()})
            assert saved.status_code == 200, saved.text
        await until(closed_on_b, "closed hours on node b", 10)


BENCH_ADMIN = "boss@bench.livedesk"


async def promote_to_admin(database_url: str, email: str) -> None:
    store = Store(database_url)
    try:
        agent = await store.get_agent_by_email(email)
        assert agent is not None and agent.id is not None
        await store.write(lambda conn: update_agent(conn, agent.id, {"role": "admin"}))  # type: ignore[arg-type]
    finally:
        await store.stop()


async def test_the_settings_help_lines_speak_the_admins_language(desk: LiveServer) -> None:
    cookie = await login_cookie(desk, ADMIN, AGENT_PASSWORD)
    jar = {"cookie": f"{desk.settings.security.session_cookie}={cookie}"}
    async with httpx.AsyncClient(base_url=desk.url, headers=jar, timeout=10) as http:
        slovenian = await http.get("/admin/routing", headers={"accept-language": "sl"})
        english = await http.get("/admin/routing", headers={"accept-language": "en"})
    assert "Agent, ki mu povezava pade, obdrži svoje pogovore toliko časa." in slovenian.text
    assert "An agent whose connection drops keeps their chats this long." in english.text
    # The operators' variable docs (core/settings.py) are not what an admin reads here.
    assert "an agent who drops keeps their chats this long" not in slovenian.text


async def test_the_widget_look_is_saved_on_the_server_and_served_to_the_widget(
    desk: LiveServer,
) -> None:
    async with httpx.AsyncClient(base_url=desk.url, timeout=10) as public:
        assert (await public.get("/api/widget/config")).json() == {}
    headers = await desk_headers(desk, ADMIN, AGENT_PASSWORD)
    async with httpx.AsyncClient(base_url=desk.url, headers=headers, timeout=10) as http:
        look = {"color": "#0a7f3c", "position": "left", "title": "Pomoč", "prechat": True}
        saved = await http.post("/api/admin/settings", json={"values": {"widget_look": look}})
        assert saved.status_code == 200, saved.text
        # Not a colour, not a position: refused, and nothing of it stored.
        bad = await http.post(
            "/api/admin/settings",
            json={"values": {"widget_look": {"color": "red;background:url(x)"}}},
        )
        assert bad.status_code == 400 and bad.json()["field"] == "widget_look"
        page = await http.get("/admin/widget")
        assert 'value="Pomoč"' in page.text and 'value="#0a7f3c"' in page.text
    async with httpx.AsyncClient(base_url=desk.url, timeout=10) as public:
        served = await public.get("/api/widget/config")
    assert served.json() == look
    assert any(e["name"] == "widget_look" for e in await audit(desk))


async def test_allowed_origins_edited_by_an_admin_apply_to_cors_and_sockets_at_once(
    desk: LiveServer,
) -> None:
    shop = "https://shop.example"
    preflight = {"origin": shop, "access-control-request-method": "POST"}

    async def cors_allows() -> bool:
        async with httpx.AsyncClient(base_url=desk.url, timeout=10) as http:
            answer = await http.options("/api/visitor/session", headers=preflight)
        return answer.headers.get("access-control-allow-origin") == shop

    async def socket_allowed() -> bool:
        try:
            client, _ = await connect_visitor(desk, codec="json", origin=shop)
        except Exception:  # refused at the handshake (HTTP 403)
            return False
        await client.close()
        return True

    assert not await cors_allows() and not await socket_allowed()
    headers = await desk_headers(desk, ADMIN, AGENT_PASSWORD)
    async with httpx.AsyncClient(base_url=desk.url, headers=headers, timeout=10) as http:
        bad = await http.post(
            "/api/admin/settings", json={"values": {"allowed_origins": ["https://x/path"]}}
        )
        assert bad.status_code == 400 and bad.json()["field"] == "allowed_origins"
        saved = await http.post(
            "/api/admin/settings", json={"values": {"allowed_origins": [shop + "/"]}}
        )
        assert saved.status_code == 200, saved.text
    assert await cors_allows() and await socket_allowed()
