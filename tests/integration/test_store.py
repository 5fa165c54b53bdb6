"""The store's promises, on SQLite and on PostgreSQL alike (same migrations)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlalchemy import Connection

from chatserver.backends.db import make_engine, upgrade
from chatserver.backends.models import Visitor
from chatserver.backends.pg_direct import KeptConnection
from chatserver.backends.pg_direct import connection as pg_connection
from chatserver.backends.plain_sql import PlainSql
from chatserver.backends.store import (
    Append,
    Appended,
    Store,
    now_ms,
    plan_batch,
    read_batch_pg,
    write_if_unchanged_pg,
)
from chatserver.core.errors import BadData, Conflict, Forbidden, StoreUnavailable


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")


@contextlib.asynccontextmanager
async def two_stores(url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database: two hub processes as far as the database can tell."""
    await asyncio.to_thread(upgrade, url)
    a = Store(url, max_batch=64, max_delay_ms=1)
    b = Store(url, max_batch=64, max_delay_ms=1)
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.stop()
        await b.stop()


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[tuple[Store, Store]]:
    async with two_stores(database_url) as pair:
        yield pair


@pytest.fixture
async def pg_stores(postgres_url: str) -> AsyncIterator[tuple[Store, Store]]:
    async with two_stores(postgres_url) as pair:
        yield pair


async def new_visitor(store: Store, vid: str) -> None:
    ts = now_ms()
    await store.save_visitor(Visitor(id=vid, site="default", created_ms=ts, last_seen_ms=ts))


async def hold_writer(store: Store) -> tuple[asyncio.Task[None], threading.Event]:
    """A write that holds SQLite's writer thread until the event is set; returned once it
    holds it."""
    entered, release = threading.Event(), threading.Event()

    def hold(conn: Connection) -> None:
        entered.set()
        release.wait(30)

    held = asyncio.create_task(store.write(hold))
    assert await asyncio.to_thread(entered.wait, 30)
    return held, release


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


async def test_a_sqlite_batch_is_first_written_without_looking_for_retries_and_loses_none(
    tmp_path,
) -> None:
    """The group commit's first try skips the look for stored client message ids: a batch
    holding a retry is refused whole by the unique index (nothing of it written), and the
    redo item by item answers the retry from the store and stores the others."""
    async with two_stores(f"sqlite:///{tmp_path / 'optimistic.db'}") as (a, _):
        await new_visitor(a, "v8")
        conv, _ = await a.open_conversation("v8", "default", None)
        send = lambda text, cid: Append(conv.id, "visitor", text, author_id="v8", client_msg_id=cid)  # noqa: E731
        sent = await a.append(send("first", "c1"))
        with pytest.raises(sa.exc.IntegrityError):
            await a.write_batch([send("first", "c1"), send("second", "c2")], probe=False)
        assert [r["body"] for r in await a.messages_after(conv.id, 0)] == ["first"]
        retried, fresh = await asyncio.gather(
            a.append(send("first", "c1")), a.append(send("second", "c2"))
        )
        assert retried.duplicate and retried.row["seq"] == sent.row["seq"]
        assert not fresh.duplicate and fresh.row["seq"] == sent.row["seq"] + 1
        assert [r["body"] for r in await a.messages_after(conv.id, 0)] == ["first", "second"]


async def test_a_retried_authorless_step_alone_is_found_again_on_the_first_try(tmp_path) -> None:
    """The bot's and the system's steps have no author id, which the unique index holds
    apart from every other: their retries are looked for even on the first try."""
    async with two_stores(f"sqlite:///{tmp_path / 'authorless.db'}") as (a, _):
        await new_visitor(a, "v7")
        conv, _ = await a.open_conversation("v7", "default", None)

        def step() -> Append:
            return Append(conv.id, "system", "no_credits", kind="event", client_msg_id="bill:1")

        first = await a.append(step())
        (again,) = await a.write_batch([step()], probe=False)
        assert isinstance(again, Appended) and again.duplicate
        assert again.row["seq"] == first.row["seq"]
        assert len(await a.messages_after(conv.id, 0)) == 1


