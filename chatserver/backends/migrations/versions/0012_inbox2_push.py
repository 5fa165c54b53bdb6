"""Web Push for agents: their browsers' subscriptions, the server's VAPID key pair (made
once), whether a console is in front of the agent, and the agent's notification choice
(kept with the agent, so it follows them from browser to browser).

Revision ID: 0012_inbox2_push
Revises: 0012_inbox2_search_gin
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_inbox2_push"
down_revision = "0012_inbox2_search_gin"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("endpoint", sa.String(1000), nullable=False, unique=True),
        sa.Column("p256dh", sa.String(200), nullable=False),
        sa.Column("auth", sa.String(100), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_push_subscriptions_agent_id", "push_subscriptions", ["agent_id"])
    op.create_table(
        "push_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("public_key", sa.String(200), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "console_focus",
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id"), primary_key=True),
        sa.Column("until_ms", sa.BigInteger(), nullable=False),
    )
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("notify_desktop", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("notify_desktop")
    op.drop_table("console_focus")
    op.drop_table("push_keys")
    op.drop_index("ix_push_subscriptions_agent_id", "push_subscriptions")
    op.drop_table("push_subscriptions")
