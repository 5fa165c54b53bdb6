"""The pre-chat form's other answers (phone, order number, the site's own question).

Revision ID: 0013_admin3_visitor_answers
Revises: 0012_inbox2_push
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_admin3_visitor_answers"
down_revision = "0012_inbox2_push"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("visitors") as batch:
        batch.add_column(sa.Column("answers", sa.String(2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("visitors") as batch:
        batch.drop_column("answers")
