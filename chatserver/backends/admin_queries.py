"""The admin screens' writes to the agents table, as sync functions of one connection."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from chatserver.backends.models import Agent
from kb.models import KbArticle, KbCannedReply

agents_t: sa.Table = Agent.__table__  # type: ignore[attr-defined]
# What an admin may change about an agent without ending their sessions.
PROFILE_FIELDS = frozenset(
    {"name", "role", "cap", "teams", "languages", "ui_language", "time_zone"}
)


def update_agent(conn: Connection, agent_id: int, values: dict[str, Any]) -> bool:
    """Change an agent's profile; False when there is no such agent."""
    assert set(values) <= PROFILE_FIELDS, values
    done = conn.execute(sa.update(agents_t).where(agents_t.c.id == agent_id).values(**values))
    return bool(done.rowcount)


def canned_replies(conn: Connection) -> list[dict[str, Any]]:
    """Every canned reply in every language, by shortcut."""
    table: sa.Table = KbCannedReply.__table__  # type: ignore[attr-defined]
    rows = conn.execute(sa.select(table).order_by(table.c.shortcut, table.c.lang))
    return [dict(r._mapping) for r in rows]


def article_list(conn: Connection) -> list[dict[str, Any]]:
    """Every article's id, language and title, for the editor's list."""
    table: sa.Table = KbArticle.__table__  # type: ignore[attr-defined]
    rows = conn.execute(
        sa.select(table.c.id, table.c.lang, table.c.title).order_by(table.c.lang, table.c.title)
    )
    return [dict(r._mapping) for r in rows]