async def test_retries_of_many_senders_and_of_authorless_steps_are_each_found_again(
    stores,
) -> None:
    """A batch's retry keys are looked up in slices, one full key each, and a bot's or the
    system's step (no author id) is matched on its null author id."""
    a, _ = stores
    await new_visitor(a, "v9")
    conv, _ = await a.open_conversation("v9", "default", None)
    texts = [
        Append(conv.id, "visitor", f"m{i}", author_id="v9", client_msg_id=f"c{i}")
        for i in range(150)
    ]
    bot_step = lambda: Append(conv.id, "bot", "hi", client_msg_id="bot-greet-1")  # noqa: E731
    first = await asyncio.gather(*(a.append(t) for t in texts), a.append(bot_step()))
    assert not any(r.duplicate for r in first)
    again = await asyncio.gather(
        a.append(bot_step()),
        *(
            a.append(Append(conv.id, "visitor", "?", author_id="v9", client_msg_id=f"c{i}"))
            for i in range(150)
        ),
        a.append(bot_step()),
    )
    assert all(r.duplicate for r in again)
    assert [r.row["seq"] for r in again[1:-1]] == [r.row["seq"] for r in first[:-1]]
    assert again[0].row["seq"] == again[-1].row["seq"] == first[-1].row["seq"]
    assert len(await a.messages_after(conv.id, 0, 1000)) == 151


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


def unstorable(store: Store) -> list[str]:
    """Bodies this database refuses (a lone surrogate everywhere; NUL in PostgreSQL text)."""
    return ["x\ud800"] + ([] if store.url.startswith("sqlite") else ["x\x00"])


async def test_a_refused_item_fails_alone_and_the_rest_of_its_batch_commits(stores) -> None:
    a, _ = stores
    agent = await a.add_agent("p@example.com", "P", "hash")
    convs = []
    for i in range(4):
        await new_visitor(a, f"b{i}")
        conv, _ = await a.open_conversation(f"b{i}", "default", None)
        convs.append(conv.id)
    await a.transition(convs[3], "active", "test", agent_id=agent.id)
    poisons = unstorable(a)
    # Submitted without waiting in between: one batch, the poison in the middle of it.
    good = [
        Append(convs[0], "visitor", "hello", author_id="b0", client_msg_id="g0"),
        Append(convs[1], "bot", "How can I help?", author_name="Bot"),
    ]
    bad = [
        Append(convs[2], "visitor", p, author_id="b2", client_msg_id=f"p{i}")
        for i, p in enumerate(poisons)
    ]
    background = [
        Append(convs[3], "system", "assigned", "event", data={"agent": {"id": agent.id}}),
        Append(convs[3], "agent", "I am here", author_id=str(agent.id), client_msg_id="a0"),
        Append(convs[0], "system", "handoff", "event", data={"summary": "s"}),
    ]
    futures = [a.writer.submit(it) for it in [*good[:1], *bad, *good[1:], *background]]
    outcomes = await asyncio.gather(*futures, return_exceptions=True)
    refused = outcomes[1 : 1 + len(bad)]
    stored = outcomes[:1] + outcomes[1 + len(bad) :]
    assert all(isinstance(o, BadData) and not isinstance(o, StoreUnavailable) for o in refused)
    assert all(isinstance(o, Appended) for o in stored), stored
    assert [r["body"] for r in await a.messages_after(convs[3], 0)] == ["assigned", "I am here"]
    assert await a.messages_after(convs[2], 0) == []  # the poison took no seq
    # The writer lives on, and the refused sender's next good message gets seq 1.
    ok = await a.append(Append(convs[2], "visitor", "fixed", author_id="b2", client_msg_id="p9"))
    assert ok.row["seq"] == 1


