"""A roster as a supervisor writes it: agents scheduled per 30-minute interval, from CSV.

Two columns matter, found by their header: the interval's start (``start`` or
``start_utc``) and the agents (``agents`` or ``agents_scheduled``), so the staffing plan's
own CSV export, filled in, uploads as it is. A start with no offset is the desk's local
time. A row with no agents is skipped (the export leaves them blank); anything else that
does not read is refused with its line, nothing stored. Pure: text in, values out.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, tzinfo

INTERVAL_S = 1800
MAX_ROWS = 5000  # 28 days of 48 intervals, with room for a few teams' worth of upload
MAX_AGENTS = 10_000
START_COLUMNS = ("start", "start_utc")
AGENT_COLUMNS = ("agents", "agents_scheduled")


class RosterError(ValueError):
    """The CSV does not read as a roster; the message says where."""


def _column(header: list[str], names: tuple[str, ...]) -> int:
    cleaned = [h.strip().lower().lstrip("\ufeff") for h in header]
    for name in names:
        if name in cleaned:
            return cleaned.index(name)
    raise RosterError(f"the header needs a column named {' or '.join(names)}")


def interval_start(value: str, tz: tzinfo) -> float:
    """Epoch seconds of an ISO time that starts one of the desk's 30-minute intervals."""
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise RosterError(f"{value!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=tz)
    local = at.astimezone(tz)
    since_midnight = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    if since_midnight % INTERVAL_S:
        raise RosterError(f"{value!r} does not start a 30-minute interval")
    return at.timestamp()


def parse_roster_csv(text: str, tz: tzinfo) -> dict[int, int]:
    """Agents per interval start (epoch milliseconds)."""
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None:
        raise RosterError("the CSV is empty")
    at_col, agents_col = _column(header, START_COLUMNS), _column(header, AGENT_COLUMNS)
    out: dict[int, int] = {}
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(out) >= MAX_ROWS:
            raise RosterError(f"more than {MAX_ROWS} intervals")
        if max(at_col, agents_col) >= len(row):
            raise RosterError(f"line {line}: too few columns")
        cell = row[agents_col].strip()
        if not cell:
            continue
        try:
            start = interval_start(row[at_col], tz)
        except RosterError as exc:
            raise RosterError(f"line {line}: {exc}") from None
        if not cell.isdigit() or int(cell) > MAX_AGENTS:
            raise RosterError(f"line {line}: agents must be a whole number 0 to {MAX_AGENTS}")
        key = round(start * 1000)
        if key in out:
            raise RosterError(f"line {line}: {row[at_col].strip()} is listed twice")
        out[key] = int(cell)
    return out
