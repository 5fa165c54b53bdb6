"""Knowledge-base changes reach running hubs without a restart: an import by the CLI into a
running hub's database, and an edit or delete on one node seen by every other node."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster_nodes import (
    PASSWORD,
    SUPERVISOR,
    HubProcess,
    cluster,
    running,
    target,
    until,
)
from tests.integration.conftest import Backend, seed_agents
from tests.integration.test_bot_and_kb import seed_kb
from tests.live import LiveServer, desk_headers
from tests.servers import RedisServer

pytestmark = pytest.mark.conformance

# Unlike anything in the test knowledge base, so a hit can only be the new article.
NEW_ARTICLE = {
    "id": "gift-wrap-en",
    "lang": "en",
    "title": "Gift wrapping with a handwritten card",
    "body": "We wrap any order in recycled paper with a handwritten card for 3 EUR.",
    "tags": ["gift", "wrapping"],
}
QUERY = "can you gift wrap my order with a handwritten card"
SEEN_WITHIN_S = 10.0


async def hit_ids(base_url: str, query: str = QUERY) -> list[str]:
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
        found = (await http.get("/api/kb/search", params={"q": query, "lang": "en"})).json()
    return [r["id"] for r in found["results"]]


async def until_found(base_url: str, article_id: str, *, present: bool = True) -> None:
    async def check() -> bool:
        return (article_id in await hit_ids(base_url)) is present

    what = f"{article_id} {'in' if present else 'gone from'} {base_url}'s suggestions"
    await until(check, what, SEEN_WITHIN_S)


def cli_import(database_url: str, redis_url: str | None, articles: Path) -> None:
    """`livedesk kb import` as an operator runs it: another process, the hub's database."""
    env = {**os.environ, "LIVEDESK_DATABASE_URL": database_url}
    env.pop("LIVEDESK_REDIS_URL", None)
    if redis_url:
        env["LIVEDESK_REDIS_URL"] = redis_url
    subprocess.run(
        [sys.executable, "-m", "chatserver.cli.main", "kb", "import", str(articles)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,  # a whole CLI start on a loaded machine
    )


def write_jsonl(path: Path, *rows: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def kb_hub(backend: Backend) -> Iterator[LiveServer]:
    settings = backend.settings()
    seed_kb(settings)
    seed_agents(settings, ("sam@example.com", "supervisor", 5))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def test_cli_import_into_a_running_hubs_database_is_suggested_without_a_restart(
    kb_hub: LiveServer, backend: Backend, tmp_path: Path
) -> None:
    assert NEW_ARTICLE["id"] not in await hit_ids(kb_hub.url)
    source = write_jsonl(tmp_path / "new.jsonl", NEW_ARTICLE)
    await asyncio.to_thread(
        cli_import, kb_hub.settings.server.database_url, backend.redis_url, source
    )
    await until_found(kb_hub.url, NEW_ARTICLE["id"])


# ---------------------------------------------------------------------------- two nodes


@pytest.fixture
async def nodes(
    postgres_url: str, redis_srv: RedisServer
) -> AsyncIterator[tuple[HubProcess, HubProcess]]:
    """Two nodes that never look at the tables themselves: only the bus can tell them."""
    redis_srv.restart()
    a, b = cluster(postgres_url, redis_srv.url, 2, LIVEDESK_KB_SYNC_INTERVAL_S="0")
    await a.seed(supervisors=(SUPERVISOR,))
    async with running(a, b):
        yield a, b


@pytest.mark.redis
@pytest.mark.postgres
async def test_an_edit_or_delete_on_one_node_reaches_the_other_nodes_suggestions(
    nodes: tuple[HubProcess, HubProcess],
) -> None:
    a, b = nodes
    headers = await desk_headers(target(a), SUPERVISOR, PASSWORD)
    async with httpx.AsyncClient(base_url=a.base, timeout=5, headers=headers) as http:
        created = await http.post("/api/kb/articles", json=NEW_ARTICLE)
        assert created.status_code == 200
        await until_found(b.base, NEW_ARTICLE["id"])

        edited = {**NEW_ARTICLE, "title": "Wrapping presents", "body": "Presents wrapped."}
        assert (await http.put(f"/api/kb/articles/{edited['id']}", json=edited)).status_code == 200

        async def retitled() -> bool:
            async with httpx.AsyncClient(base_url=b.base, timeout=5) as other:
                got = await other.get(f"/api/kb/articles/{edited['id']}")
            return bool(got.json()["title"] == "Wrapping presents")

        await until(retitled, "the edit on node b", SEEN_WITHIN_S)

        assert (await http.delete(f"/api/kb/articles/{edited['id']}")).status_code == 200

        async def gone() -> bool:
            async with httpx.AsyncClient(base_url=b.base, timeout=5) as other:
                return (await other.get(f"/api/kb/articles/{edited['id']}")).status_code == 404

        await until(gone, "the delete on node b", SEEN_WITHIN_S)


@pytest.mark.redis
@pytest.mark.postgres
async def test_cli_import_reaches_every_node_of_a_cluster_through_the_bus(
    nodes: tuple[HubProcess, HubProcess], tmp_path: Path
) -> None:
    a, b = nodes
    source = write_jsonl(tmp_path / "new.jsonl", NEW_ARTICLE)
    await asyncio.to_thread(cli_import, a.url_db, a.redis_url, source)
    for node in (a, b):
        await until_found(node.base, NEW_ARTICLE["id"])


@pytest.mark.redis
@pytest.mark.postgres
async def test_a_canned_reply_saved_on_one_node_is_every_nodes_shortcut_at_once(
    nodes: tuple[HubProcess, HubProcess],
) -> None:
    a, b = nodes
    on_a = await desk_headers(target(a), SUPERVISOR, PASSWORD)
    on_b = await desk_headers(target(b), SUPERVISOR, PASSWORD)

    async def shortcut_text() -> str | None:
        async with httpx.AsyncClient(base_url=b.base, timeout=5, headers=on_b) as other:
            found = await other.get("/api/canned", params={"prefix": "wrapgift", "lang": "en"})
        exact = [r for r in found.json()["results"] if r["shortcut"] == "wrapgift"]
        return str(exact[0]["text"]) if exact else None

    assert await shortcut_text() is None
    async with httpx.AsyncClient(base_url=a.base, timeout=5, headers=on_a) as http:
        reply = {"shortcut": "wrapgift", "lang": "en", "text": "We wrap it for 3 EUR."}
        assert (await http.post("/api/canned", json=reply)).status_code == 200

        async def saved() -> bool:
            return await shortcut_text() == "We wrap it for 3 EUR."

        await until(saved, "the new canned reply on node b", SEEN_WITHIN_S)

        edited = {**reply, "text": "Gift wrapping costs 3 EUR, card included."}
        assert (await http.post("/api/canned", json=edited)).status_code == 200

        async def changed() -> bool:
            return await shortcut_text() == edited["text"]

        await until(changed, "the edited canned reply on node b", SEEN_WITHIN_S)
