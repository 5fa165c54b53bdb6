"""The arrivals forecast and the staffing plan, on generated histories of known shape."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from router.forecast import (
    INTERVAL_S,
    ForecastInterval,
    NotEnoughHistory,
    fit,
    forecast,
    holdout_error,
    wape,
)
from router.plan import plan_csv, service_level, simulated_plan, staffing_plan
from router.simulate import SimConfig, simulate

TZ = ZoneInfo("Europe/Ljubljana")
MONDAY = date(2026, 9, 7)


def midnight(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=TZ).timestamp()


def shaped_history(
    weeks: int,
    per_slot: dict[int, int],
    weekday_scale: tuple[float, ...] = (1, 1, 1, 1, 1, 0.5, 0.25),
    growth_per_week: float = 0.0,
    holidays: frozenset[date] = frozenset(),
    holiday_scale: float = 1.0,
) -> list[float]:
    """Arrivals spread evenly inside given local half-hours: no noise, a shape to recover."""
    arrivals: list[float] = []
    for day_index in range(weeks * 7):
        d = MONDAY + timedelta(days=day_index)
        scale = weekday_scale[d.weekday()] * (1 + growth_per_week * day_index / 7)
        if d in holidays:
            scale *= holiday_scale
        for slot, count in per_slot.items():
            start = datetime(d.year, d.month, d.day, slot // 2, 30 * (slot % 2), tzinfo=TZ)
            n = round(count * scale)
            for i in range(n):
                arrivals.append(start.timestamp() + (i + 0.5) * INTERVAL_S / n)
    return arrivals


def test_weekly_and_daily_shape_are_recovered_from_a_clean_history() -> None:
    shape = {18: 40, 19: 80, 20: 40, 28: 60}  # 9:00, 9:30 peak, 10:00 and 14:00
    history = shaped_history(4, shape)
    start = midnight(MONDAY + timedelta(days=28))
    out = forecast(history, history_start=midnight(MONDAY), forecast_start=start, days=7, tz=TZ)
    assert len(out) == 7 * 48
    monday = out[:48]
    assert max(range(48), key=lambda i: monday[i].expected) == 19
    assert monday[19].expected == pytest.approx(80, rel=0.05)
    assert monday[3].expected < 1.0  # a quiet night stays quiet
    sunday = out[6 * 48 : 7 * 48]
    assert sunday[19].expected == pytest.approx(20, rel=0.1)  # a quarter of a workday


def test_a_rising_trend_is_carried_into_the_next_week() -> None:
    shape = {20: 100}
    history = shaped_history(6, shape, weekday_scale=(1,) * 7, growth_per_week=0.05)
    start = midnight(MONDAY + timedelta(days=42))
    out = forecast(history, history_start=midnight(MONDAY), forecast_start=start, days=7, tz=TZ)
    wednesday_ten = out[2 * 48 + 20].expected
    true_value = 100 * (1 + 0.05 * 44 / 7)
    assert wednesday_ten == pytest.approx(true_value, rel=0.03)
    assert wednesday_ten > 100 * (1 + 0.05 * 41 / 7)  # above the last week seen


def test_a_holiday_in_the_calendar_is_forecast_at_the_ratio_holidays_showed() -> None:
    seen = MONDAY + timedelta(days=15)  # a Tuesday inside the history
    ahead = MONDAY + timedelta(days=29)  # a Tuesday in the forecast week
    holidays = frozenset({seen, ahead})
    history = shaped_history(
        4, {20: 100}, weekday_scale=(1,) * 7, holidays=holidays, holiday_scale=0.4
    )
    model = fit(
        history,
        history_start=midnight(MONDAY),
        history_end=midnight(MONDAY + timedelta(days=28)),
        tz=TZ,
        holidays=holidays,
    )
    assert model.holiday_ratio == pytest.approx(0.4, rel=0.05)
    out = model.predict(midnight(MONDAY + timedelta(days=28)), 7, TZ, holidays)
    tuesday = out[48 + 20]
    assert tuesday.holiday
    assert tuesday.expected == pytest.approx(40, rel=0.06)
    assert out[2 * 48 + 20].expected == pytest.approx(100, rel=0.06)


def test_the_day_summer_time_ends_has_fifty_half_hours_and_peaks_stay_at_local_time() -> None:
    # Weeks of history in summer time, a forecast across 25 October 2026 (clocks go back).
    start_day = date(2026, 10, 19)
    history = shaped_history(6, {20: 60})
    out = forecast(
        history,
        history_start=midnight(MONDAY),
        forecast_start=midnight(start_day),
        days=7,
        tz=TZ,
    )
    by_day: dict[date, list[float]] = {}
    for iv in out:
        local = datetime.fromtimestamp(iv.start, TZ)
        by_day.setdefault(local.date(), []).append(iv.expected)
    assert len(by_day[date(2026, 10, 25)]) == 50
    assert len(by_day[date(2026, 10, 24)]) == 48
    peak = max(out, key=lambda iv: iv.expected if iv.start > midnight(date(2026, 10, 23)) else 0)
    assert datetime.fromtimestamp(peak.start, TZ).hour == 10


def test_a_forecast_needs_every_weekday_in_the_history() -> None:
    history = shaped_history(1, {20: 10})
    with pytest.raises(NotEnoughHistory):
        forecast(
            history,
            history_start=midnight(MONDAY),
            forecast_start=midnight(MONDAY + timedelta(days=5)),
            tz=TZ,
        )


def test_wape_weighs_errors_by_volume() -> None:
    assert wape([10, 0, 90], [10, 5, 90]) == pytest.approx(0.05)
    assert wape([0, 0], [1, 1]) == 0.0


def test_the_load_model_matches_the_simulated_desk_at_cap_three() -> None:
    # One run of a busy desk swings by several points (long busy spells); four average out.
    runs = [
        simulate(
            SimConfig(
                arrivals_per_hour=500,
                agents=30,
                cap=3,
                mean_handle_s=480,
                hours=60,
                answer_s=60,
                seed=seed,
            )
        ).service_level
        for seed in range(1, 5)
    ]
    simulated = sum(runs) / len(runs)
    model = service_level(30, 500 / 3600, 480, 3, 60, "load")
    rule_of_thumb = service_level(30, 500 / 3600, 480, 3, 60, "concurrency")
    assert abs(model - simulated) < 0.03
    assert abs(rule_of_thumb - simulated) > 0.05


def test_an_interval_plan_meets_the_target_in_every_interval_and_staffs_empty_ones_with_nobody() -> (
    None
):
    intervals = [
        ForecastInterval(i * INTERVAL_S, e, e, e, False) for i, e in enumerate([0, 30, 90])
    ]
    plan = staffing_plan(
        intervals,
        handle_s=480,
        cap=3,
        target_service_level=0.8,
        target_answer_s=60,
        interval_s=INTERVAL_S,
        scheduled=[0, 2, 2],
    )
    assert plan[0].needed == 0
    assert all(p.service_level >= 0.8 for p in plan)
    assert plan[2].needed > plan[1].needed
    # One agent fewer would miss the target: the plan is the fewest, not just enough.
    for p in plan[1:]:
        assert service_level(p.needed - 1, p.expected / INTERVAL_S, 480, 3, 60) < 0.8
    assert plan[2].short == plan[2].needed - 2
    assert plan[2].scheduled_service_level is not None
    assert plan[2].scheduled_service_level < 0.8


def test_a_weekly_plan_meets_the_target_over_the_week_with_fewer_agent_hours() -> None:
    volumes = [5, 20, 60, 120, 80, 30, 10, 2]
    intervals = [ForecastInterval(i * INTERVAL_S, e, e, e, False) for i, e in enumerate(volumes)]
    common = dict(
        handle_s=480, cap=3, target_service_level=0.8, target_answer_s=60, interval_s=INTERVAL_S
    )
    per_interval = staffing_plan(intervals, goal="interval", **common)  # type: ignore[arg-type]
    weekly = staffing_plan(intervals, goal="week", **common)  # type: ignore[arg-type]
    achieved = sum(p.expected * p.service_level for p in weekly) / sum(volumes)
    assert achieved >= 0.8
    assert sum(p.needed for p in weekly) < sum(p.needed for p in per_interval)


def test_the_plan_csv_has_a_header_and_nothing_a_spreadsheet_would_run() -> None:
    plan = staffing_plan(
        [ForecastInterval(1_790_000_000.0, 12.5, 10, 15, False)],
        handle_s=480,
        cap=3,
        target_service_level=0.8,
        target_answer_s=60,
        interval_s=INTERVAL_S,
    )
    lines = plan_csv(plan).splitlines()
    assert lines[0].startswith("start_utc,expected_chats,agents_needed")
    assert len(lines) == 2
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in lines[1].split(","))
    assert math.isclose(float(lines[1].split(",")[1]), 12.5)


def test_the_holdout_error_of_a_steady_trend_is_near_zero_and_covers_the_last_weeks() -> None:
    history = shaped_history(7, {20: 100}, growth_per_week=0.03)
    error = holdout_error(
        history,
        history_start=midnight(MONDAY),
        history_end=midnight(MONDAY + timedelta(days=49)),
        tz=TZ,
    )
    # Origins need three weeks and a day behind them: weeks 5, 6 and 7 are held out.
    assert error.weeks == 3
    assert error.week_cv < 0.01
    assert abs(error.bias) < 0.01


def test_the_holdout_error_shows_a_week_the_forecast_missed() -> None:
    end = midnight(MONDAY + timedelta(days=49))
    last_week = midnight(MONDAY + timedelta(days=42))
    steady = [t for t in shaped_history(7, {20: 100}) if t < last_week]
    jumped = [t for t in shaped_history(7, {20: 130}) if t >= last_week]
    error = holdout_error(steady + jumped, history_start=midnight(MONDAY), history_end=end, tz=TZ)
    # The last week came 30 % over what its forecast said; the other two were right.
    assert error.bias == pytest.approx(0.3 / 3, abs=0.01)
    assert error.week_cv == pytest.approx(math.sqrt(0.3**2 / 3), rel=0.05)


def test_the_holdout_error_never_reads_past_the_end_of_the_history() -> None:
    end = midnight(MONDAY + timedelta(days=49))
    history = shaped_history(7, {20: 100}, growth_per_week=0.03)
    later = [t for t in shaped_history(8, {20: 900}) if t >= end]
    alone = holdout_error(history, history_start=midnight(MONDAY), history_end=end, tz=TZ)
    with_later = holdout_error(
        history + later, history_start=midnight(MONDAY), history_end=end, tz=TZ
    )
    assert with_later == alone


def test_a_plan_at_a_higher_quantile_of_the_forecast_error_staffs_more_hours() -> None:
    volumes = [10, 40, 90, 120, 90, 40, 10]
    intervals = [ForecastInterval(i * INTERVAL_S, e, e, e, False) for i, e in enumerate(volumes)]

    def hours(confidence: float, week_cv: float) -> int:
        plan = simulated_plan(
            intervals,
            handle_s=480,
            cap=3,
            target_service_level=0.8,
            target_answer_s=60,
            interval_s=INTERVAL_S,
            week_cv=week_cv,
            confidence=confidence,
            draws=2,
            rounds=5,
        )
        return sum(p.needed for p in plan)

    assert hours(0.9, 0.1) > hours(0.5, 0.1)
    # With no error measured, the quantile changes nothing.
    assert hours(0.9, 0.0) == hours(0.5, 0.0)
