"""The ledger against real SQLite and real PostgreSQL, with two engines standing for two hub
processes racing on the same customer."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.backends.db import MIGRATIONS_DIR, make_engine, upgrade
from chatserver.backends.models import metadata
from chatserver.billing import ledger, woocommerce
from chatserver.billing.errors import IdempotencyConflict, InsufficientCredit
from chatserver.billing.ledger import DebitStatus

DATA = Path(__file__).parents[1] / "data" / "woocommerce"
BILLING_TABLES = frozenset(
    {
        "credit_customers",
        "credit_entries",
        "wc_orders",
        "billing_flags",
        "support_requests",
        "webhook_deliveries",
        "billing_due",
    }
)
NOW = 1_714_644_000_000
SHOP = "https://shop.example.com"
EMAIL = "ada.lovelace@example.com"


def _chain_is_complete() -> bool:
    texts = [p.read_text() for p in (MIGRATIONS_DIR / "versions").glob("*.py")]
    return all(any(f'revision = "{rev}"' in t for t in texts) for rev in ("0001_hub", "0002_kb"))


def _billing_migration():  # type: ignore[no-untyped-def]
    path = MIGRATIONS_DIR / "versions" / "0003_billing.py"
    spec = importlib.util.spec_from_file_location("migration_0003_billing", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def build_schema(url: str) -> None:
    """The schema from the migrations: the whole chain once it exists, else 0003 alone."""
    if _chain_is_complete():
        await asyncio.to_thread(upgrade, url)
        return
    # Until 0002_kb lands, run our migration's own upgrade() on an empty database.
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    migration = _billing_migration()

    def run(sync_conn: sa.Connection) -> None:
        with Operations.context(MigrationContext.configure(sync_conn)):
            migration.upgrade()

    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run)
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    # Sync on purpose: the postgres_url fixture runs its own event loop to create the database.
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'billing.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def db_url(any_db: str) -> str:
    await build_schema(any_db)
    return any_db


@pytest.fixture
async def nodes(db_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two engines on one database: two hub processes, each with its own pool."""
    first, second = make_engine(db_url), make_engine(db_url)
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


async def _count_entries(engine: AsyncEngine, kind: str) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(sa.select(sa.func.count()).where(ledger.entries.c.kind == kind))
            ).scalar_one()
        )


