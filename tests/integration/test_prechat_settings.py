"""The widget screen's pre-chat questions and site languages against a real server (both
databases): saved, checked and served to the widget; the visitor's answers bounded, stored
with the visitor and shown in the agent's customer panel."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import AGENT_PASSWORD, Backend, seed_agents
from tests.integration.test_desk_api import login, online
from tests.live import LiveServer, connect_visitor, desk_headers

pytestmark = pytest.mark.conformance
ADMIN, AGENT = "boss@example.com", "ana@example.com"


@pytest.fixture
def desk(backend: Backend) -> Iterator[LiveServer]:
    settings = backend.settings()
    seed_agents(settings, (ADMIN, "admin", 5), (AGENT, "agent", 5))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def test_prechat_fields_and_languages_are_saved_checked_and_served_to_the_widget(
    desk: LiveServer,
) -> None:
    look = {
        "prechat": True,
        "langs": ["sl", "en"],
        "fields": [
            {"name": "phone", "required": True},
            {"name": "custom", "required": False, "label": "Katera trgovina?"},
        ],
    }
    headers = await desk_headers(desk, ADMIN, AGENT_PASSWORD)
    async with httpx.AsyncClient(base_url=desk.url, headers=headers, timeout=10) as http:
        saved = await http.post("/api/admin/settings", json={"values": {"widget_look": look}})
        assert saved.status_code == 200, saved.text
        for bad in (
            {"fields": [{"name": "phone"}, {"name": "phone"}]},  # asked twice
            {"fields": [{"name": "custom"}]},  # a question without words
            {"fields": [{"name": "shoe_size"}]},  # not a question the widget knows
            {"fields": [{"name": "custom", "label": "x" * 81}]},  # too long
            {"langs": ["de"]},  # not one of the widget's languages
            {"langs": []},
        ):
            refused = await http.post("/api/admin/settings", json={"values": {"widget_look": bad}})
            assert refused.status_code == 400, bad
        page = (await http.get("/admin/widget")).text
        assert 'value="Katera trgovina?"' in page
        assert '<option value="required" selected>' in page  # the phone, required
    async with httpx.AsyncClient(base_url=desk.url, timeout=10) as public:
        served = (await public.get("/api/widget/config")).json()
    assert served == look


async def test_prechat_answers_are_bounded_stored_and_shown_in_the_customer_panel(
    desk: LiveServer,
) -> None:
    async with httpx.AsyncClient(base_url=desk.url, timeout=10) as http:
        for bad in (
            {"phone": "1" * 41},
            {"shoe_size": "42"},
            {"order": 12345},
            {"custom": "a\x00b"},
            ["+386"],
        ):
            refused = await http.post("/api/visitor/session", json={"answers": bad})
            assert refused.status_code == 400, bad
            assert refused.json()["error"] == "invalid_field"
    ana = await login(desk, AGENT)
    agent = await online(desk, ana)
    answers = {
        "phone": "+386 1 234 5678",
        "custom": "Ljubljana",
        "custom_label": "Katera trgovina?",
    }
    visitor, token = await connect_visitor(desk, codec="json", name="Ada", answers=answers)
    await visitor.recv_type("welcome")
    conv_id = (await visitor.send_text("Kje je paket?"))["conversation_id"]
    await agent.recv_type("assigned")
    # A later session adds an answer and keeps the earlier ones.
    async with httpx.AsyncClient(base_url=desk.url, timeout=10) as http:
        again = await http.post(
            "/api/visitor/session", json={"token": token, "answers": {"order": "A-77"}}
        )
        assert again.status_code == 200, again.text
    panel = (await ana.get(f"/api/desk/conversations/{conv_id}")).json()["customer"]
    assert panel["name"] == "Ada"
    assert panel["visit"]["answers"] == {**answers, "order": "A-77"}
