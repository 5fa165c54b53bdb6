"""Hub tables: visitors, agents, conversations, messages, conversation events.

Revision ID: 0001_hub
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_hub"
down_revision = None
branch_labels = None
depends_on = None

OPEN_STATES_SQL = "state IN ('bot', 'offered', 'active')"


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("cap", sa.Integer(), nullable=False),
        sa.Column("teams", sa.String(500), nullable=False),
        sa.Column("languages", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "visitors",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("customer_email", sa.String(320), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
    )
    op.create_index("ix_visitors_customer_email", "visitors", ["customer_email"])
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("visitor_id", sa.String(32), sa.ForeignKey("visitors.id"), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("team", sa.String(64), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("assigned_ms", sa.BigInteger(), nullable=True),
        sa.Column("first_human_reply_ms", sa.BigInteger(), nullable=True),
        sa.Column("closed_ms", sa.BigInteger(), nullable=True),
        sa.Column("closed_by", sa.String(16), nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("visitor_seen_seq", sa.Integer(), nullable=False),
        sa.Column("agent_seen_seq", sa.Integer(), nullable=False),
    )
    op.create_index("ix_conversations_visitor_id", "conversations", ["visitor_id"])
    op.create_index("ix_conversations_agent_id", "conversations", ["agent_id"])
    op.create_index("ix_conversations_state", "conversations", ["state"])
    op.create_index(
        "uq_conversations_one_open_per_visitor",
        "conversations",
        ["visitor_id"],
        unique=True,
        sqlite_where=sa.text(OPEN_STATES_SQL),
        postgresql_where=sa.text(OPEN_STATES_SQL),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=False
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("author", sa.String(16), nullable=False),
        sa.Column("author_id", sa.String(64), nullable=True),
        sa.Column("author_name", sa.String(200), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("client_msg_id", sa.String(64), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_seq"),
        sa.UniqueConstraint(
            "conversation_id", "author", "client_msg_id", name="uq_messages_client_msg"
        ),
    )
    op.create_table(
        "conversation_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=False
        ),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_conversation_events_conversation_id", "conversation_events", ["conversation_id"]
    )


def downgrade() -> None:
    op.drop_table("conversation_events")
    op.drop_table("messages")
    op.drop_table("conversations")
    op.drop_table("visitors")
    op.drop_table("agents")
