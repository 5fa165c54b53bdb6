"""Deletes anonymous visitors who never wrote anything: no conversation, no offline message,
no note, no verified customer behind them, not seen for ``idle_visitor_ttl_s``. One loop,
owned by the app's lifespan."""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa
from sqlalchemy import Connection

from chatserver.backends.models import Conversation, CustomerNote, OfflineMessage, Visitor
from chatserver.backends.store import Store, now_ms
from chatserver.core.settings import Settings

log = logging.getLogger("livedesk.visitor_purge")

visitors_t = Visitor.__table__  # type: ignore[attr-defined]
BATCH = 1000  # rows per transaction: a large backlog never holds the writer for long


def purge_idle_visitors(conn: Connection, seen_before_ms: int, limit: int = BATCH) -> int:
    """Delete up to ``limit`` idle anonymous visitors last seen before ``seen_before_ms``."""
    referenced = [
        sa.select(t.c.visitor_id).where(t.c.visitor_id == visitors_t.c.id).exists()
        for t in (
            Conversation.__table__,  # type: ignore[attr-defined]
            OfflineMessage.__table__,  # type: ignore[attr-defined]
            CustomerNote.__table__,  # type: ignore[attr-defined]
        )
    ]
    idle = (
        sa.select(visitors_t.c.id)
        .where(visitors_t.c.last_seen_ms < seen_before_ms)
        .where(visitors_t.c.customer_email.is_(None))
        .where(*[sa.not_(r) for r in referenced])
        .limit(limit)
    )
    ids = [row[0] for row in conn.execute(idle)]
    if not ids:
        return 0
    return int(conn.execute(sa.delete(visitors_t).where(visitors_t.c.id.in_(ids))).rowcount)


class VisitorPurger:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.ttl_s = settings.edge.idle_visitor_ttl_s
        self.interval_s = settings.edge.visitor_purge_interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.ttl_s is not None:
            self._task = asyncio.create_task(self._loop(), name="livedesk-visitor-purge")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def purge_once(self) -> int:
        """Everything due now, a batch per transaction; how many were deleted."""
        assert self.ttl_s is not None
        cutoff = now_ms() - int(self.ttl_s * 1000)
        total = 0
        while True:
            deleted = await self.store.write(lambda conn: purge_idle_visitors(conn, cutoff))
            total += deleted
            if deleted < BATCH:
                return total

    async def _loop(self) -> None:
        while True:
            try:
                deleted = await self.purge_once()
                if deleted:
                    log.info("purged %d idle anonymous visitors", deleted)
            except asyncio.CancelledError:
                raise
            except Exception:  # the store may be away; the next round tries again
                log.exception("visitor purge failed")
            await asyncio.sleep(self.interval_s)
