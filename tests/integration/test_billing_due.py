"""Money owed is never lost: a debit falls due in the same transaction as the first human
reply (or the close, per block of human time), and the billing worker carries it out until
it is done — across a failing ledger, a kill -9 and several hub processes. The paid-support
outbox opens its conversation, once. On memory+sqlite and redis+postgres."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.backends.db import make_engine, upgrade
from chatserver.backends.models import Visitor
from chatserver.backends.store import Append, Store, now_ms
from chatserver.billing import due, ledger, rules
from chatserver.core.settings import Settings
from chatserver.live.auth import identity_hash
from chatserver.services.billing_worker import BillingWorker
from chatserver.testing.loadtest import PASSWORD, HubProcess
from tests.cluster_nodes import target, until
from tests.integration.conftest import Backend, add_agents
from tests.integration.test_hub_conversation import agent_client
from tests.live import Client, LiveServer, connect_agent, connect_visitor, login_cookie

pytestmark = pytest.mark.conformance

BUYER = "buyer@example.com"
IDENTITY_SECRET = "test-identity-secret"
# Quick retries, so a test waits for the worker in seconds, not half a minute.
FAST_RETRIES = {"billing_poll_s": 0.1, "billing_retry_s": 1.0}


@pytest.fixture
async def db_url(backend: Backend) -> str:
    """The backend's database, migrated (PostgreSQL comes migrated; a SQLite file is made)."""
    url = backend.database_url or f"sqlite:///{backend.tmp_path / 'livedesk.db'}"
    if backend.database_url is None:
        await asyncio.to_thread(upgrade, url)
    return url


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


# ---------------------------------------------------------------------------- helpers


async def refuse_debits(engine: AsyncEngine, refuse: bool) -> None:
    """A ledger that fails every debit, in the database itself: what a dropped connection
    or a crash mid-debit looks like to the hub, on either backend."""
    async with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.exec_driver_sql("DROP TRIGGER IF EXISTS refuse_debits")
            if refuse:
                await conn.exec_driver_sql(
                    "CREATE TRIGGER refuse_debits BEFORE INSERT ON credit_entries "
                    "WHEN NEW.kind = 'debit' BEGIN SELECT RAISE(ABORT, 'debits refused'); END"
                )
            return
        await conn.exec_driver_sql("DROP TRIGGER IF EXISTS refuse_debits ON credit_entries")
        if refuse:
            await conn.exec_driver_sql(
                "CREATE OR REPLACE FUNCTION refuse_debits() RETURNS trigger AS $$ BEGIN "
                "IF NEW.kind = 'debit' THEN RAISE EXCEPTION 'debits refused'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            await conn.exec_driver_sql(
                "CREATE TRIGGER refuse_debits BEFORE INSERT ON credit_entries "
                "FOR EACH ROW EXECUTE FUNCTION refuse_debits()"
            )


