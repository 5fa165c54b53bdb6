"""kb tables: articles and canned replies

Revision ID: 0002_kb
Revises: 0001_hub
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_kb"
down_revision = "0001_hub"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_articles",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("lang", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_kb_articles_lang", "kb_articles", ["lang"])
    op.create_index("ix_kb_articles_updated_ms", "kb_articles", ["updated_ms"])
    op.create_table(
        "kb_canned_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shortcut", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(length=16), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shortcut", "lang", name="uq_kb_canned_shortcut_lang"),
    )


def downgrade() -> None:
    op.drop_table("kb_canned_replies")
    op.drop_index("ix_kb_articles_updated_ms", table_name="kb_articles")
    op.drop_index("ix_kb_articles_lang", table_name="kb_articles")
    op.drop_table("kb_articles")
