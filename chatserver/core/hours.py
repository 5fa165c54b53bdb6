"""Business hours and holidays: when a human may be expected at all.

``LIVEDESK_BUSINESS_HOURS`` reads like ``mon-fri 08:00-17:00; sat 09:00-13:00`` in
``LIVEDESK_TIMEZONE``; ``LIVEDESK_HOLIDAYS`` is a JSON list of ISO dates. Unset: always open.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Protocol
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RULE = re.compile(r"^\s*(\w{3})(?:\s*-\s*(\w{3}))?\s+(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")


@dataclass(frozen=True)
class BusinessHours:
    windows: dict[int, tuple[tuple[time, time], ...]]  # weekday -> open windows
    holidays: frozenset[date]
    zone: ZoneInfo

    @classmethod
    def parse(cls, spec: str | None, holidays: list[str], timezone: str) -> BusinessHours | None:
        if not spec:
            return None
        windows: dict[int, list[tuple[time, time]]] = {}
        for part in spec.split(";"):
            if not part.strip():
                continue
            match = _RULE.match(part.lower())
            if match is None:
                raise ValueError(f"business hours rule {part.strip()!r}: use 'mon-fri 08:00-17:00'")
            first, last, start, end = match.groups()
            if first not in DAYS or (last is not None and last not in DAYS):
                raise ValueError(f"unknown day in {part.strip()!r}")
            lo, hi = DAYS.index(first), DAYS.index(last or first)
            opening, closing = time.fromisoformat(start.zfill(5)), time.fromisoformat(end.zfill(5))
            if closing <= opening:
                raise ValueError(f"closing time before opening in {part.strip()!r}")
            for day in range(lo, hi + 1):
                windows.setdefault(day, []).append((opening, closing))
        return cls(
            {d: tuple(w) for d, w in windows.items()},
            frozenset(date.fromisoformat(h) for h in holidays),
            ZoneInfo(timezone),
        )

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        if local.date() in self.holidays:
            return False
        now = local.time()
        return any(start <= now < end for start, end in self.windows.get(local.weekday(), ()))


class _TeamHours(Protocol):
    @property
    def hours(self) -> str | None: ...
    @property
    def timezone(self) -> str | None: ...
    @property
    def holidays(self) -> list[str] | None: ...


class _HasHours(Protocol):
    """What of the settings the hours read (the routing section of core/settings.py)."""

    business_hours: str | None
    holidays: list[str]
    timezone: str

    @property
    def team_hours(self) -> Mapping[str, _TeamHours]: ...


@dataclass(frozen=True)
class TeamSpec:
    """A team's own hours as written; None: the desk's."""

    hours: str | None = None
    timezone: str | None = None
    holidays: list[str] | None = None


def team_hours(
    spec: str | None, holidays: list[str], timezone: str, teams: Mapping[str, TeamSpec]
) -> dict[str, BusinessHours | None]:
    """Each team's hours, what it leaves out taken from the desk's (None: always open).
    Raises ValueError naming the team whose hours do not parse."""
    out: dict[str, BusinessHours | None] = {}
    for name, team in teams.items():
        try:
            out[name] = BusinessHours.parse(
                team.hours if team.hours is not None else spec,
                team.holidays if team.holidays is not None else holidays,
                team.timezone or timezone,
            )
        except (ValueError, KeyError) as exc:
            raise ValueError(f"team {name!r}: {exc}") from exc
    return out


def desk_team_hours(settings: _HasHours) -> dict[str, BusinessHours | None]:
    """``team_hours`` of the effective settings."""
    return team_hours(
        settings.business_hours,
        settings.holidays,
        settings.timezone,
        {
            name: TeamSpec(team.hours, team.timezone, team.holidays)
            for name, team in settings.team_hours.items()
        },
    )