async def debits_of(engine: AsyncEngine, conv_id: str) -> list[tuple[str, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(ledger.entries.c.idempotency_key, ledger.entries.c.amount).where(
                ledger.entries.c.conversation_id == conv_id
            )
        )
        return [(str(k), int(a)) for k, a in rows]


async def balance(engine: AsyncEngine) -> int:
    return (await ledger.get_balance(engine, BUYER)).balance


async def due_row(engine: AsyncEngine, conv_id: str, kind: str) -> dict[str, Any] | None:
    rows = [r for r in await due.debits(engine, conv_id) if r["kind"] == kind]
    assert len(rows) <= 1
    return rows[0] if rows else None


def waiting_for(
    engine: AsyncEngine, conv_id: str, kind: str, ready: Callable[[dict[str, Any]], bool]
) -> Callable[[], Any]:
    async def check() -> bool:
        row = await due_row(engine, conv_id, kind)
        return row is not None and ready(row)

    return check


async def verified_visitor(server: Any) -> Client:
    visitor, _ = await connect_visitor(
        server, email=BUYER, identity_hash=identity_hash(IDENTITY_SECRET, BUYER)
    )
    welcome = await visitor.recv_type("welcome", timeout=30)
    assert welcome["verified"] is True
    return visitor


async def human_reply(server: Any, agent: Client) -> str:
    """A verified customer writes, the agent is assigned and answers; the conversation."""
    visitor = await verified_visitor(server)
    conv_id = str((await visitor.send_text("I need help"))["conversation_id"])
    assigned = await agent.recv_type("assigned", timeout=30)
    assert assigned["conversation"]["conversation_id"] == conv_id
    await agent.send_text("Happy to help", conversation_id=conv_id)  # acked: committed
    return conv_id


# ---------------------------------------------------------------------------- the debit


async def test_a_reply_committed_while_debits_fail_is_charged_exactly_once_after_kill_9(
    backend: Backend, db_url: str, engine: AsyncEngine
) -> None:
    env = {
        "LIVEDESK_IDENTITY_SECRET": IDENTITY_SECRET,
        "LIVEDESK_BILLING_POLL_S": "0.1",
        "LIVEDESK_BILLING_RETRY_S": "1",
    }
    # On the test's own database (a SQLite file, or PostgreSQL and Redis as a cluster node).
    hub = HubProcess(agents=1, database_url=db_url, redis_url=backend.redis_url, **env)
    await hub.seed()
    await ledger.grant(engine, BUYER, 3, key="test-grant", now_ms=now_ms())
    await refuse_debits(engine, True)
    hub.start()
    try:
        there = target(hub)
        agent = await connect_agent(there, await login_cookie(there, hub.emails()[0], PASSWORD))
        await agent.recv_type("welcome", timeout=30)
        conv_id = await human_reply(there, agent)
        hub.kill()  # right after the reply's commit: whatever ran of the debit, failed

        assert await balance(engine) == 3
        await refuse_debits(engine, False)
        hub.start()

        async def charged() -> bool:
            return await balance(engine) == 2

        await until(charged, "the debit charged after the restart", timeout=30)
        await until(
            waiting_for(engine, conv_id, due.REPLY, lambda r: r["done_ms"] is not None),
            "the due debit marked done",
        )
        assert await debits_of(engine, conv_id) == [(rules.conversation_key(conv_id), -1)]
        row = await due_row(engine, conv_id, due.REPLY)
        assert row is not None and row["outcome"] == "charged"
        assert await balance(engine) == 2
    finally:
        await refuse_debits(engine, False)
        hub.stop()


async def test_per_block_billing_at_close_is_retried_until_charged(
    backend: Backend, engine: AsyncEngine
) -> None:
    settings = backend.settings(
        billing_mode="per_minutes", billing_block_minutes=30, **FAST_RETRIES
    )
    await add_agents(settings, ("ana@example.com", "agent", 5))
    server = LiveServer(settings).start()
    try:
        await ledger.grant(engine, BUYER, 3, key="test-grant", now_ms=now_ms())
        agent, _ = await agent_client(server)
        conv_id = await human_reply(server, agent)
        await refuse_debits(engine, True)
        await agent.send({"type": "close", "conversation_id": conv_id})
        await agent.recv_type("event", event="closed", timeout=10)
        # The close's debit fell due with the close, and its first attempt failed.
        await until(
            waiting_for(engine, conv_id, due.CLOSE, lambda r: r["last_error"] is not None),
            "a failed attempt at the close's debit",
        )
        assert await balance(engine) == 3
        await refuse_debits(engine, False)

        async def charged() -> bool:
            return await balance(engine) == 2

        await until(charged, "the block charged on a later attempt", timeout=30)
        await until(
            waiting_for(engine, conv_id, due.CLOSE, lambda r: r["outcome"] == "charged"),
            "the close's debit marked charged",
        )
        assert await debits_of(engine, conv_id) == [(rules.block_key(conv_id, 1), -1)]
        reply = await due_row(engine, conv_id, due.REPLY)
        assert reply is not None and reply["outcome"] == "not_billed"
    finally:
        await refuse_debits(engine, False)
        server.stop()


async def test_the_debit_falls_due_in_the_replys_own_transaction(
    backend: Backend, db_url: str, engine: AsyncEngine
) -> None:
    """No worker runs here at all: the store alone writes the due row with the reply."""
    await ledger.grant(engine, BUYER, 1, key="test-grant", now_ms=now_ms())
    store = Store(db_url)
    await store.start()
    try:
        visitor_id = "v-due"
        ts = now_ms()
        await store.save_visitor(
            Visitor(
                id=visitor_id,
                site="default",
                created_ms=ts,
                last_seen_ms=ts,
                customer_email=BUYER,
            )
        )
        agent = await store.add_agent("due@example.com", "Due", "x")
        conv, _ = await store.open_conversation(visitor_id, "default", None)
        await store.transition(conv.id, "active", "test", agent_id=agent.id, assigned_ms=ts)
        first = await store.append(
            Append(conv.id, "agent", "hello", author_id=str(agent.id), author_name="Due")
        )
        second = await store.append(
            Append(conv.id, "agent", "again", author_id=str(agent.id), author_name="Due")
        )
        assert first.first_human_reply and not second.first_human_reply
        rows = await due.debits(engine, conv.id)
        assert [(r["kind"], r["customer_email"], r["done_ms"]) for r in rows] == [
            (due.REPLY, BUYER, None)
        ]
    finally:
        await store.stop()


# ---------------------------------------------------------------------------- many processes


async def test_two_processes_claim_each_due_item_exactly_once(
    db_url: str, engine: AsyncEngine
) -> None:
    count = 60
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(due.billing_due),
            [
                {
                    "key": due.due_key(due.REPLY, f"c{i}"),
                    "kind": due.REPLY,
                    "conversation_id": f"c{i}",
                    "customer_email": BUYER,
                    "created_ms": 1,
                    "not_before_ms": 0,
                    "attempts": 0,
                }
                for i in range(count)
            ],
        )
    other = make_engine(db_url)  # a second hub process's pool

    async def claim(eng: AsyncEngine) -> list[int]:
        return [item.id for item in await due.claim_debits(eng, now_ms(), 60_000, limit=7)]

    # Round after round, both claim at once: each round races the two, and neither can
    # empty the table before the other has started (as two free-running loops could).
    first: list[int] = []
    second: list[int] = []
    try:
        while True:
            mine, theirs = await asyncio.gather(claim(engine), claim(other))
            first += mine
            second += theirs
            if not mine and not theirs:
                break
    finally:
        await other.dispose()
    assert sorted(first + second) == list(range(1, count + 1))  # all, and none twice
    assert first and second  # both took part
    # Claimed rows are leased: nobody takes them again before the lease ends...
    assert await due.claim_debits(engine, now_ms(), 60_000) == []
    # ...and after it, a process that died holding them is replaced.
    again = await due.claim_debits(engine, now_ms() + 61_000, 60_000, limit=count)
    assert len(again) == count and all(item.attempts == 2 for item in again)


