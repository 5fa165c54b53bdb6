"""PostgreSQL search reads its GIN index directly: no pending list.

With ``fastupdate`` on, GIN collects new entries in a pending list (up to
``gin_pending_list_limit``, 4 MB) that every search reads from end to end until a vacuum
merges it; the search indexer writes in background batches, so it pays for the merge
instead and searches stay as fast as the index itself. SQLite: nothing to do.

Revision ID: 0012_inbox2_search_gin
Revises: 0009_visits
"""

from alembic import op

revision = "0012_inbox2_search_gin"
down_revision = "0009_visits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX ix_search_docs_tsv SET (fastupdate = off)")
        op.execute("SELECT gin_clean_pending_list('ix_search_docs_tsv')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX ix_search_docs_tsv SET (fastupdate = on)")
