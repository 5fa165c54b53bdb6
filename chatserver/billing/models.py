"""Billing tables. Importing this module registers them on the shared SQLModel metadata."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class CreditCustomer(SQLModel, table=True):
    """One row per paying customer: the row every ledger write for them locks first."""

    __tablename__ = "credit_customers"

    # Normalised (stripped, casefolded) e-mail: see rules.normalise_email.
    email: str = Field(primary_key=True, max_length=320)
    created_ms: int = Field(sa_type=sa.BigInteger)


class CreditEntry(SQLModel, table=True):
    """The ledger. Rows are only ever inserted; a balance is the sum of ``amount``."""

    __tablename__ = "credit_entries"

    id: int | None = Field(default=None, primary_key=True)
    customer_email: str = Field(foreign_key="credit_customers.email", index=True, max_length=320)
    kind: str = Field(max_length=16)  # grant, debit, reversal, adjust
    # Signed: grants positive, debits and reversals negative. 64-bit, and bounded by
    # rules.MAX_ENTRY_CREDITS, so that no SUM over a customer can overflow.
    amount: int = Field(sa_type=sa.BigInteger)
    # Unique: the same order line step, conversation or admin action can never be written twice.
    idempotency_key: str = Field(max_length=255, sa_column_kwargs={"unique": True})
    reason: str = Field(default="", max_length=500)
    actor: str | None = Field(default=None, max_length=320)
    conversation_id: str | None = Field(default=None, max_length=32, index=True)
    wc_source: str | None = Field(default=None, max_length=500)
    wc_order_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    wc_line_item_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    created_ms: int = Field(sa_type=sa.BigInteger)


class WcOrder(SQLModel, table=True):
    """What we last applied for one WooCommerce order, to drop stale deliveries."""

    __tablename__ = "wc_orders"

    source: str = Field(primary_key=True, max_length=500)
    order_id: int = Field(primary_key=True, sa_type=sa.BigInteger)
    number: str = Field(max_length=64)
    # The customer the order's credits went to; a later change of billing e-mail is flagged.
    customer_email: str = Field(max_length=320, index=True)
    status: str = Field(max_length=32)
    modified_ms: int = Field(sa_type=sa.BigInteger)
    # Credits of a refunded order that were already spent and so could not be reversed; kept
    # so that replays do not claw them back later from credits bought since.
    written_off: int = Field(default=0, sa_type=sa.BigInteger)
    updated_ms: int = Field(sa_type=sa.BigInteger)


class BillingFlag(SQLModel, table=True):
    """Something a human must decide (a partial refund, a refund of used credits, ...)."""

    __tablename__ = "billing_flags"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255, sa_column_kwargs={"unique": True})
    kind: str = Field(max_length=32)
    customer_email: str | None = Field(default=None, max_length=320, index=True)
    wc_source: str | None = Field(default=None, max_length=500)
    wc_order_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    detail: str = Field(default="", sa_type=sa.Text)
    created_ms: int = Field(sa_type=sa.BigInteger)
    resolved_ms: int | None = Field(default=None, sa_type=sa.BigInteger)


class SupportRequest(SQLModel, table=True):
    """Outbox: a paid-support order the hub should open a pending conversation for.

    Written with the order's grant; the hub's billing worker opens the conversation
    (``chatserver.billing.due``)."""

    __tablename__ = "support_requests"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255, sa_column_kwargs={"unique": True})
    customer_email: str = Field(max_length=320, index=True)
    order_number: str = Field(max_length=64)
    credits: int = Field(sa_type=sa.BigInteger)
    note: str = Field(max_length=500)
    created_ms: int = Field(sa_type=sa.BigInteger)
    # When a hub opened the conversation: done.
    claimed_ms: int | None = Field(default=None, sa_type=sa.BigInteger)
    # Not taken again before: a hub's claim while it works on it, or the wait after a failure.
    not_before_ms: int = Field(default=0, sa_type=sa.BigInteger)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)


class BillingDue(SQLModel, table=True):
    """Outbox: a debit the hub owes the ledger.

    Written in the same transaction as what makes it due (a human's first reply; the close
    of a conversation a human answered), for verified customers only, so that neither a
    crash nor a lost connection can leave a reply stored and its debit forgotten. The hub's
    billing worker carries it out until it is charged, already charged or refused."""

    __tablename__ = "billing_due"
    __table_args__ = (sa.Index("ix_billing_due_pending", "done_ms", "not_before_ms"),)

    id: int | None = Field(default=None, primary_key=True)
    # "reply:{conversation}" or "close:{conversation}": due at most once each.
    key: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    kind: str = Field(max_length=16)  # reply, close
    conversation_id: str = Field(max_length=32)
    customer_email: str = Field(max_length=320)
    created_ms: int = Field(sa_type=sa.BigInteger)
    not_before_ms: int = Field(default=0, sa_type=sa.BigInteger)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)
    done_ms: int | None = Field(default=None, sa_type=sa.BigInteger)
    # charged, already_charged, insufficient, not_due, not_billed (the other billing mode)
    outcome: str | None = Field(default=None, max_length=32)


class WebhookDelivery(SQLModel, table=True):
    """Every authenticated delivery, raw, stored before it is acted on."""

    __tablename__ = "webhook_deliveries"

    id: int | None = Field(default=None, primary_key=True)
    received_ms: int = Field(sa_type=sa.BigInteger, index=True)
    source: str | None = Field(default=None, max_length=500)
    topic: str | None = Field(default=None, max_length=64)
    delivery_id: str | None = Field(default=None, max_length=64)
    webhook_id: str | None = Field(default=None, max_length=64)
    body: bytes = Field(sa_type=sa.LargeBinary)
    outcome: str = Field(default="received", max_length=32)
    detail: str = Field(default="", sa_type=sa.Text)
    processed_ms: int | None = Field(default=None, sa_type=sa.BigInteger)
