"""Drop the indexes of ``search_docs`` that no search reads.

Every indexed message kept two secondary indexes up to date, on ``visitor_id`` and on
``conversation_id``, each touched in as many places as a batch had conversations: on
SQLite that was more than half of what indexing wrote to the log (2,978 bytes a message
with both, 1,308 without), all of it copied again by the checkpoint.

* ``visitor_id``: no query plan reads it on either database.
* ``conversation_id``: SQLite's searches always start from FTS5's matches and reach the
  doc by its rowid, so it is dropped there. PostgreSQL's planner starts an agent's search
  from the agent's own conversations through it (3 ms against 43 ms without, 100,000
  messages, an agent with 3 of 2,000 conversations), so it stays there, outside the
  model (``models.SEARCH_INDEX_OBJECTS``) like the GIN index.

Revision ID: 0014_search_docs_unread_indexes
Revises: 0013_admin3_visitor_answers
"""

from alembic import op

revision = "0014_search_docs_unread_indexes"
down_revision = "0013_admin3_visitor_answers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_search_docs_visitor_id", table_name="search_docs")
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index("ix_search_docs_conversation_id", table_name="search_docs")


def downgrade() -> None:
    op.create_index("ix_search_docs_visitor_id", "search_docs", ["visitor_id"])
    if op.get_bind().dialect.name != "postgresql":
        op.create_index("ix_search_docs_conversation_id", "search_docs", ["conversation_id"])
