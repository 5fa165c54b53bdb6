"""Stored histories of a known shape, written straight through the store with chosen times:
conversations (and, for the cap curves, their texts) as if months of traffic had passed."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from chatserver.backends.db import upgrade
from chatserver.backends.models import Conversation, Message, Visitor
from chatserver.backends.store import Store
from chatserver.core.settings import Settings

conversations_t: sa.Table = Conversation.__table__  # type: ignore[attr-defined]
messages_t: sa.Table = Message.__table__  # type: ignore[attr-defined]
visitors_t: sa.Table = Visitor.__table__  # type: ignore[attr-defined]


@dataclass
class Chat:
    created_ms: int
    team: str | None = None
    language: str | None = None
    agent_id: int | None = None
    assigned_ms: int | None = None
    closed_ms: int | None = None
    csat: int | None = None
    # (author, created_ms): "visitor" or "agent" texts, in order
    texts: list[tuple[str, int]] = field(default_factory=list)


def local_ms(day: date, hour: float, tz: str) -> int:
    moment = datetime.combine(day, time(), ZoneInfo(tz)) + timedelta(hours=hour)
    return int(moment.timestamp() * 1000)


def weekly_history(
    tz: str, days: int, today: date, per_weekday: int, per_weekend: int, team: str | None = None
) -> list[Chat]:
    """``days`` full days before ``today``: weekdays get ``per_weekday`` chats between 10:00
    and 10:30 local time, weekend days ``per_weekend`` at 12:00-12:30."""
    chats: list[Chat] = []
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
        n, hour = (per_weekday, 10.0) if day.weekday() < 5 else (per_weekend, 12.0)
        for i in range(n):
            chats.append(
                Chat(local_ms(day, hour + 0.45 * i / max(1, n), tz), team=team, language="en")
            )
    return chats


def write_history(settings: Settings, chats: Sequence[Chat]) -> list[str]:
    """Writes every chat closed (at ``closed_ms``, else a minute after it opened)."""
    return asyncio.run(store_history(settings, chats))


async def store_history(settings: Settings, chats: Sequence[Chat]) -> list[str]:
    """``write_history`` on a running event loop."""
    await asyncio.to_thread(upgrade, settings.server.database_url)

    batch = secrets.token_hex(4)  # several calls may write into one database

    def run(conn: sa.Connection) -> list[str]:
        ids = []
        for i, c in enumerate(chats):
            cid, vid = f"h{batch}{i:06d}", f"v{batch}{i:06d}"
            ids.append(cid)
            conn.execute(
                sa.insert(visitors_t).values(
                    id=vid, site="default", created_ms=c.created_ms, last_seen_ms=c.created_ms
                )
            )
            closed = c.closed_ms if c.closed_ms is not None else c.created_ms + 60_000
            conn.execute(
                sa.insert(conversations_t).values(
                    id=cid,
                    visitor_id=vid,
                    site="default",
                    state="closed",
                    agent_id=c.agent_id,
                    team=c.team,
                    language=c.language,
                    created_ms=c.created_ms,
                    assigned_ms=c.assigned_ms,
                    closed_ms=closed,
                    closed_by="agent",
                    last_seq=len(c.texts),
                    csat_score=c.csat,
                )
            )
            for seq, (author, at) in enumerate(c.texts, start=1):
                conn.execute(
                    sa.insert(messages_t).values(
                        conversation_id=cid,
                        seq=seq,
                        kind="text",
                        author=author,
                        author_id=str(c.agent_id) if author == "agent" else vid,
                        body="hello",
                        created_ms=at,
                    )
                )
        return ids

    store = Store(settings.server.database_url)
    try:
        return await store.write(run)
    finally:
        await store.stop()