async def test_a_close_and_its_event_commit_together_or_not_at_all(stores) -> None:
    a, _ = stores
    await new_visitor(a, "c1")
    conv, _ = await a.open_conversation("c1", "default", None)
    with pytest.raises(BadData):  # a value the database refused: never an outage
        await a.transition(conv.id, "closed", "test", event=(unstorable(a)[0], {}))
    still = await a.get_conversation(conv.id)
    assert still is not None and still.state == "bot"
    assert [e.to_state for e in await a.events_of(conv.id)] == ["bot"]
    published: list[dict] = []
    a.writer.commit_listeners.append(published.append)
    closed = await a.transition(conv.id, "closed", "test", event=("closed", {"by": "visitor"}))
    rows = await a.messages_after(conv.id, 0)
    assert [(r["kind"], r["body"], r["seq"]) for r in rows] == [("event", "closed", 1)]
    assert closed.state == "closed" and closed.last_seq == 1
    assert [r["body"] for r in published] == ["closed"]


async def test_client_message_ids_are_deduplicated_per_sender_not_per_role(stores) -> None:
    a, _ = stores
    await new_visitor(a, "t1")
    ana = await a.add_agent("ana-t@example.com", "Ana", "hash")
    bob = await a.add_agent("bob-t@example.com", "Bob", "hash")
    conv, _ = await a.open_conversation("t1", "default", None)
    await a.transition(conv.id, "active", "test", agent_id=ana.id)
    first = await a.append(
        Append(conv.id, "agent", "Ana here", author_id=str(ana.id), client_msg_id="m1")
    )
    await a.transition(conv.id, "active", "transfer", agent_id=bob.id)
    # Bob's console counts its ids from the same start as Ana's did.
    second = await a.append(
        Append(conv.id, "agent", "Bob here", author_id=str(bob.id), client_msg_id="m1")
    )
    assert not second.duplicate and second.row["seq"] == first.row["seq"] + 1
    retried = await a.append(
        Append(conv.id, "agent", "Bob here", author_id=str(bob.id), client_msg_id="m1")
    )
    assert retried.duplicate and retried.row["seq"] == second.row["seq"]
    bodies = [r["body"] for r in await a.messages_after(conv.id, 0)]
    assert bodies == ["Ana here", "Bob here"]


async def test_a_value_the_database_refuses_is_bad_data_never_unavailable(stores) -> None:
    a, _ = stores
    for poison in unstorable(a):
        with pytest.raises(BadData):
            await a.save_visitor(
                Visitor(id="n1", site="default", name=poison, created_ms=1, last_seen_ms=1)
            )
    assert await a.get_visitor("n1") is None


async def test_sqlite_commits_never_checkpoint_and_a_background_thread_does(tmp_path) -> None:
    """The committing thread leaves the write-ahead log alone (a checkpoint in a commit is
    a pause for that batch's messages); the store's own checkpoint thread copies it in."""
    url = f"sqlite:///{tmp_path / 'ckpt.db'}"
    await asyncio.to_thread(upgrade, url)
    wal, db = tmp_path / "ckpt.db-wal", tmp_path / "ckpt.db"
    body = "x" * 3000
    idle = Store(url, checkpoint_interval_s=3600)
    await idle.start()
    checkpointing = Store(url, checkpoint_interval_s=0.01)
    try:
        await new_visitor(idle, "v-ckpt")
        conv, _ = await idle.open_conversation("v-ckpt", "default", None)
        # ~12 MB: three times what SQLite's own checkpoint (at 1,000 pages) lets the log reach.
        for start in range(0, 4000, 200):
            await asyncio.gather(
                *(
                    idle.append(Append(conv.id, "visitor", body, author_id="v-ckpt"))
                    for _ in range(start, start + 200)
                )
            )
        assert wal.stat().st_size > 3 * 1000 * 4096
        assert db.stat().st_size < 4 * 1000 * 4096

        # The idle store stays open (a last connection closing would checkpoint by itself).
        await checkpointing.start()
        deadline = asyncio.get_running_loop().time() + 20
        while db.stat().st_size < 12 * 1000 * 1000:  # the checkpoint thread's work, in the file
            assert asyncio.get_running_loop().time() < deadline, "no checkpoint came"
            await asyncio.sleep(0.05)
        assert len(await checkpointing.messages_after(conv.id, 0, 5000)) == 4000
    finally:
        await checkpointing.stop()
        await idle.stop()


