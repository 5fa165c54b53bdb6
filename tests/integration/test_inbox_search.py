"""Search over messages and customers in the database's own full-text engine (SQLite FTS5,
PostgreSQL tsvector + GIN), on both backend sets: diacritics, case and Serbian script do not
matter, snippets carry highlight ranges into the original text, results page, and an agent
finds only what their role may read."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from chatserver.core.settings import Settings
from chatserver.services.search import query_variants, snippet
from tests.integration.conftest import seed_agents
from tests.integration.test_desk_api import Session, chat_with, login, online
from tests.live import LiveServer, visitor_session

pytestmark = pytest.mark.conformance


@pytest.fixture
def desk(settings: Settings) -> Iterator[LiveServer]:
    seed_agents(
        settings,
        ("ana@example.com", "agent", 5),
        ("bob@example.com", "agent", 5),
        ("sam@example.com", "supervisor", 5),
    )
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def search(session: Session, q: str, **extra: str) -> dict:
    query = "&".join(f"{k}={quote(v)}" for k, v in {"q": q, **extra}.items())
    got = await session.get(f"/api/inbox/search?{query}")
    assert got.status_code == 200, got.text
    return got.json()


def marked(item: dict) -> list[str]:
    text = item["snippet"]["text"]
    return [text[a:b] for a, b in item["snippet"]["highlights"]]


async def test_messages_are_found_whatever_the_accents_case_and_serbian_script(
    desk: LiveServer,
) -> None:
    bob = await login(desk, "bob@example.com")
    agent = await online(desk, bob)
    visitor, conv_id = await chat_with(desk, agent, "Račun za ЂУРЂЕВДАН nije stigao")
    found = await search(bob, "racun")
    assert [i["conversation_id"] for i in found["items"]] == [conv_id]
    assert marked(found["items"][0]) == ["Račun"]
    # Cyrillic typed by the agent meets the Latin stored text, and the other way round.
    assert (await search(bob, "рачун"))["total"] == 1
    cyr = await search(bob, "djurdjev")
    assert cyr["total"] == 1 and marked(cyr["items"][0]) == ["ЂУРЂЕВДАН"]
    assert (await search(bob, "nothing-like-it"))["total"] == 0


async def test_an_agent_finds_only_what_their_role_may_read(desk: LiveServer) -> None:
    bob = await login(desk, "bob@example.com")
    agent = await online(desk, bob)
    await chat_with(desk, agent, "Moj paket kasni", name="Vera Vesić")
    ana = await login(desk, "ana@example.com")
    sam = await login(desk, "sam@example.com")
    assert (await search(bob, "paket"))["total"] == 1
    assert (await search(ana, "paket"))["total"] == 0  # Bob's chat, not hers
    assert (await search(sam, "paket"))["total"] == 1  # supervisors read everything
    customers = await search(sam, "vesic", kind="customers")
    assert [c["name"] for c in customers["items"]] == ["Vera Vesić"]
    assert marked(customers["items"][0]) == ["Vesić"]
    assert (await search(ana, "vesic", kind="customers"))["total"] == 0


async def test_offline_messages_are_searchable_by_text_and_email_and_results_page(
    desk: LiveServer,
) -> None:
    for n in range(3):
        token = (await visitor_session(desk))["token"]
        async with httpx.AsyncClient(base_url=desk.url) as http:
            sent = await http.post(
                "/api/visitor/offline",
                json={"token": token, "email": f"kupac{n}@example.com", "text": f"Faktura {n}"},
            )
            assert sent.status_code == 200
    ana = await login(desk, "ana@example.com")  # offline messages: the whole team's
    first = await search(ana, "faktura", limit="2")
    second = await search(ana, "faktura", limit="2", offset="2")
    assert first["total"] == 3 and len(first["items"]) == 2 and len(second["items"]) == 1
    texts = {i["snippet"]["text"] for i in first["items"] + second["items"]}
    assert texts == {"Faktura 0", "Faktura 1", "Faktura 2"}
    assert (await search(ana, "kupac1", kind="customers"))["total"] == 1


def test_highlight_ranges_count_utf16_units_as_javascript_does() -> None:
    got = snippet("😀 račun", query_variants("racun")).as_json()
    assert got["highlights"] == [[3, 8]]  # the emoji is two UTF-16 units


def test_highlights_are_ranges_into_the_original_text_never_markup() -> None:
    text = "<b>Čekam</b> odgovor: čekam već dugo"
    got = snippet(text, query_variants("CEKAM"))
    assert [got.text[a:b] for a, b in got.highlights] == ["Čekam", "čekam"]
    assert got.text == text
