"""Forecast, staffing plan and measured caps from the stored history (``router.forecast``,
``router.plan``, ``router.capfit`` over what ``backends.desk_queries`` reads).

One place for the CLI (``livedesk forecast``, ``livedesk staffing --plan``), the desk's HTTP
routes and the supervisors' board: each reads the store, hands pure code plain numbers and
returns values. Time zone and holidays are the business-hours settings' own.
"""

from __future__ import annotations

import logging
import statistics
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from chatserver.backends import desk_queries as q
from chatserver.backends import roster_store
from chatserver.backends.models import Agent
from chatserver.backends.store import Store
from chatserver.core.capsamples import cap_samples, reply_times
from chatserver.core.settings import Settings
from router.capfit import AdaptiveCap, recommend_cap
from router.forecast import (
    INTERVAL_S,
    ForecastError,
    ForecastInterval,
    NotEnoughHistory,
    fit,
    holdout_error,
)
from router.plan import PlanInterval, simulated_plan, staffing_plan

log = logging.getLogger("livedesk.planning")

DAY_S = 86400
__all__ = ["NotEnoughHistory", "LoadForecast", "load_forecast", "plan_for", "cap_report"]


def zone(settings: Settings) -> tzinfo:
    return ZoneInfo(settings.routing.timezone)


def holiday_dates(settings: Settings) -> frozenset[date]:
    return frozenset(date.fromisoformat(h) for h in settings.routing.holidays)


def _midnight(day: date, tz: tzinfo) -> float:
    return datetime.combine(day, time(), tz).timestamp()


@dataclass(frozen=True, slots=True)
class LoadForecast:
    """Intervals from today's local midnight to ``days`` ahead of now, with what arrived in
    those already past (``actual``, one count per interval up to now)."""

    team: str | None
    language: str | None
    now_s: float
    intervals: list[ForecastInterval]
    actual: list[int]
    history_days: int
    # The forecast's own one-week-ahead error on this history, when asked for.
    error: ForecastError | None = None

    @property
    def ahead(self) -> list[ForecastInterval]:
        """The intervals not over yet (the current one included)."""
        return [iv for iv in self.intervals if iv.start + INTERVAL_S > self.now_s]

    def as_dict(self) -> dict[str, Any]:
        return {
            "team": self.team,
            "language": self.language,
            "interval_s": INTERVAL_S,
            "now": datetime.fromtimestamp(self.now_s, UTC).isoformat(),
            "history_days": self.history_days,
            **({"forecast_error": self.error.as_dict()} if self.error else {}),
            "intervals": [
                {**iv.as_dict(), "actual": self.actual[i] if i < len(self.actual) else None}
                for i, iv in enumerate(self.intervals)
            ],
        }


async def load_forecast(
    store: Store,
    settings: Settings,
    *,
    now_s: float,
    days: int = 7,
    team: str | None = None,
    language: str | None = None,
    with_error: bool = False,
) -> LoadForecast:
    """Raises ``NotEnoughHistory`` when the stored arrivals cannot teach a weekly pattern.
    ``with_error`` also measures the forecast's own error on the history (a few more fits)."""
    tz = zone(settings)
    holidays = holiday_dates(settings)
    today = datetime.fromtimestamp(now_s, tz).date()
    today0 = _midnight(today, tz)
    since = today0 - settings.dashboard.forecast_history_days * DAY_S

    def read(conn: Any) -> tuple[list[int], list[int]]:
        past = q.arrival_times(conn, int(since * 1000), int(today0 * 1000), team, language)
        now = q.arrival_times(conn, int(today0 * 1000), int(now_s * 1000) + 1, team, language)
        return past, now

    past_ms, today_ms = await store.read(read)
    if not past_ms:
        raise NotEnoughHistory(
            f"no conversations stored in the last {settings.dashboard.forecast_history_days} days"
        )
    arrivals = [t / 1000.0 for t in past_ms]
    first_day = datetime.fromtimestamp(arrivals[0], tz).date()
    model = fit(
        arrivals,
        history_start=_midnight(first_day, tz),
        history_end=today0,
        tz=tz,
        holidays=holidays,
    )
    until = now_s + days * DAY_S
    intervals = [iv for iv in model.predict(today0, days + 2, tz, holidays) if iv.start < until]
    starts = [iv.start for iv in intervals]
    actual = [0] * sum(1 for s in starts if s <= now_s)
    for t_ms in today_ms:
        i = bisect_right(starts, t_ms / 1000.0) - 1
        if 0 <= i < len(actual):
            actual[i] += 1
    error = (
        holdout_error(
            arrivals,
            history_start=_midnight(first_day, tz),
            history_end=today0,
            tz=tz,
            holidays=holidays,
        )
        if with_error
        else None
    )
    return LoadForecast(team, language, now_s, intervals, actual, (today - first_day).days, error)


def team_agents(agents: Iterable[Agent], team: str | None) -> list[Agent]:
    chosen = [a for a in agents if a.active]
    if team is None:
        return chosen
    return [a for a in chosen if team in {t.strip() for t in a.teams.split(",")}]


def team_cap(agents: Iterable[Agent], team: str | None, default: int) -> int:
    """The cap the plan assumes: the median of the team's agents' caps."""
    caps = [a.cap for a in team_agents(agents, team)]
    return int(statistics.median_low(caps)) if caps else default


async def handle_time_s(store: Store, settings: Settings, now_s: float) -> float:
    """Mean assignment-to-close time of the chats closed over the forecast's history."""
    since = int((now_s - settings.dashboard.forecast_history_days * DAY_S) * 1000)
    rows = await store.read(lambda c: q.conversations_closed(c, since, int(now_s * 1000) + 1))
    spans = [
        (r["closed_ms"] - r["assigned_ms"]) / 1000.0
        for r in rows
        if r["assigned_ms"] is not None and r["closed_ms"] > r["assigned_ms"]
    ]
    return sum(spans) / len(spans) if spans else settings.routing.default_handle_s