async def test_a_first_message_is_stored_with_the_conversation_it_opens(stores) -> None:
    a, b = stores
    await new_visitor(a, "o1")
    published: list[dict] = []
    a.writer.commit_listeners.append(published.append)
    item = Append("", "visitor", "first words", author_id="o1", client_msg_id="m1")
    conv, created, appended = await a.open_with_message("o1", "default", "en", item)
    assert created and appended is not None and not appended.duplicate
    assert appended.row["seq"] == 1 and conv.last_seq == 1
    assert published == []  # the caller publishes, once its listeners are in
    rows = await b.messages_after(conv.id, 0)
    assert [(r["seq"], r["body"]) for r in rows] == [(1, "first words")]
    assert (await b.get_conversation(conv.id)).last_seq == 1
    # Open already (another tab, another node): nothing written, the caller appends.
    again = Append("", "visitor", "second", author_id="o1", client_msg_id="m2")
    same, created, appended = await b.open_with_message("o1", "default", "en", again)
    assert same.id == conv.id and not created and appended is None
    assert len(await a.messages_after(conv.id, 0)) == 1


async def test_sqlite_writes_queued_together_share_a_commit_and_one_failing_fails_alone(
    tmp_path,
) -> None:
    url = f"sqlite:///{tmp_path / 'group.db'}"
    await asyncio.to_thread(upgrade, url)
    store = Store(url)
    await store.start()
    try:
        # Hold the writer thread, so the next writes queue behind it and go in one group.
        held, release = await hold_writer(store)
        ts = now_ms()

        def visitor(vid: str, fail: bool = False) -> Callable[[Connection], str]:
            def run(conn: Connection) -> str:
                conn.execute(
                    sa.insert(Visitor.__table__).values(  # type: ignore[attr-defined]
                        id=vid, site="default", created_ms=ts, last_seen_ms=ts
                    )
                )
                if fail:
                    raise Conflict("after its row was written")
                return vid

            return run

        writes = [
            asyncio.ensure_future(store.write(visitor(f"g{i}", fail=i == 2))) for i in range(5)
        ]
        queued: list[int] = []

        def let_go() -> None:  # after each write's first step, which queues it
            queued.append(len(store._writes._queued))
            release.set()

        asyncio.get_running_loop().call_soon(let_go)
        await held
        assert queued == [len(writes)]  # all five went to the writer thread together
        outcomes = await asyncio.gather(*writes, return_exceptions=True)
        assert [o if isinstance(o, str) else type(o) for o in outcomes] == [
            "g0",
            "g1",
            Conflict,
            "g3",
            "g4",
        ]
        stored = {vid for vid in ("g0", "g1", "g2", "g3", "g4") if await store.get_visitor(vid)}
        assert stored == {"g0", "g1", "g3", "g4"}  # g2's row went with its savepoint
    finally:
        await store.stop()


async def test_a_sqlite_batch_is_written_on_the_event_loop_only_while_the_writer_thread_is_idle(
    tmp_path,
) -> None:
    url = f"sqlite:///{tmp_path / 'here.db'}"
    await asyncio.to_thread(upgrade, url)
    store = Store(url, checkpoint_interval_s=3600)  # no checkpoint takes the writer meanwhile
    await store.start()
    try:
        loop_thread = threading.get_ident()

        def where(conn: Connection) -> int:
            return threading.get_ident()

        assert await store._writes.run_here(where) == loop_thread
        writer_thread = await store.write(where)
        assert writer_thread != loop_thread

        held, release = await hold_writer(store)
        # Busy writer: the batch queues behind it rather than sharing its connection.
        behind = asyncio.ensure_future(store._writes.run_here(where))
        asyncio.get_running_loop().call_soon(release.set)
        await held
        assert await behind == writer_thread

        await new_visitor(store, "h1")
        conv, _ = await store.open_conversation("h1", "default", None)
        stored = await store.append(Append(conv.id, "visitor", "hi", author_id="h1"))
        assert stored.row["seq"] == 1
    finally:
        await store.stop()


