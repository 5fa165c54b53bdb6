"""What the customer panel shows of a visitor's visit: the pages they viewed (the widget
reports each with its session call), their browser, OS and device (ua-parser), language,
time zone and local time, how many visits they made.

A visitor with no row yet (they have not written) costs no disk: their page views wait
here, bounded, until their row is written (``saved``); a process restart forgets them.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection
from ua_parser import parse

from chatserver.backends import visit_queries as vq
from chatserver.backends.models import Visitor
from chatserver.backends.store import now_ms
from chatserver.backends.visitors import insert_new_visitor
from chatserver.core.prechat import read_answers

PENDING_VISITORS = 10_000
PENDING_PAGES = 20
_ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$")


def valid_zone(name: str | None) -> str | None:
    if not name or not _ZONE.match(name):
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def describe_agent(user_agent: str | None) -> dict[str, str | None]:
    """Browser, OS and device families from a User-Agent string."""
    if not user_agent:
        return {"browser": None, "os": None, "device": None}
    found = parse(user_agent)
    ua, os_, device = found.user_agent, found.os, found.device

    def named(family: str | None, major: str | None) -> str | None:
        if not family or family == "Other":
            return None
        return f"{family} {major}" if major else family

    return {
        "browser": named(ua.family, ua.major) if ua else None,
        "os": named(os_.family, os_.major) if os_ else None,
        "device": device.family if device and device.family != "Other" else None,
    }


def local_time(time_zone: str | None, at_ms: int) -> str | None:
    zone = valid_zone(time_zone)
    if zone is None:
        return None
    moment = datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(ZoneInfo(zone))
    return moment.isoformat(timespec="minutes")


Held = tuple[list[dict[str, Any]], str | None, str | None]  # pages, user agent, time zone


@dataclass(frozen=True, slots=True)
class FirstRows:
    """A new visitor's row and the page views held for it, as one step of a transaction."""

    visitor: Visitor
    held: Held | None

    def write(self, conn: Connection) -> None:
        insert_new_visitor(conn, self.visitor)
        if self.held is not None:
            vq.record(conn, self.visitor.id, *self.held)


class Visits:
    def __init__(self, store: Any) -> None:
        self.store = store
        # visitor id -> (pages, user agent, time zone), for visitors without a row yet.
        self._pending: OrderedDict[str, Held] = OrderedDict()

    async def page_view(
        self,
        visitor_id: str,
        has_row: bool,
        page: dict[str, Any] | None,
        user_agent: str | None,
        time_zone: str | None,
    ) -> None:
        pages = [{**page, "created_ms": now_ms()}] if page else []
        if has_row:
            await self.store.write(lambda c: vq.record(c, visitor_id, pages, user_agent, time_zone))
            return
        held, _, _ = self._pending.pop(visitor_id, ([], None, None))
        self._pending[visitor_id] = ((held + pages)[-PENDING_PAGES:], user_agent, time_zone)
        while len(self._pending) > PENDING_VISITORS:
            self._pending.popitem(last=False)

    def first_rows(self, visitor: Visitor) -> FirstRows:
        """The visitor's first row and the page views that waited for it, for the
        transaction that opens their first conversation. The page views are taken (another
        tab of the visitor writes none of them); ``restore`` them if it did not commit."""
        return FirstRows(visitor, self._pending.pop(visitor.id, None))

    def restore(self, rows: FirstRows) -> None:
        """``rows`` did not commit: their page views wait again."""
        if rows.held is not None and rows.visitor.id not in self._pending:
            self._pending[rows.visitor.id] = rows.held

    async def saved(self, visitor_id: str) -> None:
        """The visitor's row now exists: what waited here is written."""
        held = self._pending.pop(visitor_id, None)
        if held is None:
            return
        pages, user_agent, time_zone = held
        await self.store.write(lambda c: vq.record(c, visitor_id, pages, user_agent, time_zone))

    async def context(self, visitor: Any) -> dict[str, Any]:
        """The customer panel's visit block."""
        pages = await self.store.read(lambda c: vq.recent_pages(c, visitor.id))
        current = pages[0] if pages else None
        return {
            "current_page": current,
            "referrer": current["referrer"] if current else None,
            "pages": pages,
            **describe_agent(visitor.user_agent),
            "user_agent": visitor.user_agent,
            "language": visitor.language,
            "time_zone": visitor.time_zone,
            "local_time": local_time(visitor.time_zone, now_ms()),
            "visits": visitor.visits,
            "answers": read_answers(visitor.answers),
        }