def plan_for(
    forecast: LoadForecast,
    settings: Settings,
    *,
    handle_s: float,
    cap: int,
    scheduled: int | None,
    roster: Mapping[int, int] | None = None,
    goal: str = "interval",
    confidence: float | None = None,
) -> list[PlanInterval]:
    """Agents needed per interval still ahead, against the stored ``roster`` (agents per
    interval start, epoch ms) where it has the interval, else ``scheduled`` (the agents
    online now, or the CLI's ``--scheduled``).

    A weekly goal with a ``confidence`` is replayed through the router on draws from the
    forecast at that quantile of its own error (``forecast.error``, measured on the history):
    seconds of work rather than milliseconds, for the CLI."""
    ahead = forecast.ahead
    rostered = roster or {}
    per: list[int | None] = [rostered.get(round(iv.start * 1000), scheduled) for iv in ahead]
    if goal == "week" and confidence is not None:
        error = forecast.error
        return simulated_plan(
            ahead,
            handle_s=handle_s,
            cap=cap,
            target_service_level=settings.dashboard.sla_target_share,
            target_answer_s=settings.dashboard.sla_target_s,
            interval_s=INTERVAL_S,
            week_cv=error.week_cv if error else 0.0,
            day_cv=error.day_cv if error else 0.0,
            confidence=confidence,
            scheduled=None if all(p is None for p in per) else per,
        )
    return staffing_plan(
        ahead,
        handle_s=handle_s,
        cap=cap,
        target_service_level=settings.dashboard.sla_target_share,
        target_answer_s=settings.dashboard.sla_target_s,
        interval_s=INTERVAL_S,
        scheduled=None if all(p is None for p in per) else per,
        model=settings.dashboard.staffing_model,
        goal="week" if goal == "week" else "interval",
    )


async def stored_roster(
    store: Store, team: str | None, start_s: float, end_s: float
) -> dict[int, int]:
    """The roster stored for ``team`` (None: the whole desk) over [start_s, end_s)."""
    return await store.read(
        lambda c: roster_store.roster(c, team or "", int(start_s * 1000), int(end_s * 1000))
    )


# ------------------------------------------------------------------------- measured caps


async def cap_report(
    store: Store, settings: Settings, *, now_s: float, team: str | None = None
) -> dict[str, Any]:
    """The cap curves (per team, per agent) and each team's recommended cap with its reason."""
    end = int(now_s * 1000) + 1
    start = end - settings.dashboard.cap_history_days * DAY_S * 1000

    def read(conn: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[int, str]]:
        return (
            q.staffed_conversations(conn, start, end),
            q.texts_with_authors(conn, start, end),
            q.agent_names(conn),
        )

    convs, texts, names = await store.read(read)
    replies, chats = cap_samples(convs, texts)
    if team is not None:
        replies = [r for r in replies if r.team == team]
        chats = [c for c in chats if c.team == team]
    target = settings.dashboard.reply_target_s
    teams = sorted({r.team or "" for r in replies} | {c.team or "" for c in chats})
    by_team = []
    for name in teams:
        rec = recommend_cap(
            [r for r in replies if (r.team or "") == name],
            [c for c in chats if (c.team or "") == name],
            response_target_s=target,
        )
        by_team.append({"team": name or None, **rec.as_dict()})
    agents = sorted({r.agent_id for r in replies} | {c.agent_id for c in chats}, key=int)
    by_agent = []
    for agent_id in agents:
        rec = recommend_cap(
            [r for r in replies if r.agent_id == agent_id],
            [c for c in chats if c.agent_id == agent_id],
            response_target_s=target,
        )
        by_agent.append(
            {"agent_id": int(agent_id), "name": names.get(int(agent_id), ""), **rec.as_dict()}
        )
    overall = recommend_cap(replies, chats, response_target_s=target)
    return {
        "response_target_s": target,
        "days": settings.dashboard.cap_history_days,
        "team": team,
        "overall": overall.as_dict(),
        "teams": by_team,
        "agents": by_agent,
    }


@dataclass(slots=True)
class AdaptiveCaps:
    """The adaptive mode: one ``AdaptiveCap`` per agent, fed with replies as they are stored;
    the effective cap goes to the router only (the stored cap is the supervisor's)."""

    target_s: float
    seen_ms: int
    caps: dict[str, AdaptiveCap] = field(default_factory=dict)
    applied: dict[str, int] = field(default_factory=dict)

    def observe(
        self, texts: Iterable[dict[str, Any]], set_caps: dict[str, int], now_s: float
    ) -> dict[str, int]:
        """Replies newer than the last call → the agents whose effective cap changed."""
        changed: dict[str, int] = {}
        newest = self.seen_ms
        for reply in reply_times(texts):
            agent_id, at_ms, response_s = reply.agent_id, reply.at_ms, reply.response_s
            if agent_id is None or at_ms <= self.seen_ms or agent_id not in set_caps:
                continue
            newest = max(newest, at_ms)
            cap = set_caps[agent_id]
            fitted = self.caps.get(agent_id)
            if fitted is None or fitted.cap != cap:
                fitted = self.caps[agent_id] = AdaptiveCap(cap=cap, target_s=self.target_s)
                self.applied[agent_id] = cap
            effective = fitted.observe(response_s, now_s)
            if effective != self.applied.get(agent_id, cap):
                self.applied[agent_id] = effective
                changed[agent_id] = effective
        self.seen_ms = newest
        return changed
