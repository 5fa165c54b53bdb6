"""The visitor's context for the customer panel: browser, time zone, visits, pages viewed.

Revision ID: 0009_visits
Revises: 0009_search
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_visits"
down_revision = "0009_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("visitors") as batch:
        batch.add_column(sa.Column("user_agent", sa.String(500), nullable=True))
        batch.add_column(sa.Column("time_zone", sa.String(64), nullable=True))
        batch.add_column(sa.Column("visits", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "visitor_pages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("visitor_id", sa.String(32), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("title", sa.String(300), nullable=True),
        sa.Column("referrer", sa.String(2000), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_visitor_pages_visitor_id", "visitor_pages", ["visitor_id"])


def downgrade() -> None:
    op.drop_table("visitor_pages")
    with op.batch_alter_table("visitors") as batch:
        batch.drop_column("visits")
        batch.drop_column("time_zone")
        batch.drop_column("user_agent")
