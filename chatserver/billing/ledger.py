"""The credits ledger over the app's AsyncEngine: every write that can move money is here.

Each write runs in one transaction that first takes the customer's lock, then sums, then
inserts, so a balance can never go below zero however many hub processes race:

* PostgreSQL: the customer's ``credit_customers`` row is locked with ``SELECT … FOR UPDATE``
  (created first with ``ON CONFLICT DO NOTHING``); WooCommerce orders are also serialised with
  a transaction-scoped advisory lock, taken before any customer lock (one order, no cycles).
* SQLite: ``BEGIN IMMEDIATE`` takes the database write lock before the first read. The
  connection is switched to driver-level autocommit so pysqlite does not issue its own
  deferred ``BEGIN``; we issue ``BEGIN IMMEDIATE``/``COMMIT``/``ROLLBACK`` ourselves.

Every entry's idempotency key is unique in the table and inserted with ``ON CONFLICT DO
NOTHING``, so even two writers that locked different customers cannot write one key twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatserver.billing import rules
from chatserver.billing.errors import (
    IdempotencyConflict,
    InsufficientCredit,
    InvalidAmount,
    InvalidEmail,
)
from chatserver.billing.models import (
    BillingFlag,
    CreditCustomer,
    CreditEntry,
    SupportRequest,
    WcOrder,
    WebhookDelivery,
)
from chatserver.billing.woocommerce import Order

customers: sa.Table = CreditCustomer.__table__  # type: ignore[attr-defined]
entries: sa.Table = CreditEntry.__table__  # type: ignore[attr-defined]
wc_orders: sa.Table = WcOrder.__table__  # type: ignore[attr-defined]
flags: sa.Table = BillingFlag.__table__  # type: ignore[attr-defined]
support_requests: sa.Table = SupportRequest.__table__  # type: ignore[attr-defined]
deliveries: sa.Table = WebhookDelivery.__table__  # type: ignore[attr-defined]

PublishBalance = Callable[[str, int], Awaitable[None]]


class DebitStatus(StrEnum):
    CHARGED = "charged"
    ALREADY_CHARGED = "already_charged"
    INSUFFICIENT = "insufficient"  # nothing written: the customer has no credit left
    NOT_DUE = "not_due"  # no human time, nothing to charge


@dataclass(frozen=True, slots=True)
class DebitResult:
    status: DebitStatus
    customer_email: str
    charged: int  # credits debited by this call
    balance: int  # after this call


@dataclass(frozen=True, slots=True)
class Balance:
    email: str
    balance: int
    granted: int  # order and admin grants
    used: int  # conversation debits
    reversed: int  # taken back on refunds and cancellations
    adjusted: int  # net of manual adjustments

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: int
    customer_email: str
    kind: str
    amount: int
    idempotency_key: str
    reason: str
    actor: str | None
    conversation_id: str | None
    wc_source: str | None
    wc_order_id: int | None
    wc_line_item_id: int | None
    created_ms: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


EXPORT_COLUMNS = tuple(LedgerEntry.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class EntryResult:
    entry: LedgerEntry
    created: bool  # False: the idempotency key had already been written
    balance: int


@dataclass(frozen=True, slots=True)
class SupportRequestInfo:
    id: int
    customer_email: str
    order_number: str
    credits: int
    note: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    outcome: str  # applied, unchanged, stale, flagged, refused (amounts out of bounds)
    customer_email: str | None = None
    granted: int = 0
    reversed: int = 0
    balance: int | None = None
    support_request: SupportRequestInfo | None = None
    flags: tuple[str, ...] = field(default=())

    @property
    def moved(self) -> bool:
        return bool(self.granted or self.reversed)


# --- transactions and locks ----------------------------------------------------------------


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that holds the write lock from its start on SQLite."""
    async with engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            async with conn.begin():
                yield conn
            return
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            # If this fails too the pool's reset-on-return still rolls back.
            await conn.exec_driver_sql("ROLLBACK")
            raise
        await conn.exec_driver_sql("COMMIT")