class LedgerSettler:
    """What a hub's ``Credits`` does with a due debit, without the hub: the real ledger."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.settled: list[str] = []

    async def settle_debit(self, item: due.DueDebit) -> str:
        self.settled.append(item.conversation_id)
        result = await ledger.debit_for_conversation(
            self.engine, item.conversation_id, item.customer_email, now_ms()
        )
        return result.status.value

    async def open_support(self, item: due.DueSupport) -> None:
        raise AssertionError("no orders here")


async def test_two_workers_draining_at_once_charge_each_conversation_once(
    db_url: str, engine: AsyncEngine
) -> None:
    count = 120  # more than one claim takes, so both workers get some
    await ledger.grant(engine, BUYER, count + 5, key="test-grant", now_ms=now_ms())
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(due.billing_due),
            [
                {
                    "key": due.due_key(due.REPLY, f"c{i}"),
                    "kind": due.REPLY,
                    "conversation_id": f"c{i}",
                    "customer_email": BUYER,
                    "created_ms": 1,
                    "not_before_ms": 0,
                    "attempts": 0,
                }
                for i in range(count)
            ],
        )
    other = make_engine(db_url)
    settings = Settings(**FAST_RETRIES)
    settlers = [LedgerSettler(engine), LedgerSettler(other)]
    workers = [BillingWorker(s, s.engine, settings) for s in settlers]
    try:
        await asyncio.gather(*(w.drain() for w in workers))
    finally:
        await other.dispose()
    settled = settlers[0].settled + settlers[1].settled
    assert sorted(settled) == sorted(f"c{i}" for i in range(count))  # each once, by one worker
    assert settlers[0].settled and settlers[1].settled
    assert await balance(engine) == 5
    rows = await due.debits(engine)
    assert {r["outcome"] for r in rows} == {"charged"} and all(r["attempts"] == 1 for r in rows)


# ---------------------------------------------------------------------------- the outbox


async def test_a_paid_support_order_in_the_outbox_opens_its_conversation_once(
    backend: Backend, engine: AsyncEngine
) -> None:
    """As if the webhook committed the order and its process died before telling anyone."""
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(ledger.support_requests).values(
                key="wc:test:1234:support",
                customer_email=BUYER,
                order_number="1234",
                credits=5,
                note="Order #1234: 5 support sessions",
                created_ms=now_ms(),
            )
        )
    settings = backend.settings(**FAST_RETRIES)
    await add_agents(settings, ("ana@example.com", "agent", 5))
    server = LiveServer(settings).start()
    try:
        agent, _ = await agent_client(server)
        assigned = await agent.recv_type("assigned", timeout=30)
        conv_id = assigned["conversation"]["conversation_id"]
        await until(lambda: order_done(engine), "the order marked done")
    finally:
        server.stop()
    # As if the process died after opening the conversation but before marking the order
    # done, and its lease ran out: the next process does it again, and changes nothing.
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(ledger.support_requests).values(claimed_ms=None, not_before_ms=0)
        )
    server = LiveServer(settings).start()
    try:
        await until(lambda: order_done(engine), "the order marked done again")
    finally:
        server.stop()
    async with engine.connect() as conn:
        convs = (await conn.execute(sa.text("SELECT id FROM conversations"))).scalars().all()
        orders = (
            (
                await conn.execute(
                    sa.text("SELECT data FROM messages WHERE body = 'order' AND kind = 'event'")
                )
            )
            .scalars()
            .all()
        )
    assert list(convs) == [conv_id]
    assert len(orders) == 1 and "Order #1234" in orders[0]


async def order_done(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        claimed = (await conn.execute(sa.select(ledger.support_requests.c.claimed_ms))).scalar()
    return claimed is not None


async def test_a_customer_without_credits_is_told_once_however_often_the_debit_is_tried(
    backend: Backend, engine: AsyncEngine
) -> None:
    settings = backend.settings(shop_url="https://shop.example.com", **FAST_RETRIES)
    await add_agents(settings, ("ana@example.com", "agent", 5))
    server = LiveServer(settings).start()
    try:
        agent, _ = await agent_client(server)
        visitor = await verified_visitor(server)
        conv_id = str((await visitor.send_text("help, no credits"))["conversation_id"])
        await agent.recv_type("assigned", timeout=30)
        await agent.send_text("Hello", conversation_id=conv_id)
        told = await visitor.recv_type("event", event="no_credits", timeout=30)
        assert told["data"]["shop_url"] == "https://shop.example.com"
        await until(
            waiting_for(engine, conv_id, due.REPLY, lambda r: r["outcome"] == "insufficient"),
            "the debit refused for no credits",
        )
        # As if the process died after telling but before marking the debit done.
        async with engine.begin() as conn:
            await conn.execute(
                sa.update(due.billing_due).values(done_ms=None, outcome=None, not_before_ms=0)
            )
        await until(
            waiting_for(engine, conv_id, due.REPLY, lambda r: r["attempts"] == 2 and r["done_ms"]),
            "the debit tried again",
        )
        async with engine.connect() as conn:
            events = (
                await conn.execute(
                    sa.text("SELECT count(*) FROM messages WHERE body = 'no_credits'")
                )
            ).scalar_one()
        assert events == 1
        assert await debits_of(engine, conv_id) == []
    finally:
        server.stop()
