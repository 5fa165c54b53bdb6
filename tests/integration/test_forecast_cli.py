"""``livedesk forecast`` and ``livedesk staffing --plan`` as a team lead runs them: the real
entry point in a subprocess, against a SQLite file holding a history of known shape."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from chatserver.backends import roster_store
from chatserver.backends.store import Store
from tests.history import Chat, local_ms, weekly_history, write_history
from tests.integration.conftest import make_settings

TZ = "Europe/Ljubljana"
LIVEDESK = str(Path(sys.executable).with_name("livedesk"))


def livedesk(db: Path, *argv: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIVEDESK_DATABASE_URL": f"sqlite:///{db}", "LIVEDESK_TIMEZONE": TZ}
    env.update(env_extra)
    return subprocess.run(
        [LIVEDESK, *argv], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def seed(tmp_path: Path, days: int) -> tuple[Path, date]:
    """Sales: six chats 10:00-10:30 local each weekday, one at noon on weekends; billing:
    four at 15:00 every day, which ``--team sales`` must leave out."""
    today = datetime.now(ZoneInfo(TZ)).date()
    chats = weekly_history(TZ, days, today, per_weekday=6, per_weekend=1, team="sales")
    chats += [
        Chat(local_ms(today - timedelta(days=back), 15.0, TZ), team="billing")
        for back in range(1, days + 1)
        for _ in range(4)
    ]
    write_history(make_settings(tmp_path), chats)
    return tmp_path / "livedesk.db", today


def local(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(TZ))


def test_forecast_json_follows_the_weekly_shape_in_local_time(tmp_path: Path) -> None:
    db, today = seed(tmp_path, 21)
    done = livedesk(db, "forecast", "--days", "7", "--team", "sales", "--json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    intervals = body["intervals"]
    assert body["team"] == "sales" and body["interval_s"] == 1800
    # Seven days of 30-minute intervals from now (the current one included).
    assert 7 * 48 - 1 <= len(intervals) <= 7 * 48 + 3
    by_day: dict[date, list[dict[str, object]]] = {}
    for iv in intervals:
        by_day.setdefault(local(str(iv["start"])).date(), []).append(iv)
    tomorrow = today + timedelta(days=1)
    for day in (tomorrow + timedelta(days=k) for k in range(5)):
        rows = by_day[day]
        peak = max(rows, key=lambda iv: float(iv["expected"]))  # type: ignore[arg-type]
        start = local(str(peak["start"]))
        if day.weekday() < 5:
            assert (start.hour, start.minute) == (10, 0), (day, peak)
            assert 5.0 <= float(peak["expected"]) <= 7.0  # type: ignore[arg-type]
        else:
            assert (start.hour, start.minute) == (12, 0), (day, peak)
            assert float(peak["expected"]) <= 1.5  # type: ignore[arg-type]
        # Billing's 15:00 chats are not in sales' forecast.
        at15 = [iv for iv in rows if local(str(iv["start"])).hour == 15]
        assert all(float(iv["expected"]) < 0.2 for iv in at15)  # type: ignore[arg-type]
        assert all(float(iv["low"]) <= float(iv["expected"]) <= float(iv["high"]) for iv in rows)  # type: ignore[arg-type]


def test_a_holiday_from_the_business_hours_calendar_is_forecast_quiet(tmp_path: Path) -> None:
    db, today = seed(tmp_path, 21)
    holiday = next(
        today + timedelta(days=k) for k in range(2, 7) if (today + timedelta(days=k)).weekday() < 5
    )
    done = livedesk(db, "forecast", "--team", "sales", "--json", LIVEDESK_HOLIDAYS=f'["{holiday}"]')
    assert done.returncode == 0, done.stderr
    intervals = json.loads(done.stdout)["intervals"]
    on_holiday = [iv for iv in intervals if local(str(iv["start"])).date() == holiday]
    assert on_holiday and all(iv["holiday"] for iv in on_holiday)
    # No holiday in the history yet: a third of an ordinary weekday's six chats.
    assert 1.0 <= max(float(iv["expected"]) for iv in on_holiday) <= 3.0
    assert not any(iv["holiday"] for iv in intervals if iv not in on_holiday)


def test_forecast_says_plainly_when_the_history_is_too_short(tmp_path: Path) -> None:
    db, _ = seed(tmp_path, 4)
    done = livedesk(db, "forecast", "--json")
    assert done.returncode == 3
    assert "not enough history" in done.stderr
    assert "weekday" in done.stderr
    assert done.stdout == ""
    # A language nobody wrote in has no history at all.
    none = livedesk(db, "forecast", "--lang", "de")
    assert none.returncode == 3 and "no conversations stored" in none.stderr


def test_staffing_plan_csv_needs_agents_at_the_peak_and_none_at_night(tmp_path: Path) -> None:
    db, today = seed(tmp_path, 21)
    done = livedesk(
        db, "staffing", "--plan", "--csv", "--team", "sales", "--days", "3",
        "--cap", "3", "--aht", "600", "--scheduled", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert rows and list(rows[0]) == [
        "start_utc",
        "expected_chats",
        "agents_needed",
        "service_level_needed",
        "agents_scheduled",
        "service_level_scheduled",
        "short",
    ]
    tomorrow = today + timedelta(days=1)
    if tomorrow.weekday() >= 5:
        tomorrow += timedelta(days=7 - tomorrow.weekday())

    def at(hour: int) -> dict[str, str]:
        want = local_ms(tomorrow, hour, TZ) // 1000
        return next(
            r for r in rows
            if int(datetime.strptime(r["start_utc"], "%Y-%m-%dT%H:%MZ").replace(
                tzinfo=ZoneInfo("UTC")).timestamp()) == want
        )  # fmt: skip

    peak, night = at(10), at(3)
    # 6 chats in 30 min of 10 minutes each at cap 3: more than the one agent rostered.
    assert int(peak["agents_needed"]) >= 2
    assert int(peak["short"]) == int(peak["agents_needed"]) - 1
    assert float(peak["service_level_needed"]) >= 0.8
    assert int(night["agents_needed"]) == 0 and night["short"] == "0"

    plain = livedesk(db, "staffing", "--arrivals-per-hour", "12", "--json")
    assert plain.returncode == 0 and json.loads(plain.stdout)["agents"] >= 1


def test_the_plan_takes_the_stored_roster_and_a_weekly_plan_can_hold_a_quantile(
    tmp_path: Path,
) -> None:
    db, today = seed(tmp_path, 35)
    tomorrow = today + timedelta(days=1)
    ten = local_ms(tomorrow, 10, TZ)

    async def store_roster() -> None:
        store = Store(make_settings(tmp_path).server.database_url)
        try:
            await store.write(lambda c: roster_store.put_roster(c, "sales", {ten: 4}, None, 0))
        finally:
            await store.stop()

    asyncio.run(store_roster())
    done = livedesk(
        db, "staffing", "--plan", "--json", "--team", "sales", "--days", "2",
        "--cap", "3", "--aht", "600", "--scheduled", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["plan"]
    by_ms = {int(datetime.fromisoformat(r["start"]).timestamp() * 1000): r for r in rows}
    assert by_ms[ten]["scheduled"] == 4  # the roster's, not --scheduled
    assert {r["scheduled"] for ms, r in by_ms.items() if ms != ten} == {1}

    week = livedesk(
        db, "staffing", "--plan", "--json", "--team", "sales", "--days", "2",
        "--cap", "3", "--aht", "600", "--goal", "week", "--confidence", "0.8",
    )  # fmt: skip
    assert week.returncode == 0, week.stderr
    body = json.loads(week.stdout)
    # Five weeks of history: only the last week has the three weeks and a day behind it that
    # a holdout origin needs; it was forecast from the four before it.
    assert body["forecast_error"]["weeks"] == 1
    plan = body["plan"]
    # Replayed through the router, not staffed interval by interval: no more agent-hours
    # than the interval plan, and someone wherever a chat is expected.
    assert sum(r["needed"] for r in plan) <= sum(r["needed"] for r in rows)
    assert all(r["needed"] >= 1 for r in plan if r["expected"] >= 1)
    assert sum(r["needed"] for r in plan) >= 1
    wrong = livedesk(db, "staffing", "--plan", "--confidence", "0.8")
    assert wrong.returncode != 0 and "--goal week" in wrong.stderr
