"""The store's promises, on SQLite and on PostgreSQL alike (same migrations)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chatserver.db import upgrade
from chatserver.errors import Conflict, Forbidden
from chatserver.models import Visitor
from chatserver.store import Append, Store, now_ms


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database: two hub processes as far as the database can tell."""
    await asyncio.to_thread(upgrade, database_url)
    a = Store(database_url, max_batch=64, max_delay_ms=1)
    b = Store(database_url, max_batch=64, max_delay_ms=1)
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.stop()
        await b.stop()


async def new_visitor(store: Store, vid: str) -> None:
    ts = now_ms()
    await store.save_visitor(Visitor(id=vid, site="default", created_ms=ts, last_seen_ms=ts))


async def test_seq_is_gapless_under_concurrent_appends_from_two_nodes(stores) -> None:
    a, b = stores
    await new_visitor(a, "v1")
    conv, _ = await a.open_conversation("v1", "default", None)
    appends = [
        (a if i % 2 else b).append(
            Append(conv.id, "visitor", f"m{i}", author_id="v1", client_msg_id=f"c{i}")
        )
        for i in range(200)
    ]
    results = await asyncio.gather(*appends)
    seqs = sorted(r.row["seq"] for r in results)
    assert seqs == list(range(1, 201))
    rows = await a.messages_after(conv.id, 0, 1000)
    assert [r["seq"] for r in rows] == list(range(1, 201))
    assert (await a.get_conversation(conv.id)).last_seq == 200


async def test_a_client_message_id_is_stored_once_even_when_retried_on_both_nodes(stores) -> None:
    a, b = stores
    await new_visitor(a, "v2")
    conv, _ = await a.open_conversation("v2", "default", None)
    item = lambda: Append(conv.id, "visitor", "hello", author_id="v2", client_msg_id="same-id")  # noqa: E731
    results = await asyncio.gather(a.append(item()), b.append(item()), a.append(item()))
    assert len({r.row["seq"] for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    assert len(await a.messages_after(conv.id, 0)) == 1


async def test_a_visitor_has_at_most_one_open_conversation_even_when_racing(stores) -> None:
    a, b = stores
    await new_visitor(a, "v3")
    opened = await asyncio.gather(
        *[(a, b)[i % 2].open_conversation("v3", "default", None) for i in range(6)]
    )
    assert len({conv.id for conv, _ in opened}) == 1
    assert sum(created for _, created in opened) == 1


async def test_closed_conversation_takes_no_more_messages_and_cannot_reopen(stores) -> None:
    a, _ = stores
    await new_visitor(a, "v4")
    conv, _ = await a.open_conversation("v4", "default", None)
    await a.transition(conv.id, "closed", "test", closed_by="visitor")
    with pytest.raises(Conflict):
        await a.append(Append(conv.id, "visitor", "too late", author_id="v4"))
    with pytest.raises(Conflict):
        await a.transition(conv.id, "active", "test")
    events = await a.events_of(conv.id)
    assert [(e.from_state, e.to_state) for e in events] == [(None, "bot"), ("bot", "closed")]
    # A closed conversation frees the visitor to open a new one.
    again, created = await a.open_conversation("v4", "default", None)
    assert created and again.id != conv.id


async def test_first_human_reply_is_flagged_once(stores) -> None:
    a, b = stores
    await new_visitor(a, "v5")
    agent = await a.add_agent("x@example.com", "X", "hash")
    conv, _ = await a.open_conversation("v5", "default", None)
    await a.transition(conv.id, "active", "test", agent_id=agent.id)
    results = await asyncio.gather(
        *[
            (a, b)[i % 2].append(Append(conv.id, "agent", f"r{i}", author_id=str(agent.id)))
            for i in range(10)
        ]
    )
    assert sum(r.first_human_reply for r in results) == 1


async def test_the_store_refuses_authors_who_do_not_own_the_conversation(stores) -> None:
    a, _ = stores
    await new_visitor(a, "v6")
    await new_visitor(a, "v7")
    agent = await a.add_agent("y@example.com", "Y", "hash")
    other = await a.add_agent("z@example.com", "Z", "hash")
    conv, _ = await a.open_conversation("v6", "default", None)
    with pytest.raises(Forbidden):
        await a.append(Append(conv.id, "visitor", "not mine", author_id="v7"))
    with pytest.raises(Forbidden):  # waiting for a human: no agent may write yet
        await a.append(Append(conv.id, "agent", "early", author_id=str(agent.id)))
    await a.transition(conv.id, "active", "test", agent_id=agent.id)
    with pytest.raises(Forbidden):
        await a.append(Append(conv.id, "agent", "not mine", author_id=str(other.id)))
    ok = await a.append(Append(conv.id, "agent", "mine", author_id=str(agent.id)))
    assert ok.row["seq"] == 1  # refused items took no seq
