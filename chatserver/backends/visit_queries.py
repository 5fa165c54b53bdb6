"""The visitor's context: pages viewed, browser, time zone and visits, as sync functions of
one connection."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from chatserver.backends.models import Visitor, VisitorPage

visitors_t: sa.Table = Visitor.__table__  # type: ignore[attr-defined]
pages_t: sa.Table = VisitorPage.__table__  # type: ignore[attr-defined]

VISIT_GAP_MS = 30 * 60 * 1000  # a page view this long after the last one starts a new visit
PAGES_SHOWN = 20


def record(
    conn: Connection,
    visitor_id: str,
    pages: list[dict[str, Any]],
    user_agent: str | None,
    time_zone: str | None,
) -> None:
    """Page views (oldest first) of a visitor whose row exists, counting new visits."""
    last = conn.execute(
        sa.select(sa.func.max(pages_t.c.created_ms)).where(pages_t.c.visitor_id == visitor_id)
    ).scalar()
    new_visits = 0
    for page in pages:
        if last is None or page["created_ms"] - last > VISIT_GAP_MS:
            new_visits += 1
        last = page["created_ms"]
    if pages:
        conn.execute(sa.insert(pages_t), [{"visitor_id": visitor_id, **p} for p in pages])
    values: dict[str, Any] = {"visits": visitors_t.c.visits + new_visits}
    if user_agent:
        values["user_agent"] = user_agent
    if time_zone:
        values["time_zone"] = time_zone
    conn.execute(sa.update(visitors_t).where(visitors_t.c.id == visitor_id).values(**values))


def recent_pages(conn: Connection, visitor_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(pages_t.c.url, pages_t.c.title, pages_t.c.referrer, pages_t.c.created_ms)
        .where(pages_t.c.visitor_id == visitor_id)
        .order_by(pages_t.c.created_ms.desc(), pages_t.c.id.desc())
        .limit(PAGES_SHOWN)
    )
    return [dict(r._mapping) for r in rows]
