"""A new visitor's row: made when they first write, not when a page is viewed (a page view
costs no disk), and written at most once however many tabs write first at the same moment."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from chatserver.backends.models import Visitor
from chatserver.backends.store import now_ms

visitors_t = Visitor.__table__  # type: ignore[attr-defined]


def new_visitor(visitor_id: str, site: str, language: str | None) -> Visitor:
    ts = now_ms()
    return Visitor(id=visitor_id, site=site, created_ms=ts, last_seen_ms=ts, language=language)


def insert_new_visitor(conn: Connection, visitor: Visitor) -> None:
    """A visitor's first row, unless one is there already: two tabs of one new visitor may
    both be writing their first message at the same moment."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(visitors_t).values(**visitor.model_dump())
    conn.execute(insert.on_conflict_do_nothing(index_elements=["id"]))


async def save_new_visitor(store: Any, visitor: Visitor) -> None:
    """``insert_new_visitor`` in a transaction of its own."""
    await store.write(lambda conn: insert_new_visitor(conn, visitor))
