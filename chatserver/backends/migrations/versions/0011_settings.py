"""Settings changed in the admin screens, and their audit trail; each agent's own language
and time zone for the desk's pages.

Revision ID: 0011_settings
Revises: 0010_mail_outbox
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_settings"
down_revision = "0010_mail_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "setting_values",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
    )
    op.create_table(
        "setting_audit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_setting_audit_name", "setting_audit", ["name"])
    op.create_index("ix_setting_audit_at_ms", "setting_audit", ["at_ms"])
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("ui_language", sa.String(16), nullable=True))
        batch.add_column(sa.Column("time_zone", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("time_zone")
        batch.drop_column("ui_language")
    op.drop_table("setting_audit")
    op.drop_table("setting_values")
