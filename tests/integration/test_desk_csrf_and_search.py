"""Issue 13, item 12: the KB editor and the credit admin API want the CSRF token every other
desk write wants; public KB search has its own bounded thread and says 503 when it is full,
while what agents use keeps answering."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import AGENT_PASSWORD, make_settings, seed_agents
from tests.live import LiveServer, desk_headers

ARTICLE = {"id": "gift", "lang": "en", "title": "Gift wrapping", "body": "3 EUR.", "tags": []}


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path, kb_search_queue=0)
    seed_agents(settings, ("sam@example.com", "supervisor", 5), ("root@example.com", "admin", 5))
    server = LiveServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


def without_csrf(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != "x-csrf-token"}


async def test_the_kb_editor_wants_the_csrf_token(live: LiveServer) -> None:
    full = await desk_headers(live, "sam@example.com", AGENT_PASSWORD)
    async with httpx.AsyncClient(base_url=live.url) as http:
        for headers in (without_csrf(full), {**full, "x-csrf-token": "forged"}):
            refused = [
                await http.post("/api/kb/articles", json=ARTICLE, headers=headers),
                await http.put("/api/kb/articles/gift", json=ARTICLE, headers=headers),
                await http.delete("/api/kb/articles/gift", headers=headers),
                await http.post(
                    "/api/canned",
                    json={"shortcut": "hi", "text": "Hi", "lang": "en"},
                    headers=headers,
                ),
            ]
            assert [r.status_code for r in refused] == [403] * 4
        assert (await http.get("/api/kb/articles/gift")).status_code == 404  # nothing saved
        assert (await http.post("/api/kb/articles", json=ARTICLE, headers=full)).status_code == 200
        assert (await http.delete("/api/kb/articles/gift", headers=full)).status_code == 200


async def test_the_credit_admin_api_wants_the_csrf_token(live: LiveServer) -> None:
    full = await desk_headers(live, "root@example.com", AGENT_PASSWORD)
    grant = {"amount": 5, "reason": "goodwill", "action_id": "g-1"}
    url = "/api/credits/buyer@example.com"
    async with httpx.AsyncClient(base_url=live.url) as http:
        for headers in (without_csrf(full), {**full, "x-csrf-token": "forged"}):
            for action in ("grant", "adjust"):
                refused = await http.post(f"{url}/{action}", json=grant, headers=headers)
                assert refused.status_code == 403, action
        assert (await http.get(url, headers=without_csrf(full))).json()["balance"] == 0
        assert (await http.post(f"{url}/grant", json=grant, headers=full)).status_code == 201


async def test_public_search_says_busy_when_its_thread_is_full_and_agents_still_get_answers(
    live: LiveServer,
) -> None:
    full = await desk_headers(live, "sam@example.com", AGENT_PASSWORD)
    assist = live.app.state.assist
    release = threading.Event()
    held = [assist._public.try_submit(release.wait, 10) for _ in range(assist._public.capacity)]
    try:
        async with httpx.AsyncClient(base_url=live.url, timeout=5) as http:
            busy = await http.get("/api/kb/search", params={"q": "gift"})
            assert busy.status_code == 503
            assert busy.json()["error"] == "busy" and busy.headers["retry-after"] == "1"
            # The agents' thread is another one: their lookups are not queued behind it.
            canned = await http.get("/api/canned", params={"prefix": "h"}, headers=full)
            assert canned.status_code == 200
            release.set()
            for future in held:
                future.result(10)
            assert (await http.get("/api/kb/search", params={"q": "gift"})).status_code == 200
    finally:
        release.set()
