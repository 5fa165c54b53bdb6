"""Search over messages and customers with the database's own full-text engine.

``search_docs`` holds each text in its folded match form (kb.normalize: no case, no
diacritics, Serbian Cyrillic as Latin); the index over it is SQLite's FTS5 (an
external-content table kept in step by triggers) or PostgreSQL's tsvector (a generated
column, ``simple`` configuration: the text is folded already) with a GIN index.
``search_marks`` says how far the indexer has read.

Revision ID: 0009_search
Revises: 0009_inbox
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_search"
down_revision = "0009_inbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_docs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("visitor_id", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(32), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("folded", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("kind", "ref", name="uq_search_docs_kind_ref"),
    )
    op.create_index("ix_search_docs_visitor_id", "search_docs", ["visitor_id"])
    op.create_index("ix_search_docs_conversation_id", "search_docs", ["conversation_id"])
    op.create_table(
        "search_marks",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE search_docs ADD COLUMN tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple', folded)) STORED"
        )
        op.execute("CREATE INDEX ix_search_docs_tsv ON search_docs USING GIN (tsv)")
        return
    op.execute(
        "CREATE VIRTUAL TABLE search_fts USING fts5(folded, content='search_docs', "
        "content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER search_fts_ai AFTER INSERT ON search_docs BEGIN "
        "INSERT INTO search_fts(rowid, folded) VALUES (new.id, new.folded); END"
    )
    op.execute(
        "CREATE TRIGGER search_fts_ad AFTER DELETE ON search_docs BEGIN "
        "INSERT INTO search_fts(search_fts, rowid, folded) "
        "VALUES ('delete', old.id, old.folded); END"
    )
    op.execute(
        "CREATE TRIGGER search_fts_au AFTER UPDATE ON search_docs BEGIN "
        "INSERT INTO search_fts(search_fts, rowid, folded) "
        "VALUES ('delete', old.id, old.folded); "
        "INSERT INTO search_fts(rowid, folded) VALUES (new.id, new.folded); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for trigger in ("search_fts_ai", "search_fts_ad", "search_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_table("search_marks")
    op.drop_table("search_docs")
