"""Knowledge-base articles get an optional answer: a whole reply an agent can insert.

Revision ID: 0007_kb_answer
Revises: 0006_money
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_kb_answer"
down_revision = "0006_money"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kb_articles") as batch:
        batch.add_column(sa.Column("answer", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("kb_articles") as batch:
        batch.drop_column("answer")
