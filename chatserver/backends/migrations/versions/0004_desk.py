"""Conversation outcome, tags and CSAT; offline messages.

Revision ID: 0004_desk
Revises: 0003_billing
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_desk"
down_revision = "0003_billing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("tags", sa.String(500), nullable=True))
        batch.add_column(sa.Column("outcome", sa.String(32), nullable=True))
        batch.add_column(sa.Column("csat_score", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("csat_comment", sa.Text(), nullable=True))
    op.create_table(
        "offline_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("visitor_id", sa.String(32), sa.ForeignKey("visitors.id"), nullable=False),
        sa.Column("conversation_id", sa.String(32), nullable=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("handled_ms", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_offline_messages_visitor_id", "offline_messages", ["visitor_id"])
    op.create_index("ix_offline_messages_created_ms", "offline_messages", ["created_ms"])


def downgrade() -> None:
    op.drop_table("offline_messages")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("csat_comment")
        batch.drop_column("csat_score")
        batch.drop_column("outcome")
        batch.drop_column("tags")
