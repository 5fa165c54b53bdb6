"""The search indexer reads messages in id order from a mark, but on PostgreSQL several
writers (hub processes, ``serve --workers``) commit in any order: a message can commit
after one with a higher id that the indexer has already read past. Such a message must
still be found."""

from __future__ import annotations

import asyncio
import functools

import asyncpg
import pytest

from chatserver.backends import search_queries as sq
from chatserver.backends.db import upgrade
from chatserver.backends.inbox_queries import Filters
from chatserver.backends.models import Visitor
from chatserver.backends.store import Append, Store, now_ms
from chatserver.services.search import SearchIndex, fold_for_index

SUPERVISOR = Filters(view="all", me=0, supervisor=True, limit=20)


async def found(index: SearchIndex, words: str) -> list[str]:
    rows, _total = await index.search(words, "messages", SUPERVISOR)
    return sorted(r["snippet"]["text"] for r in rows)


@pytest.mark.parametrize("ends", ["committed", "rolled_back"])
async def test_a_message_committed_after_a_later_one_is_indexed_once_it_commits(
    postgres_url: str, ends: str
) -> None:
    await asyncio.to_thread(upgrade, postgres_url)
    store = Store(postgres_url, max_delay_ms=0)
    await store.start()
    slow = await asyncpg.connect(postgres_url)
    try:
        ts = now_ms()
        for vid in ("v1", "v2"):
            await store.save_visitor(
                Visitor(id=vid, site="default", created_ms=ts, last_seen_ms=ts)
            )
        conv, _ = await store.open_conversation("v1", "default", None)
        other, _ = await store.open_conversation("v2", "default", None)
        # Another process's write in another conversation, still open: its message id is
        # taken, its row unseen.
        pending = slow.transaction()
        await pending.start()
        slow_id = await slow.fetchval(
            "INSERT INTO messages (conversation_id, seq, kind, author, author_id, body, "
            "created_ms) VALUES ($1, 1, 'text', 'visitor', 'v2', 'slowpoke parcel', $2) "
            "RETURNING id",
            other.id,
            now_ms(),
        )
        quick = await store.append(
            Append(conversation_id=conv.id, author="visitor", author_id="v1", body="quick parcel")
        )
        assert quick.row["body"] == "quick parcel"
        quick_id = await slow.fetchval("SELECT id FROM messages WHERE body = 'quick parcel'")
        assert quick_id > slow_id
        index = SearchIndex(store, interval_s=3600)
        # The search indexes what is new first: the mark passes the open write's id.
        assert await found(index, "parcel") == ["quick parcel"]
        if ends == "committed":
            await pending.commit()
            assert await found(index, "parcel") == ["quick parcel", "slowpoke parcel"]
        else:
            await pending.rollback()
            assert await found(index, "parcel") == ["quick parcel"]
            assert await store.read(sq.pending)  # the hole is looked for until given up
            later = now_ms() + sq.HOLE_TTL_MS + 1
            made = await store.read(lambda c: sq.message_docs(c, fold_for_index, 50, later))
            assert made.closed_holes == [slow_id]
            assert await store.write(functools.partial(sq.store_message_docs, made=made))
        assert not await store.read(sq.pending)
    finally:
        await slow.close()
        await store.stop()