def _insert(conn: AsyncConnection, table: sa.Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


async def lock_customer(conn: AsyncConnection, email: str, now_ms: int) -> None:
    await conn.execute(
        _insert(conn, customers)
        .values(email=email, created_ms=now_ms)
        .on_conflict_do_nothing(index_elements=["email"])
    )
    if conn.dialect.name == "postgresql":
        await conn.execute(
            sa.select(customers.c.email).where(customers.c.email == email).with_for_update()
        )


async def _lock_order(conn: AsyncConnection, source: str, order_id: int) -> None:
    if conn.dialect.name == "postgresql":
        digest = hashlib.sha256(f"wc-order:{source}:{order_id}".encode()).digest()
        await conn.execute(
            sa.select(sa.func.pg_advisory_xact_lock(int.from_bytes(digest[:8], "big", signed=True)))
        )


async def _sums(conn: AsyncConnection, email: str) -> dict[str, int]:
    rows = await conn.execute(
        sa.select(entries.c.kind, sa.func.coalesce(sa.func.sum(entries.c.amount), 0))
        .where(entries.c.customer_email == email)
        .group_by(entries.c.kind)
    )
    return {kind: int(total) for kind, total in rows}


def _balance(email: str, sums: dict[str, int]) -> Balance:
    return Balance(
        email=email,
        balance=sum(sums.values()),
        granted=sums.get("grant", 0),
        used=-sums.get("debit", 0),
        reversed=-sums.get("reversal", 0),
        adjusted=sums.get("adjust", 0),
    )


async def _current(conn: AsyncConnection, email: str) -> int:
    return sum((await _sums(conn, email)).values())


async def _insert_entry(conn: AsyncConnection, **values: Any) -> int | None:
    """The new entry's id, or None when its idempotency key was already written."""
    result = await conn.execute(
        _insert(conn, entries)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(entries.c.id)
    )
    return result.scalar_one_or_none()


def _entry(row: sa.Row[Any]) -> LedgerEntry:
    return LedgerEntry(**{name: getattr(row, name) for name in EXPORT_COLUMNS})


async def _entry_by_key(conn: AsyncConnection, key: str) -> LedgerEntry | None:
    row = (await conn.execute(sa.select(entries).where(entries.c.idempotency_key == key))).first()
    return _entry(row) if row is not None else None


# --- reads ---------------------------------------------------------------------------------


async def get_balance(engine: AsyncEngine, customer_email: str) -> Balance:
    email = rules.normalise_email(customer_email)
    async with engine.connect() as conn:
        return _balance(email, await _sums(conn, email))


async def history(
    engine: AsyncEngine, customer_email: str, limit: int | None = None
) -> list[LedgerEntry]:
    """Newest first."""
    email = rules.normalise_email(customer_email)
    query = (
        sa.select(entries)
        .where(entries.c.customer_email == email)
        .order_by(entries.c.id.desc())
        .limit(limit)
    )
    async with engine.connect() as conn:
        return [_entry(row) for row in await conn.execute(query)]


async def export_entries(engine: AsyncEngine) -> AsyncIterator[LedgerEntry]:
    """The whole ledger in insertion order, streamed."""
    async with engine.connect() as conn:
        result = await conn.stream(sa.select(entries).order_by(entries.c.id))
        async for row in result:
            yield _entry(row)


# --- admin writes --------------------------------------------------------------------------


async def grant(
    engine: AsyncEngine,
    customer_email: str,
    amount: int,
    *,
    key: str,
    reason: str = "",
    actor: str | None = None,
    now_ms: int,
) -> EntryResult:
    if amount <= 0:
        raise InvalidAmount("a grant must be a positive number of credits")
    return await _admin_entry(engine, "grant", customer_email, amount, key, reason, actor, now_ms)


async def adjust(
    engine: AsyncEngine,
    customer_email: str,
    amount: int,
    *,
    key: str,
    reason: str = "",
    actor: str | None = None,
    now_ms: int,
) -> EntryResult:
    """A manual correction either way; one that would leave the balance negative is refused."""
    if amount == 0:
        raise InvalidAmount("an adjustment of zero credits")
    return await _admin_entry(engine, "adjust", customer_email, amount, key, reason, actor, now_ms)


async def _admin_entry(
    engine: AsyncEngine,
    kind: str,
    customer_email: str,
    amount: int,
    key: str,
    reason: str,
    actor: str | None,
    now_ms: int,
) -> EntryResult:
    email = rules.normalise_email(customer_email)
    async with write_transaction(engine) as conn:
        await lock_customer(conn, email, now_ms)
        existing = await _entry_by_key(conn, key)
        if existing is not None:
            if (existing.customer_email, existing.kind, existing.amount) != (email, kind, amount):
                raise IdempotencyConflict(f"{key!r} was already used for a different entry")
            return EntryResult(existing, created=False, balance=await _current(conn, email))
        balance = await _current(conn, email)
        rules.check_amount(amount, balance)
        if balance + amount < 0:
            raise InsufficientCredit(f"balance {balance} cannot take {amount}")
        values = dict(
            customer_email=email,
            kind=kind,
            amount=amount,
            idempotency_key=key,
            reason=reason[:500],
            actor=actor,
            created_ms=now_ms,
        )
        entry_id = await _insert_entry(conn, **values)
        if entry_id is None:  # pragma: no cover - the key was checked under the lock
            raise IdempotencyConflict(f"{key!r} was written concurrently")
        entry = await _entry_by_key(conn, key)
        assert entry is not None
        return EntryResult(entry, created=True, balance=balance + amount)


# --- conversation debits -------------------------------------------------------------------


async def debit_for_conversation(
    engine: AsyncEngine, conversation_id: str, customer_email: str, now_ms: int
) -> DebitResult:
    """Charge one credit for a conversation, at most once ever (key ``conv:{id}``).

    The hub calls it when a human agent first replies, in per-conversation mode. Any number of
    processes may call it at once for the same conversation: one charges, the others see
    ``ALREADY_CHARGED``. ``INSUFFICIENT`` writes nothing; the hub applies the no-credit policy.
    """
    email = rules.normalise_email(customer_email)
    key = rules.conversation_key(conversation_id)
    async with write_transaction(engine) as conn:
        await lock_customer(conn, email, now_ms)
        balance = await _current(conn, email)
        if await _entry_by_key(conn, key) is not None:
            return DebitResult(DebitStatus.ALREADY_CHARGED, email, 0, balance)
        if balance < 1:
            return DebitResult(DebitStatus.INSUFFICIENT, email, 0, balance)
        written = await _insert_entry(
            conn,
            customer_email=email,
            kind="debit",
            amount=-1,
            idempotency_key=key,
            reason="conversation",
            conversation_id=conversation_id,
            created_ms=now_ms,
        )
        if written is None:  # another customer's lock raced us to this conversation
            return DebitResult(DebitStatus.ALREADY_CHARGED, email, 0, balance)
        return DebitResult(DebitStatus.CHARGED, email, 1, balance - 1)


async def debit_for_human_time(
    engine: AsyncEngine,
    conversation_id: str,
    customer_email: str,
    human_ms: int,
    block_minutes: int,
    now_ms: int,
) -> DebitResult:
    """Charge one credit per started ``block_minutes`` of human time (per-minutes mode).

    Keys ``conv:{id}:block:{k}``: the hub may call it at close, or repeatedly while the chat
    goes on; each block is charged once. Blocks the balance cannot cover are not written
    (``INSUFFICIENT`` when none could be charged).
    """
    email = rules.normalise_email(customer_email)
    blocks = rules.blocks_for_human_time(human_ms, block_minutes)
    async with write_transaction(engine) as conn:
        await lock_customer(conn, email, now_ms)
        balance = await _current(conn, email)
        if blocks == 0:
            return DebitResult(DebitStatus.NOT_DUE, email, 0, balance)
        keys = [rules.block_key(conversation_id, k) for k in range(1, blocks + 1)]
        done = set(
            (
                await conn.execute(
                    sa.select(entries.c.idempotency_key).where(entries.c.idempotency_key.in_(keys))
                )
            ).scalars()
        )
        missing = [key for key in keys if key not in done]
        if not missing:
            return DebitResult(DebitStatus.ALREADY_CHARGED, email, 0, balance)
        charged = 0
        for key in missing:
            if balance < 1:
                break
            written = await _insert_entry(
                conn,
                customer_email=email,
                kind="debit",
                amount=-1,
                idempotency_key=key,
                reason=f"human time, {block_minutes}-minute block",
                conversation_id=conversation_id,
                created_ms=now_ms,
            )
            if written is not None:
                charged += 1
                balance -= 1
        if charged:
            return DebitResult(DebitStatus.CHARGED, email, charged, balance)
        if balance < 1:
            return DebitResult(DebitStatus.INSUFFICIENT, email, 0, balance)
        return DebitResult(DebitStatus.ALREADY_CHARGED, email, 0, balance)


# --- WooCommerce orders --------------------------------------------------------------------


async def apply_order(
    engine: AsyncEngine, source: str, order: Order, packs: dict[str, int], now_ms: int
) -> OrderOutcome:
    """Bring the ledger in line with one order delivery; see ``rules.plan_order``."""
    async with write_transaction(engine) as conn:
        await _lock_order(conn, source, order.id)
        stored = await _stored_order(conn, source, order.id)
        if rules.is_stale(order, stored):
            return OrderOutcome("stale", stored.customer_email if stored else None)
        payload_email = _email_or_none(order.email)
        raised: list[str] = []
        if stored is not None:
            email: str | None = stored.customer_email
            if payload_email is not None and payload_email != email:
                # Credits stay with whom they were granted to; a human decides a move.
                raised += await _flag(
                    conn, source, order.id, "email_changed", email, payload_email, now_ms
                )
        else:
            email = payload_email
        if email is None:
            plan = rules.plan_order(order, packs, {}, 0, None)
            if plan.changes:
                raised += await _flag(conn, source, order.id, "no_email", None, "", now_ms)
                return OrderOutcome("flagged", None, flags=tuple(raised))
            return OrderOutcome("unchanged", None)

        await lock_customer(conn, email, now_ms)
        granted = await _granted_per_line(conn, source, order.id)
        balance = await _current(conn, email)
        plan = rules.plan_order(order, packs, granted, balance, stored)
        out_of_range = rules.plan_out_of_range(plan, balance)
        if out_of_range is not None:
            # Nothing moves and nothing is remembered of the order: a corrected delivery
            # applies as if this one never came. A human hears of it.
            raised += await _flag(
                conn, source, order.id, "amount_out_of_range", email, out_of_range, now_ms
            )
            return OrderOutcome("refused", email, balance=balance, flags=tuple(raised))
        steps = await _steps_per_line(conn, source, order.id)
        granted_now = reversed_now = 0
        for change in plan.changes:
            steps[change.line_item_id] = steps.get(change.line_item_id, 0) + 1
            written = await _insert_entry(
                conn,
                customer_email=email,
                kind="grant" if change.amount > 0 else "reversal",
                amount=change.amount,
                idempotency_key=rules.order_line_key(
                    source, order.id, change.line_item_id, steps[change.line_item_id]
                ),
                reason=f"Order #{order.number}: {order.status}",
                wc_source=source,
                wc_order_id=order.id,
                wc_line_item_id=change.line_item_id,
                created_ms=now_ms,
            )
            if written is None:  # pragma: no cover - serialised by the order lock
                raise IdempotencyConflict("order line step written concurrently")
            if change.amount > 0:
                granted_now += change.amount
            else:
                reversed_now -= change.amount

        await _save_order(conn, source, order, email, plan.written_off, stored, now_ms)
        if plan.partial_refund:
            refund_ids = ",".join(str(r.id) for r in sorted(order.refunds, key=lambda r: r.id))
            detail = "; ".join(f"refund {r.id}: {r.total}" for r in order.refunds)
            raised += await _flag(
                conn, source, order.id, "partial_refund", email, detail, now_ms, refund_ids
            )
        if plan.shortfall:
            raised += await _flag(
                conn,
                source,
                order.id,
                "refund_of_used_credits",
                email,
                f"{plan.shortfall} credits of order #{order.number} were already used",
                now_ms,
                str(plan.written_off),
            )
        support = None
        if plan.first_grant:
            support = await _open_support_request(conn, source, order, email, plan, now_ms)
        moved = granted_now or reversed_now
        return OrderOutcome(
            outcome="applied" if moved else ("flagged" if raised else "unchanged"),
            customer_email=email,
            granted=granted_now,
            reversed=reversed_now,
            balance=balance + granted_now - reversed_now,
            support_request=support,
            flags=tuple(raised),
        )


async def flag_deleted_order(
    engine: AsyncEngine, source: str, order_id: int, now_ms: int
) -> OrderOutcome:
    """A trashed or deleted order says nothing about money: an admin decides."""
    async with write_transaction(engine) as conn:
        await _lock_order(conn, source, order_id)
        stored = await _stored_order(conn, source, order_id)
        email = stored.customer_email if stored else None
        raised = await _flag(conn, source, order_id, "order_deleted", email, "", now_ms)
        return OrderOutcome("flagged" if raised else "unchanged", email, flags=tuple(raised))


def _email_or_none(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return rules.normalise_email(raw)
    except InvalidEmail:
        return None


async def _stored_order(
    conn: AsyncConnection, source: str, order_id: int
) -> rules.StoredOrder | None:
    row = (
        await conn.execute(
            sa.select(wc_orders).where(
                wc_orders.c.source == source, wc_orders.c.order_id == order_id
            )
        )
    ).first()
    if row is None:
        return None
    return rules.StoredOrder(row.status, row.modified_ms, row.customer_email, row.written_off)


def _order_lines(source: str, order_id: int) -> Any:
    return (entries.c.wc_source == source) & (entries.c.wc_order_id == order_id)


async def _granted_per_line(conn: AsyncConnection, source: str, order_id: int) -> dict[int, int]:
    rows = await conn.execute(
        sa.select(entries.c.wc_line_item_id, sa.func.sum(entries.c.amount))
        .where(_order_lines(source, order_id))
        .group_by(entries.c.wc_line_item_id)
    )
    return {int(line): int(total) for line, total in rows}


async def _steps_per_line(conn: AsyncConnection, source: str, order_id: int) -> dict[int, int]:
    rows = await conn.execute(
        sa.select(entries.c.wc_line_item_id, sa.func.count())
        .where(_order_lines(source, order_id))
        .group_by(entries.c.wc_line_item_id)
    )
    return {int(line): int(count) for line, count in rows}


async def _save_order(
    conn: AsyncConnection,
    source: str,
    order: Order,
    email: str,
    written_off: int,
    stored: rules.StoredOrder | None,
    now_ms: int,
) -> None:
    values = dict(
        number=order.number,
        status=order.status,
        modified_ms=max(order.modified_ms, stored.modified_ms if stored else 0),
        written_off=written_off,
        updated_ms=now_ms,
    )
    if stored is None:
        await conn.execute(
            sa.insert(wc_orders).values(
                source=source, order_id=order.id, customer_email=email, **values
            )
        )
    else:
        await conn.execute(
            sa.update(wc_orders)
            .where(wc_orders.c.source == source, wc_orders.c.order_id == order.id)
            .values(**values)
        )


async def _flag(
    conn: AsyncConnection,
    source: str,
    order_id: int,
    kind: str,
    email: str | None,
    detail: str,
    now_ms: int,
    distinct: str | None = None,
) -> list[str]:
    """Raise a flag once per (order, kind, ``distinct``); returns ``[kind]`` if it is new."""
    key = rules.order_flag_key(source, order_id, kind, detail if distinct is None else distinct)
    result = await conn.execute(
        _insert(conn, flags)
        .values(
            key=key,
            kind=kind,
            customer_email=email,
            wc_source=source,
            wc_order_id=order_id,
            detail=detail,
            created_ms=now_ms,
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(flags.c.id)
    )
    return [kind] if result.scalar_one_or_none() is not None else []


async def _open_support_request(
    conn: AsyncConnection,
    source: str,
    order: Order,
    email: str,
    plan: rules.OrderPlan,
    now_ms: int,
) -> SupportRequestInfo | None:
    sessions = "support session" if plan.first_grant == 1 else "support sessions"
    note = f"Order #{order.number}: {plan.first_grant} {sessions}"
    result = await conn.execute(
        _insert(conn, support_requests)
        .values(
            key=rules.support_request_key(source, order.id),
            customer_email=email,
            order_number=order.number,
            credits=plan.first_grant,
            note=note,
            created_ms=now_ms,
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(support_requests.c.id)
    )
    request_id = result.scalar_one_or_none()
    if request_id is None:
        return None
    return SupportRequestInfo(request_id, email, order.number, plan.first_grant, note, now_ms)


# --- the support-request outbox the hub polls -----------------------------------------------


async def pending_support_requests(
    engine: AsyncEngine, limit: int = 100
) -> list[SupportRequestInfo]:
    """Unclaimed support requests, oldest first."""
    query = (
        sa.select(support_requests)
        .where(support_requests.c.claimed_ms.is_(None))
        .order_by(support_requests.c.id)
        .limit(limit)
    )
    async with engine.connect() as conn:
        return [
            SupportRequestInfo(
                r.id, r.customer_email, r.order_number, r.credits, r.note, r.created_ms
            )
            for r in await conn.execute(query)
        ]


async def claim_support_request(engine: AsyncEngine, request_id: int, now_ms: int) -> bool:
    """True for exactly one caller: the hub process that should open the conversation."""
    async with engine.begin() as conn:
        result = await conn.execute(
            sa.update(support_requests)
            .where(support_requests.c.id == request_id, support_requests.c.claimed_ms.is_(None))
            .values(claimed_ms=now_ms)
        )
        return result.rowcount == 1


async def open_flags(engine: AsyncEngine) -> list[dict[str, Any]]:
    query = sa.select(flags).where(flags.c.resolved_ms.is_(None)).order_by(flags.c.id)
    async with engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(query)]


# --- webhook deliveries --------------------------------------------------------------------


async def record_delivery(
    engine: AsyncEngine,
    *,
    body: bytes,
    headers: dict[str, str | None],
    received_ms: int,
) -> int:
    async with engine.begin() as conn:
        result = await conn.execute(
            sa.insert(deliveries)
            .values(
                received_ms=received_ms,
                source=_clip(headers.get("source"), 500),
                topic=_clip(headers.get("topic"), 64),
                delivery_id=_clip(headers.get("delivery_id"), 64),
                webhook_id=_clip(headers.get("webhook_id"), 64),
                body=body,
                outcome="received",
            )
            .returning(deliveries.c.id)
        )
        return int(result.scalar_one())


async def finish_delivery(
    engine: AsyncEngine, delivery_id: int, outcome: str, detail: str, now_ms: int
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(deliveries)
            .where(deliveries.c.id == delivery_id)
            .values(outcome=outcome[:32], detail=detail, processed_ms=now_ms)
        )


async def delivery_outcomes(engine: AsyncEngine) -> Sequence[tuple[int, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(deliveries.c.id, deliveries.c.outcome).order_by(deliveries.c.id)
        )
        return [(int(i), str(o)) for i, o in rows]


def _clip(value: str | None, size: int) -> str | None:
    return value[:size] if value is not None else None
