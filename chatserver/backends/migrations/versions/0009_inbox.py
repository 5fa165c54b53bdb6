"""Offline messages become conversations: every stored offline-form message that has no
conversation of its own gets one in state ``offline``, with its text as the first message,
so the inbox shows it (until now nothing read that table).

Revision ID: 0009_inbox
Revises: 0011_settings
"""

import json
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0009_inbox"
down_revision = "0011_settings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    meta = sa.MetaData()
    offline = sa.Table("offline_messages", meta, autoload_with=conn)
    convs = sa.Table("conversations", meta, autoload_with=conn)
    messages = sa.Table("messages", meta, autoload_with=conn)
    events = sa.Table("conversation_events", meta, autoload_with=conn)
    visitors = sa.Table("visitors", meta, autoload_with=conn)
    rows = conn.execute(
        sa.select(offline, visitors.c.site)
        .join(visitors, visitors.c.id == offline.c.visitor_id)
        .order_by(offline.c.id)
    ).fetchall()
    for r in rows:
        conv_id = secrets.token_urlsafe(12)  # as store.new_id
        conn.execute(
            convs.insert().values(
                id=conv_id,
                visitor_id=r.visitor_id,
                site=r.site,
                state="offline",
                language=r.language,
                created_ms=r.created_ms,
                last_seq=1,
                visitor_seen_seq=1,
                agent_seen_seq=0,
            )
        )
        detail = {"email": r.email, "from_conversation": r.conversation_id}
        conn.execute(
            events.insert().values(
                conversation_id=conv_id,
                from_state=None,
                to_state="offline",
                actor=f"visitor:{r.visitor_id}",
                detail=json.dumps(detail),
                created_ms=r.created_ms,
            )
        )
        conn.execute(
            messages.insert().values(
                conversation_id=conv_id,
                seq=1,
                kind="text",
                author="visitor",
                author_id=r.visitor_id,
                author_name=r.name,
                body=r.text,
                data=json.dumps({"via": "offline_form", "email": r.email}),
                created_ms=r.created_ms,
            )
        )
        conn.execute(offline.update().where(offline.c.id == r.id).values(conversation_id=conv_id))


def downgrade() -> None:
    # The messages stay in offline_messages; the conversations made for them go.
    offline_ids = "SELECT id FROM conversations WHERE state = 'offline'"
    op.execute(f"DELETE FROM messages WHERE conversation_id IN ({offline_ids})")
    op.execute(f"DELETE FROM conversation_events WHERE conversation_id IN ({offline_ids})")
    op.execute(
        "UPDATE offline_messages SET conversation_id = NULL "
        f"WHERE conversation_id IN ({offline_ids})"
    )
    op.execute("DELETE FROM conversations WHERE state = 'offline'")