async def test_a_sqlite_batch_never_waits_on_the_loop_for_another_connections_write_lock(
    tmp_path,
) -> None:
    """A ``livedesk`` command holding the file's write lock: the batch goes to the writer
    thread, which waits for the lock, and the event loop runs on meanwhile."""
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    await asyncio.to_thread(upgrade, url)
    store = Store(url, busy_timeout_s=30, checkpoint_interval_s=3600)
    await store.start()
    locked, loop_ran = threading.Event(), threading.Event()
    loop_was_free: list[bool] = []

    def command() -> None:
        other = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        locked.set()
        # A loop stuck in SQLite's busy wait never says it ran: the lock goes after 10 s
        # instead, and the test fails, well inside the 30 s busy timeout.
        loop_was_free.append(loop_ran.wait(10))
        other.execute("COMMIT")
        other.close()

    try:
        await new_visitor(store, "l1")
        conv, _ = await store.open_conversation("l1", "default", None)
        writer_thread = await store.write(lambda conn: threading.get_ident())
        holder = threading.Thread(target=command)
        holder.start()
        assert await asyncio.to_thread(locked.wait, 30)

        def where(conn: Connection) -> int:
            return threading.get_ident()

        sent = asyncio.ensure_future(store._writes.run_here(where))
        assert (await store.get_conversation(conv.id)) is not None  # after sent's first step
        loop_ran.set()
        assert await sent == writer_thread
        await asyncio.to_thread(holder.join)
        assert loop_was_free == [True]
        stored = await store.append(Append(conv.id, "visitor", "after", author_id="l1"))
        assert stored.row["seq"] == 1
        timeout_ms = await store._writes.run_here(
            lambda conn: PlainSql(conn).rows("PRAGMA busy_timeout", {})[0]["timeout"]
        )
        assert timeout_ms == 30_000  # restored after the attempt without waiting
    finally:
        await store.stop()


async def test_postgres_dropping_the_connections_makes_one_batch_unavailable_then_writes_resume(
    postgres_url: str,
) -> None:
    """The group commit runs on asyncpg without SQLAlchemy's execution path: a dropped
    connection must still read as an outage (retryable) and must not poison the pool."""
    await asyncio.to_thread(upgrade, postgres_url)
    store = Store(postgres_url, max_batch=64, max_delay_ms=1)
    await store.start()
    try:
        await new_visitor(store, "v1")
        conv, _ = await store.open_conversation("v1", "default", None)
        await store.append(Append(conv.id, "visitor", "before", author_id="v1"))
        killer = make_engine(postgres_url)  # not the store's pool: every one of its goes
        try:
            async with killer.connect() as conn:
                await conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
                await conn.commit()
        finally:
            await killer.dispose()
        with pytest.raises(StoreUnavailable):
            await store.append(Append(conv.id, "visitor", "lost", author_id="v1"))
        after = await store.append(Append(conv.id, "visitor", "after", author_id="v1"))
        assert after.row["seq"] == 2
        bodies = [r["body"] for r in await store.messages_after(conv.id, 0)]
        assert bodies == ["before", "after"]
    finally:
        await store.stop()


async def test_postgres_group_commit_keeps_its_connection_between_batches(
    postgres_url: str,
) -> None:
    """A batch does not check a connection out of the pool and back in: the group commit
    keeps one from batch to batch (returned when the store stops)."""
    await asyncio.to_thread(upgrade, postgres_url)
    store = Store(postgres_url, max_batch=64, max_delay_ms=1)
    await store.start()
    pool = store.engine.sync_engine.pool
    try:
        await new_visitor(store, "v1")
        conv, _ = await store.open_conversation("v1", "default", None)
        for text in ("one", "two", "three"):
            await store.append(Append(conv.id, "visitor", text, author_id="v1"))
            assert pool.checkedout() == 1
    finally:
        await store.stop()
    assert pool.checkedout() == 0


