"""Search without waiting on its own bookkeeping: PostgreSQL's GIN index without a pending
list, and the visitors indexed by when they were last seen.

With ``fastupdate`` on, GIN collects new entries in a pending list (up to
``gin_pending_list_limit``, 4 MB) that every search reads from end to end until a vacuum
merges it; the search indexer writes in background batches, so it pays for the merge
instead and searches stay as fast as the index itself.

Before each search the indexer asks for the visitors seen since its mark: without an index
on ``last_seen_ms`` that read every visitor, anonymous ones included, on every search.

Revision ID: 0012_inbox2_search_gin
Revises: 0012_admin2_kb_translations
"""

from alembic import op

revision = "0012_inbox2_search_gin"
down_revision = "0012_admin2_kb_translations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_visitors_last_seen_ms", "visitors", ["last_seen_ms"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX ix_search_docs_tsv SET (fastupdate = off)")
        op.execute("SELECT gin_clean_pending_list('ix_search_docs_tsv')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX ix_search_docs_tsv SET (fastupdate = on)")
    op.drop_index("ix_visitors_last_seen_ms", "visitors")
