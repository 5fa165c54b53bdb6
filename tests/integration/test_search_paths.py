"""The hit query on both backend sets over a table where one word is in every text and
another in a few: a common word, a prefix of it, and a rare word with the common one
(on PostgreSQL the first two walk the primary key, the last looks up only the rare word
in the GIN index) all answer the newest matches in order, as the texts say."""

from __future__ import annotations

import asyncio

import pytest

from chatserver.backends.db import upgrade
from chatserver.backends.inbox_queries import Filters
from chatserver.backends.search_queries import COUNT_CAP, docs_t, hit_ids
from chatserver.backends.store import Store
from chatserver.services.search import query_variants
from tests.integration.conftest import Backend

pytestmark = pytest.mark.conformance

DOCS = 600
RARE_EVERY = 150


def folded(i: int) -> str:
    return f"parcel note{i}" + (" zanzibar" if i % RARE_EVERY == 7 else "")


async def test_common_prefix_and_rare_words_find_the_newest_matches_in_order(
    backend: Backend,
) -> None:
    url = backend.settings().server.database_url
    await asyncio.to_thread(upgrade, url)
    store = Store(url)
    await store.start()
    try:
        rows = [
            {
                "kind": "message",
                "ref": str(i),
                "visitor_id": "v1",
                "conversation_id": "c1",
                "message_id": i,
                "folded": folded(i),
                "created_ms": i,
            }
            for i in range(DOCS)
        ]
        await store.write(lambda c: c.execute(docs_t.insert(), rows))
        if not url.startswith("sqlite"):
            # The planner's word statistics, which choose the way the query reads.
            await store.write(lambda c: c.exec_driver_sql("ANALYZE search_docs"))
        reader = Filters(view="all", me=0, supervisor=True, limit=20)

        async def ids_of(q: str) -> list[int]:
            found = await store.read(lambda c: hit_ids(c, query_variants(q), "message", reader))
            refs = await store.read(
                lambda c: dict(
                    c.execute(docs_t.select().with_only_columns(docs_t.c.id, docs_t.c.ref)).all()
                )
            )
            return [int(refs[i]) for i in found]

        newest = list(reversed(range(DOCS)))
        assert await ids_of("parcel") == newest[: COUNT_CAP + 1]
        assert await ids_of("parc") == newest[: COUNT_CAP + 1]
        rare = [i for i in newest if "zanzibar" in folded(i)]
        assert len(rare) == DOCS // RARE_EVERY
        assert await ids_of("zanzibar parcel") == rare
        assert await ids_of("zanz note4") == [i for i in rare if str(i).startswith("4")]
    finally:
        await store.stop()