async def test_a_kept_connection_idle_too_long_goes_back_to_the_pool_before_its_next_use(
    postgres_url: str,
) -> None:
    """Kept idle past its limit, the connection is returned and checked out again, so the
    pool's recycling applies to it; used within the limit, it is not."""
    engine = make_engine(postgres_url)
    checkouts: list[object] = []
    sa.event.listen(engine.sync_engine.pool, "checkout", lambda *args: checkouts.append(args))
    try:
        for idle_s, expected in ((3600.0, 1), (0.0, 3)):
            checkouts.clear()
            kept = KeptConnection(engine, idle_s=idle_s)
            for _ in range(3):
                async with kept.use() as db:
                    assert await db.pg.fetchval("SELECT 1") == 1
            await kept.close()
            assert len(checkouts) == expected
    finally:
        await engine.dispose()


async def test_a_dead_sqlite_writer_connection_costs_one_write_and_the_next_reconnects(
    tmp_path,
) -> None:
    """The writer thread keeps its connection between transactions; when that connection
    dies, the write that met it fails as unavailable and the next one runs on a new one."""
    url = f"sqlite:///{tmp_path / 'writer.db'}"
    await asyncio.to_thread(upgrade, url)
    store = Store(url)
    await store.start()
    try:

        def driver_connection(conn: Connection) -> object:
            return conn.connection.driver_connection

        first = await store.write(driver_connection)
        with pytest.raises(StoreUnavailable):  # its commit meets the dead connection
            await store.write(lambda conn: conn.connection.driver_connection.close())
        await new_visitor(store, "w1")
        assert await store.get_visitor("w1") is not None
        assert await store.write(driver_connection) is not first
    finally:
        await store.stop()


async def test_a_dead_sqlite_connection_under_the_loops_batches_is_replaced_and_nothing_is_lost(
    tmp_path,
) -> None:
    """A batch written on the loop meets a dead connection: before it begins (the batch
    goes to the writer thread, which opens a new one) or at its commit (that batch fails,
    the next one reconnects)."""
    url = f"sqlite:///{tmp_path / 'dead.db'}"
    await asyncio.to_thread(upgrade, url)
    store = Store(url, checkpoint_interval_s=3600)
    await store.start()
    try:
        await new_visitor(store, "d1")
        conv, _ = await store.open_conversation("d1", "default", None)
        first = await store.append(Append(conv.id, "visitor", "one", author_id="d1"))

        def kill(conn: Connection) -> None:
            conn.connection.driver_connection.close()

        store._writes._connection().connection.driver_connection.close()  # between batches
        second = await store.append(Append(conv.id, "visitor", "two", author_id="d1"))
        with pytest.raises(sa.exc.DBAPIError):  # its commit meets the dead connection
            await store._writes.run_here(kill)
        third = await store.append(Append(conv.id, "visitor", "three", author_id="d1"))
        assert [first.row["seq"], second.row["seq"], third.row["seq"]] == [1, 2, 3]
        loop_thread = threading.get_ident()
        assert await store._writes.run_here(lambda conn: threading.get_ident()) == loop_thread
    finally:
        await store.stop()


