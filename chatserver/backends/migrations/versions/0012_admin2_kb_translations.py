"""Knowledge-base articles that translate one another share a translation group.

Revision ID: 0012_admin2_kb_translations
Revises: 0012_plan2_roster_caps
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_admin2_kb_translations"
down_revision = "0012_plan2_roster_caps"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kb_articles") as batch:
        batch.add_column(sa.Column("translation_group", sa.String(length=64), nullable=True))
        batch.create_index("ix_kb_articles_translation_group", ["translation_group"])


def downgrade() -> None:
    with op.batch_alter_table("kb_articles") as batch:
        batch.drop_index("ix_kb_articles_translation_group")
        batch.drop_column("translation_group")
