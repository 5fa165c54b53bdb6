"""Team notes on customers.

Revision ID: 0005_notes
Revises: 0004_desk
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_notes"
down_revision = "0004_desk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_notes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("visitor_id", sa.String(32), sa.ForeignKey("visitors.id"), nullable=False),
        sa.Column("customer_email", sa.String(320), nullable=True),
        sa.Column("author_agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_customer_notes_visitor_id", "customer_notes", ["visitor_id"])
    op.create_index("ix_customer_notes_customer_email", "customer_notes", ["customer_email"])
    op.create_index("ix_customer_notes_created_ms", "customer_notes", ["created_ms"])


def downgrade() -> None:
    op.drop_table("customer_notes")
