"""Billing tables: the credits ledger, WooCommerce orders and deliveries, flags, the outbox.

Revision ID: 0003_billing
Revises: 0002_kb
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_billing"
down_revision = "0002_kb"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_customers",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "credit_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "customer_email",
            sa.String(320),
            sa.ForeignKey("credit_customers.email"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("actor", sa.String(320), nullable=True),
        sa.Column("conversation_id", sa.String(32), nullable=True),
        sa.Column("wc_source", sa.String(500), nullable=True),
        sa.Column("wc_order_id", sa.BigInteger(), nullable=True),
        sa.Column("wc_line_item_id", sa.BigInteger(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_credit_entries_customer_email", "credit_entries", ["customer_email"])
    op.create_index("ix_credit_entries_conversation_id", "credit_entries", ["conversation_id"])
    op.create_table(
        "wc_orders",
        sa.Column("source", sa.String(500), primary_key=True),
        sa.Column("order_id", sa.BigInteger(), primary_key=True),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("customer_email", sa.String(320), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("modified_ms", sa.BigInteger(), nullable=False),
        sa.Column("written_off", sa.Integer(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_wc_orders_customer_email", "wc_orders", ["customer_email"])
    op.create_table(
        "billing_flags",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(255), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("customer_email", sa.String(320), nullable=True),
        sa.Column("wc_source", sa.String(500), nullable=True),
        sa.Column("wc_order_id", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("resolved_ms", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_billing_flags_customer_email", "billing_flags", ["customer_email"])
    op.create_table(
        "support_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(255), nullable=False, unique=True),
        sa.Column("customer_email", sa.String(320), nullable=False),
        sa.Column("order_number", sa.String(64), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("claimed_ms", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_support_requests_customer_email", "support_requests", ["customer_email"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(500), nullable=True),
        sa.Column("topic", sa.String(64), nullable=True),
        sa.Column("delivery_id", sa.String(64), nullable=True),
        sa.Column("webhook_id", sa.String(64), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("processed_ms", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_webhook_deliveries_received_ms", "webhook_deliveries", ["received_ms"])


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("support_requests")
    op.drop_table("billing_flags")
    op.drop_table("wc_orders")
    op.drop_table("credit_entries")
    op.drop_table("credit_customers")
