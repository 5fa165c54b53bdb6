"""A retried send is deduplicated per sender (author id), not per role.

After a transfer the new agent's ``client_msg_id`` may equal one the previous agent used in
the same conversation; keyed by role, it was taken for a retry and dropped.

Revision ID: 0008_sender_msg_dedup
Revises: 0007_kb_answer
"""

from alembic import op

revision = "0008_sender_msg_dedup"
down_revision = "0007_kb_answer"
branch_labels = None
depends_on = None

OLD = ("conversation_id", "author", "client_msg_id")
NEW = ("conversation_id", "author", "author_id", "client_msg_id")


def upgrade() -> None:
    # Batch mode: SQLite rebuilds the table (it cannot drop a constraint in place);
    # PostgreSQL alters it.
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint("uq_messages_client_msg", type_="unique")
        batch.create_unique_constraint("uq_messages_sender_msg", list(NEW))


def downgrade() -> None:
    # Refuses if two senders of one conversation did share an id meanwhile: nothing is
    # silently deleted.
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint("uq_messages_sender_msg", type_="unique")
        batch.create_unique_constraint("uq_messages_client_msg", list(OLD))
