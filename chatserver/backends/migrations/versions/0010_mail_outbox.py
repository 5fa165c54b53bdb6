"""The mail outbox: every mail the hub sends is written here first; a conversation's
channel (chat, or email for one a mail to the support address opened).

Revision ID: 0010_mail_outbox
Revises: 0008_sender_msg_dedup
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_mail_outbox"
down_revision = "0008_sender_msg_dedup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(length=16), nullable=False, server_default="chat")
        )
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(length=200), nullable=False, unique=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("to_addr", sa.String(length=320), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("message_id", sa.String(length=250), nullable=False, unique=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("not_before_ms", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("upto_seq", sa.Integer(), nullable=True),
        sa.Column("sent_ms", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
    )
    op.create_index("ix_mail_outbox_conversation_id", "mail_outbox", ["conversation_id"])
    op.create_index("ix_mail_outbox_not_before_ms", "mail_outbox", ["not_before_ms"])


def downgrade() -> None:
    op.drop_index("ix_mail_outbox_not_before_ms", table_name="mail_outbox")
    op.drop_index("ix_mail_outbox_conversation_id", table_name="mail_outbox")
    op.drop_table("mail_outbox")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("channel")