async def test_sqlite_log_starts_afresh_under_steady_writes(tmp_path) -> None:
    """With writes never pausing, the checkpoint thread's pass always leaves the frames
    committed meanwhile; the writer checkpoints those few itself, so SQLite starts the log
    afresh again and again however much is written (without that, never: it grew to
    31.6 MB here)."""
    url = f"sqlite:///{tmp_path / 'steady.db'}"
    await asyncio.to_thread(upgrade, url)
    wal = tmp_path / "steady.db-wal"
    store = Store(url, checkpoint_interval_s=0.02)
    await store.start()
    body = "y" * 3000
    total = 4000
    written = 0
    starts: set[bytes] = set()
    try:
        await new_visitor(store, "v-steady")
        conv, _ = await store.open_conversation("v-steady", "default", None)

        async def sender() -> None:
            nonlocal written
            while written < total:
                await store.append(Append(conv.id, "visitor", body, author_id="v-steady"))
                written += 1
                with wal.open("rb") as log:
                    # The log header's checkpoint sequence number: one more per fresh start.
                    starts.add(log.read(16)[12:16])

        # Several senders: the next batch is always waiting.
        await asyncio.gather(*(sender() for _ in range(8)))
        assert len(await store.messages_after(conv.id, 0, 2 * total)) >= total
        assert len(starts) >= 3
    finally:
        await store.stop()


@pytest.mark.parametrize("change", ["nothing", "another_message", "transfer", "close"])
async def test_postgres_writes_a_planned_batch_only_while_its_conversations_are_as_read(
    postgres_url: str, change: str
) -> None:
    """On PostgreSQL a batch reads its conversations without a lock, plans, and writes in one
    statement that checks them again: a conversation that changed in between (a message
    from another node, a transfer, a close) must leave nothing written, and the batch then
    takes the locked way with the outcome the change decides."""
    await asyncio.to_thread(upgrade, postgres_url)
    store = Store(postgres_url, max_batch=64, max_delay_ms=1)
    await store.start()
    try:
        await new_visitor(store, "v1")
        agent = await store.add_agent("cas@example.com", "Cas", "hash")
        other = await store.add_agent("other@example.com", "Other", "hash")
        conv, _ = await store.open_conversation("v1", "default", None)
        await store.transition(conv.id, "active", "test", agent_id=agent.id)
        await store.append(Append(conv.id, "agent", "hello", author_id=str(agent.id)))
        item = Append(conv.id, "agent", "planned", author_id=str(agent.id), client_msg_id="p1")
        async with pg_connection(store.engine) as db:
            convs, stored = await read_batch_pg(db, [item], lock=False)
            plan = plan_batch([item], convs, stored, now_ms())
            assert [row["seq"] for row in plan.rows] == [2]
            if change == "another_message":
                await store.append(Append(conv.id, "visitor", "meanwhile", author_id="v1"))
            elif change == "transfer":
                await store.transition(conv.id, "active", "transfer", agent_id=other.id)
            elif change == "close":
                await store.transition(conv.id, "closed", "test", closed_by="visitor")
            written = await write_if_unchanged_pg(db, convs, plan)
        bodies = [row["body"] for row in await store.messages_after(conv.id, 0)]
        current = await store.get_conversation(conv.id)
        assert current is not None and current.last_seq == len(bodies)
        if change == "nothing":
            assert written and bodies == ["hello", "planned"]
            return
        assert not written and "planned" not in bodies
        if change == "another_message":
            assert (await store.append(item)).row["seq"] == 3
        else:
            with pytest.raises((Forbidden, Conflict)):
                await store.append(item)
    finally:
        await store.stop()