async def test_migration_matches_the_models(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def diff(sync_conn: sa.Connection) -> list[object]:
        context = MigrationContext.configure(
            sync_conn,
            opts={
                "compare_type": True,
                "include_object": lambda obj, name, type_, reflected, other: (
                    (name if type_ == "table" else obj.table.name) in BILLING_TABLES
                ),
            },
        )
        return list(compare_metadata(context, metadata))

    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_concurrent_debits_from_two_nodes_never_overdraw(
    nodes: tuple[AsyncEngine, AsyncEngine],
) -> None:
    first, second = nodes
    await ledger.grant(first, EMAIL, 5, key="admin:seed", now_ms=NOW)
    go = asyncio.Event()

    async def debit(i: int) -> DebitStatus:
        await go.wait()
        engine = first if i % 2 else second
        result = await ledger.debit_for_conversation(engine, f"c{i}", EMAIL, NOW + i)
        assert result.balance >= 0
        return result.status

    tasks = [asyncio.create_task(debit(i)) for i in range(24)]
    go.set()
    statuses = Counter(await asyncio.wait_for(asyncio.gather(*tasks), 60))

    assert statuses == {DebitStatus.CHARGED: 5, DebitStatus.INSUFFICIENT: 19}
    assert (await ledger.get_balance(second, EMAIL)).balance == 0
    assert await _count_entries(first, "debit") == 5


async def test_two_nodes_replying_and_closing_at_once_debit_once(
    nodes: tuple[AsyncEngine, AsyncEngine],
) -> None:
    first, second = nodes
    await ledger.grant(first, EMAIL, 3, key="admin:seed", now_ms=NOW)
    go = asyncio.Event()

    async def debit(i: int) -> DebitStatus:
        await go.wait()
        result = await ledger.debit_for_conversation(
            first if i % 2 else second, "conv-1", EMAIL, NOW + i
        )
        return result.status

    tasks = [asyncio.create_task(debit(i)) for i in range(10)]
    go.set()
    statuses = Counter(await asyncio.wait_for(asyncio.gather(*tasks), 60))

    assert statuses == {DebitStatus.CHARGED: 1, DebitStatus.ALREADY_CHARGED: 9}
    balance = await ledger.get_balance(first, EMAIL)
    assert (balance.balance, balance.used, balance.granted) == (2, 1, 3)


async def test_a_conversation_is_charged_once_even_for_another_email(
    nodes: tuple[AsyncEngine, AsyncEngine],
) -> None:
    first, _ = nodes
    await ledger.grant(first, EMAIL, 2, key="admin:a", now_ms=NOW)
    await ledger.grant(first, "grace@example.org", 2, key="admin:g", now_ms=NOW)
    charged = await ledger.debit_for_conversation(first, "conv-9", EMAIL, NOW)
    other = await ledger.debit_for_conversation(first, "conv-9", "grace@example.org", NOW)
    assert (charged.status, other.status) == (DebitStatus.CHARGED, DebitStatus.ALREADY_CHARGED)
    assert (await ledger.get_balance(first, "grace@example.org")).balance == 2


async def test_no_credit_means_no_entry(nodes: tuple[AsyncEngine, AsyncEngine]) -> None:
    first, _ = nodes
    result = await ledger.debit_for_conversation(first, "conv-1", "Nobody@Example.com", NOW)
    assert (result.status, result.balance, result.customer_email) == (
        DebitStatus.INSUFFICIENT,
        0,
        "nobody@example.com",
    )
    assert await _count_entries(first, "debit") == 0


async def test_per_started_block_of_human_time(nodes: tuple[AsyncEngine, AsyncEngine]) -> None:
    first, second = nodes
    await ledger.grant(first, EMAIL, 2, key="admin:seed", now_ms=NOW)
    minutes = 60_000

    none = await ledger.debit_for_human_time(first, "c1", EMAIL, 0, 30, NOW)
    assert none.status == DebitStatus.NOT_DUE
    # 61 minutes in 30-minute blocks: 3 started blocks, only 2 credits.
    part = await ledger.debit_for_human_time(first, "c1", EMAIL, 61 * minutes, 30, NOW)
    assert (part.status, part.charged, part.balance) == (DebitStatus.CHARGED, 2, 0)
    broke = await ledger.debit_for_human_time(second, "c1", EMAIL, 61 * minutes, 30, NOW)
    assert broke.status == DebitStatus.INSUFFICIENT
    await ledger.grant(first, EMAIL, 5, key="admin:more", now_ms=NOW)
    rest = await ledger.debit_for_human_time(second, "c1", EMAIL, 61 * minutes, 30, NOW)
    assert (rest.status, rest.charged, rest.balance) == (DebitStatus.CHARGED, 1, 4)
    again = await ledger.debit_for_human_time(first, "c1", EMAIL, 61 * minutes, 30, NOW)
    assert (again.status, again.charged) == (DebitStatus.ALREADY_CHARGED, 0)


async def test_concurrent_block_debits_charge_each_block_once(
    nodes: tuple[AsyncEngine, AsyncEngine],
) -> None:
    first, second = nodes
    await ledger.grant(first, EMAIL, 10, key="admin:seed", now_ms=NOW)
    results = await asyncio.wait_for(
        asyncio.gather(
            *(
                ledger.debit_for_human_time(
                    first if i % 2 else second, "c1", EMAIL, 95 * 60_000, 30, NOW
                )
                for i in range(8)
            )
        ),
        60,
    )
    assert sum(r.charged for r in results) == 4
    assert (await ledger.get_balance(first, EMAIL)).balance == 6


async def test_admin_entries_are_idempotent_by_action_id(
    nodes: tuple[AsyncEngine, AsyncEngine],
) -> None:
    first, second = nodes
    made = await ledger.grant(first, " Ada.Lovelace@example.com", 4, key="admin:x1", now_ms=NOW)
    again = await ledger.grant(second, EMAIL, 4, key="admin:x1", now_ms=NOW)
    assert (made.created, again.created, again.balance) == (True, False, 4)
    assert again.entry.id == made.entry.id
    with pytest.raises(IdempotencyConflict):
        await ledger.grant(first, EMAIL, 5, key="admin:x1", now_ms=NOW)
    with pytest.raises(InsufficientCredit):
        await ledger.adjust(first, EMAIL, -5, key="admin:x2", now_ms=NOW)
    taken = await ledger.adjust(first, EMAIL, -4, key="admin:x3", reason="typo", now_ms=NOW)
    assert taken.balance == 0
    balance = await ledger.get_balance(first, EMAIL)
    assert (balance.balance, balance.granted, balance.adjusted) == (0, 4, -4)
    assert [e.idempotency_key for e in await ledger.history(first, EMAIL)] == [
        "admin:x3",
        "admin:x1",
    ]


async def test_concurrent_negative_adjustments_never_overdraw(
    nodes: tuple[AsyncEngine, AsyncEngine],
) -> None:
    first, second = nodes
    await ledger.grant(first, EMAIL, 3, key="admin:seed", now_ms=NOW)

    async def take(i: int) -> bool:
        try:
            await ledger.adjust(
                first if i % 2 else second, EMAIL, -1, key=f"admin:take-{i}", now_ms=NOW
            )
        except InsufficientCredit:
            return False
        return True

    outcomes = await asyncio.wait_for(asyncio.gather(*(take(i) for i in range(8))), 60)
    assert sum(outcomes) == 3
    assert (await ledger.get_balance(second, EMAIL)).balance == 0


async def test_concurrent_order_deliveries_and_debits_converge(
    nodes: tuple[AsyncEngine, AsyncEngine],
) -> None:
    first, second = nodes
    packs = woocommerce.parse_packs((DATA / "packs.json").read_bytes())
    order = woocommerce.parse_order((DATA / "order_1234_processing.json").read_bytes())

    jobs = [ledger.apply_order(e, SHOP, order, packs, NOW) for e in (first, second) * 4]
    jobs += [ledger.debit_for_conversation(e, f"c{i}", EMAIL, NOW) for i, e in enumerate(nodes)]
    await asyncio.wait_for(asyncio.gather(*jobs), 60)

    balance = await ledger.get_balance(first, EMAIL)
    assert balance.granted == 12  # 2 × SUPPORT-5 (5 each) + product 77 (2); the mug is free
    assert balance.balance == 12 - balance.used
    assert balance.used <= 2
    assert len(await ledger.pending_support_requests(first)) == 1


async def test_amounts_past_the_bounds_are_refused_and_move_nothing(db_url: str) -> None:
    """Two grants near 2^62 once overflowed SUM (SQLite) or the column (PostgreSQL) and
    left the customer unreadable: both are refused, and the balance stays readable."""
    from chatserver.billing import rules
    from chatserver.billing.errors import AmountOutOfRange

    engine = make_engine(db_url)
    try:
        for i in range(2):
            with pytest.raises(AmountOutOfRange):
                await ledger.grant(engine, EMAIL, 2**62 + i, key=f"huge-{i}", now_ms=NOW)
        with pytest.raises(AmountOutOfRange):
            await ledger.adjust(engine, EMAIL, -(2**62), key="huge-adjust", now_ms=NOW)
        assert (await ledger.get_balance(engine, EMAIL)).balance == 0
        # The largest entry is taken up to the balance bound (all but the last written in
        # one statement, for speed), and not one credit more.
        top = rules.MAX_ENTRY_CREDITS
        await ledger.grant(engine, EMAIL, top, key="top-0", now_ms=NOW)
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(ledger.entries),
                [
                    dict(
                        customer_email=EMAIL,
                        kind="grant",
                        amount=top,
                        idempotency_key=f"top-{i}",
                        reason="",
                        created_ms=NOW,
                    )
                    for i in range(1, rules.MAX_BALANCE // top - 1)
                ],
            )
        await ledger.grant(engine, EMAIL, top, key="top-last", now_ms=NOW)
        with pytest.raises(AmountOutOfRange):
            await ledger.grant(engine, EMAIL, 1, key="one-too-many", now_ms=NOW)
        assert (await ledger.get_balance(engine, EMAIL)).balance == rules.MAX_BALANCE
        assert await _count_entries(engine, "grant") == rules.MAX_BALANCE // top
    finally:
        await engine.dispose()


async def test_an_order_line_worth_too_many_credits_is_refused_and_flagged(db_url: str) -> None:
    order = woocommerce.parse_order((DATA / "order_1234_processing.json").read_bytes())
    huge = dataclasses.replace(
        order,
        line_items=tuple(
            dataclasses.replace(item, quantity=10**12) if item.sku == "SUPPORT-5" else item
            for item in order.line_items
        ),
    )
    engine = make_engine(db_url)
    try:
        outcome = await ledger.apply_order(engine, SHOP, huge, {"SUPPORT-5": 5}, NOW)
        assert (outcome.outcome, outcome.moved, outcome.flags) == (
            "refused",
            False,
            ("amount_out_of_range",),
        )
        assert await _count_entries(engine, "grant") == 0
        assert await ledger.pending_support_requests(engine) == []
        # Nothing was remembered of it: the corrected order applies in full.
        fixed = await ledger.apply_order(engine, SHOP, order, {"SUPPORT-5": 5}, NOW + 1)
        assert (fixed.outcome, fixed.granted) == ("applied", 10)
    finally:
        await engine.dispose()
