"""The roster a supervisor stores (agents scheduled per 30-minute interval, per team) and the
audit trail of accepted caps (who set which agent from what to what, when, and the cap that
was recommended then).

Revision ID: 0012_plan2_roster_caps
Revises: 0009_visits
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_plan2_roster_caps"
down_revision = "0009_visits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roster_slots",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("agents", sa.Integer(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        sa.UniqueConstraint("team", "start_ms", name="uq_roster_slots_team_start"),
    )
    op.create_index("ix_roster_slots_start_ms", "roster_slots", ["start_ms"])
    op.create_table(
        "cap_audit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("cap_before", sa.Integer(), nullable=False),
        sa.Column("cap_after", sa.Integer(), nullable=False),
        sa.Column("recommended", sa.Integer(), nullable=True),
        sa.Column("scope", sa.String(80), nullable=False),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_cap_audit_agent_id", "cap_audit", ["agent_id"])
    op.create_index("ix_cap_audit_at_ms", "cap_audit", ["at_ms"])


def downgrade() -> None:
    op.drop_table("cap_audit")
    op.drop_table("roster_slots")