async def test_postgres_batches_go_the_locked_way_only_where_a_first_reply_may_fall_due(
    pg_stores: tuple[Store, Store],
) -> None:
    """An agent's text in a conversation this process has not seen answered may be its first
    human reply, which owes a debit in the same transaction: that batch goes the locked way
    at once. Once the process has seen the reply, the conversation's texts go unlocked;
    another process learns it from its own first read."""
    a, b = pg_stores
    locked = lambda: REGISTRY.get_sample_value("livedesk_commit_locked_total") or 0.0  # noqa: E731

    async def locked_by(store: Store, item: Append) -> float:
        before = locked()
        await store.append(item)
        return locked() - before

    await new_visitor(a, "v1")
    agent = await a.add_agent("first@example.com", "First", "hash")
    conv, _ = await a.open_conversation("v1", "default", None)
    await a.transition(conv.id, "active", "test", agent_id=agent.id)
    reply = lambda text: Append(conv.id, "agent", text, author_id=str(agent.id))  # noqa: E731
    visitor = Append(conv.id, "visitor", "hi", author_id="v1")
    assert await locked_by(a, visitor) == 0
    first = await a.writer.submit(reply("first"))
    assert first.first_human_reply
    assert await locked_by(a, reply("second")) == 0
    assert await locked_by(b, reply("third")) == 1  # b has not seen the reply yet
    assert await locked_by(b, reply("fourth")) == 0
    seqs = [r["seq"] for r in await a.messages_after(conv.id, 0)]
    assert seqs == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "change", ["nothing", "another_process_wrote", "own_move", "retried", "transfer", "close"]
)
async def test_postgres_writes_into_what_it_wrote_last_in_one_round_trip_only_while_nothing_changed(
    pg_stores: tuple[Store, Store], change: str
) -> None:
    """A process plans a batch from its conversations as it last wrote them and writes it
    without reading first, in one statement that checks them. When another process wrote
    into one since, it was transferred or closed, or the batch repeats a stored message,
    that statement writes nothing, and the batch gets the outcome the change decides."""
    a, b = pg_stores
    one_trip = lambda: REGISTRY.get_sample_value("livedesk_commit_one_trip_total") or 0.0  # noqa: E731
    await new_visitor(a, "v1")
    agent = await a.add_agent("trip@example.com", "Trip", "hash")
    other = await a.add_agent("other-trip@example.com", "Other", "hash")
    conv, _ = await a.open_conversation("v1", "default", None)
    await a.transition(conv.id, "active", "test", agent_id=agent.id)
    reply = lambda text, mid: Append(  # noqa: E731
        conv.id, "agent", text, author_id=str(agent.id), client_msg_id=mid
    )
    await a.append(reply("first", "r1"))  # the locked way: the first reply
    second = await a.append(reply("second", "r2"))  # read, then write: now known
    before = one_trip()
    if change == "nothing":
        assert (await a.append(reply("third", "r3"))).row["seq"] == second.row["seq"] + 1
        assert one_trip() - before == 1
    elif change == "another_process_wrote":
        await b.append(Append(conv.id, "visitor", "via b", author_id="v1"))
        assert (await a.append(reply("third", "r3"))).row["seq"] == second.row["seq"] + 2
        assert one_trip() == before
        # Written into by another process too: read first from now on, which is what a
        # write planned from a copy that is always stale would cost anyway.
        assert (await a.append(reply("fourth", "r4"))).row["seq"] == second.row["seq"] + 3
        assert one_trip() == before
    elif change == "own_move":
        # Its own move (here one that logs an event, a message) forgets the conversation
        # rather than finding it changed by the next write and giving up on it.
        await a.transition(conv.id, "active", "test", agent_id=agent.id, event=("note", {}))
        await a.append(reply("third", "r3"))
        assert one_trip() == before
        await a.append(reply("fourth", "r4"))
        assert one_trip() - before == 1
    elif change == "retried":
        again = await a.append(reply("second", "r2"))
        assert again.duplicate and again.row["seq"] == second.row["seq"]
        assert one_trip() == before
    else:
        if change == "transfer":
            await b.transition(conv.id, "active", "transfer", agent_id=other.id)
        else:
            await b.transition(conv.id, "closed", "test", closed_by="visitor")
        with pytest.raises((Forbidden, Conflict)):
            await a.append(reply("third", "r3"))
        assert one_trip() == before
    bodies = [row["body"] for row in await a.messages_after(conv.id, 0) if row["kind"] == "text"]
    current = await a.get_conversation(conv.id)
    assert current is not None
    assert current.last_seq == len(await a.messages_after(conv.id, 0))
    expected = {
        "nothing": ["first", "second", "third"],
        "another_process_wrote": ["first", "second", "via b", "third", "fourth"],
        "own_move": ["first", "second", "third", "fourth"],
    }
    assert bodies == expected.get(change, ["first", "second"])
