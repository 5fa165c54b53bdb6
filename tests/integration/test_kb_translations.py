"""Articles linked to their translations: the editor links a new translation to the article
it came from, an edit keeps the links, and an agent reads an article in their own language
while the visitor's stays the one suggested."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import AGENT_PASSWORD, Backend, seed_agents
from tests.live import LiveServer, desk_headers

pytestmark = pytest.mark.conformance
SUPERVISOR = "sam@example.com"
ORIGINAL = {
    "id": "returns-en",
    "lang": "en",
    "title": "Returning an order",
    "body": "Send it back within 30 days.",
    "tags": ["returns"],
}
SLOVENIAN = {
    "id": "returns-en-sl",
    "lang": "sl",
    "title": "Vračilo naročila",
    "body": "Vrnite ga v 30 dneh.",
    "tags": ["vračilo"],
    "group": "returns-en",
}


@pytest.fixture
def desk(backend: Backend) -> Iterator[LiveServer]:
    settings = backend.settings()
    seed_agents(settings, (SUPERVISOR, "supervisor", 5))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def test_a_translation_is_linked_both_ways_and_read_in_the_agents_language(
    desk: LiveServer,
) -> None:
    headers = await desk_headers(desk, SUPERVISOR, AGENT_PASSWORD)
    async with httpx.AsyncClient(base_url=desk.url, headers=headers, timeout=10) as http:
        assert (await http.put("/api/kb/articles/returns-en", json=ORIGINAL)).status_code == 200
        alone = (await http.get("/api/kb/articles/returns-en")).json()
        assert alone["translations"] == [] and alone["group"] == ""

        saved = await http.put("/api/kb/articles/returns-en-sl", json=SLOVENIAN)
        assert saved.status_code == 200, saved.text
        original = (await http.get("/api/kb/articles/returns-en")).json()
        # The article translated from joins the group named after it.
        assert original["group"] == "returns-en"
        assert original["translations"] == [
            {"id": "returns-en-sl", "lang": "sl", "title": "Vračilo naročila"}
        ]

        # An edit that says nothing of translations keeps the link.
        edited = {**ORIGINAL, "title": "Returning an order (30 days)"}
        assert (await http.put("/api/kb/articles/returns-en", json=edited)).status_code == 200
        kept = (await http.get("/api/kb/articles/returns-en")).json()
        assert [t["id"] for t in kept["translations"]] == ["returns-en-sl"]

        # An agent reading in Slovenian gets the Slovenian version of the suggested article.
        for_agent = (await http.get("/api/kb/articles/returns-en", params={"lang": "sl"})).json()
        assert for_agent["id"] == "returns-en-sl" and for_agent["translation_of"] == "returns-en"
        assert for_agent["translations"] == [
            {"id": "returns-en", "lang": "en", "title": "Returning an order (30 days)"}
        ]
        # No version in the asked language: the article itself.
        russian = (await http.get("/api/kb/articles/returns-en", params={"lang": "ru"})).json()
        assert russian["id"] == "returns-en" and "translation_of" not in russian

        # The editor offers the missing languages, and a draft translation in its group.
        page = await http.get("/admin/kb", params={"id": "returns-en"})
        assert "returns-en-sl" in page.text
        assert 'href="/admin/kb?translate=returns-en&amp;lang=ru"' in page.text
        draft = await http.get("/admin/kb", params={"translate": "returns-en", "lang": "ru"})
        assert 'name="group" value="returns-en"' in draft.text
        assert 'value="returns-en-ru"' in draft.text
