"""Money that cannot be lost or overflow: debits due (an outbox written with the reply or
close that makes them due), retry bookkeeping for the support-request outbox, and 64-bit
credit amounts.

Revision ID: 0006_money
Revises: 0005_notes
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_money"
down_revision = "0005_notes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_due",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("customer_email", sa.String(320), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("not_before_ms", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("done_ms", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
    )
    op.create_index("ix_billing_due_pending", "billing_due", ["done_ms", "not_before_ms"])
    with op.batch_alter_table("support_requests") as batch:
        batch.add_column(
            sa.Column("not_before_ms", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_error", sa.String(500), nullable=True))
        batch.alter_column("credits", type_=sa.BigInteger(), existing_nullable=False)
    with op.batch_alter_table("credit_entries") as batch:
        batch.alter_column("amount", type_=sa.BigInteger(), existing_nullable=False)
    with op.batch_alter_table("wc_orders") as batch:
        batch.alter_column("written_off", type_=sa.BigInteger(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("wc_orders") as batch:
        batch.alter_column("written_off", type_=sa.Integer(), existing_nullable=False)
    with op.batch_alter_table("credit_entries") as batch:
        batch.alter_column("amount", type_=sa.Integer(), existing_nullable=False)
    with op.batch_alter_table("support_requests") as batch:
        batch.alter_column("credits", type_=sa.Integer(), existing_nullable=False)
        batch.drop_column("last_error")
        batch.drop_column("attempts")
        batch.drop_column("not_before_ms")
    op.drop_index("ix_billing_due_pending", "billing_due")
    op.drop_table("billing_due")
