"""Forecast backtest: eight weeks of generated arrivals, forecast the eighth from the first seven.

The history is a Poisson process whose rate has what a real desk's has: weekly seasonality
(Monday busiest, a quiet weekend), two daily peaks in the team's local time (Europe/Ljubljana,
so the run crosses the end of summer time), a slow upward trend, day-to-day noise beyond
Poisson, one holiday inside the history and one in the forecast week (both in the calendar).

Printed: WAPE overall and over peak intervals (the busiest quarter of the week's intervals by
what really arrived), beside the same figures for the TRUE rate used as a forecast — the
floor Poisson noise leaves to any method — and a seasonal-naive forecast (last week again) as
a baseline. Then the staffing plan made from the forecast is replayed through the real Router
on the arrivals that really came, and its service level is compared with the target; the plan
made from the true rate is replayed too, so the part due to forecast error is visible.

The headline plan is the weekly plan made at the ``--confidence`` quantile (0.8) of the
forecast's own week error, which ``holdout_error`` measures on the seven weeks of history
alone (rolling origin); the same plan at the median and with the fit's in-sample day error
only are printed beside it. Nothing about the forecast week is used to make any plan.
Last, ``models_vs_simulator``: on a steady desk at caps 3, 4 and 5, what the ``load``,
``slots`` and ``concurrency`` queueing models say the agents give, in points from what the
discrete-event simulator measures.

Run: python benchmarks/forecast_backtest.py [--per-day 1200] [--seed 7] [--seeds 3]
Prints ONE JSON line, last.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router.forecast import INTERVAL_S, ForecastInterval, fit, holdout_error, wape  # noqa: E402
from router.plan import Goal, Model, service_level, simulated_plan, staffing_plan  # noqa: E402
from router.replay import poisson_arrivals, replay  # noqa: E402
from router.simulate import SimConfig, simulate  # noqa: E402

TZ = ZoneInfo("Europe/Ljubljana")
START = date(2026, 9, 7)  # a Monday; eight weeks run past the end of summer time (Oct 25)
WEEKDAY = (1.2, 1.1, 1.05, 1.0, 0.95, 0.45, 0.3)
TREND_PER_WEEK = 0.02
HOLIDAYS = {date(2026, 9, 29), date(2026, 10, 27)}  # a Tuesday in the history, one in week 8
HOLIDAY_RATIO = 0.35


def intraday(hour: float) -> float:
    """Relative rate by local hour: a morning and an afternoon peak, quiet nights."""
    morning = math.exp(-(((hour - 10.0) / 1.6) ** 2))
    afternoon = 0.8 * math.exp(-(((hour - 14.5) / 2.0) ** 2))
    evening = 0.25 * math.exp(-(((hour - 20.0) / 1.5) ** 2))
    return 0.03 + morning + afternoon + evening


_DAY_SHAPE = sum(intraday(h / 60) for h in range(0, 1440)) / 1440  # mean of the shape


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3, help="independent histories to average")
    parser.add_argument("--per-day", type=float, default=1200.0, help="chats on a mean weekday")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--day-noise", type=float, default=0.04, help="day-to-day cv")
    parser.add_argument("--cap", type=int, default=3)
    parser.add_argument("--handle-s", type=float, default=480.0)
    parser.add_argument("--target-sl", type=float, default=0.8)
    parser.add_argument("--answer-s", type=float, default=60.0)
    parser.add_argument(
        "--confidence",
        type=float,
        default=0.8,
        help="the headline plan meets the target at this quantile of the forecast's error",
    )
    args = parser.parse_args()
    runs = [run_once(args, args.seed + i) for i in range(args.seeds)]
    result: dict[str, object] = {"benchmark": "forecast_backtest", "seeds": args.seeds}
    for key, value in runs[0].items():
        if isinstance(value, float) and key not in ("handle_s", "target_service_level"):
            values = [float(r[key]) for r in runs]  # type: ignore[arg-type]
            result[key] = round(sum(values) / len(values), 4)
            if key.startswith("wape") or key == "service_level_points_from_target":
                result[key + "_max"] = round(max(values), 4)
                result[key + "_min"] = round(min(values), 4)
        elif key != "plans":
            result[key] = value
    plans: dict[str, dict[str, float]] = {}
    for name in runs[0]["plans"]:  # type: ignore[union-attr]
        points = [r["plans"][name]["points_from_target"] for r in runs]  # type: ignore[index]
        hours = [r["plans"][name]["agent_hours"] for r in runs]  # type: ignore[index]
        plans[name] = {
            "points_from_target_mean": round(sum(points) / len(points), 2),
            "points_from_target_min": min(points),
            "points_from_target_max": max(points),
            "agent_hours_mean": round(sum(hours) / len(hours), 1),
        }
    result["plans"] = plans
    result.update(queueing_models(args))
    print(json.dumps(result))


def queueing_models(args: argparse.Namespace) -> dict[str, object]:
    """The plans' queueing models against the discrete-event simulator on a steady desk.

    For caps 3, 4 and 5: the agents the ``load`` model staffs for the target at a steady
    500 chats an hour, simulated (four seeds of 60 hours), beside what each model says those
    agents give. The points are model minus simulator: negative is pessimistic.
    """
    rate = 500 / 3600
    by_cap: dict[str, dict[str, float | int]] = {}
    for cap in (3, 4, 5):
        agents = 1
        while (
            service_level(agents, rate, args.handle_s, cap, args.answer_s, "load") < args.target_sl
        ):
            agents += 1
        runs = [
            simulate(
                SimConfig(
                    arrivals_per_hour=rate * 3600,
                    agents=agents,
                    cap=cap,
                    mean_handle_s=args.handle_s,
                    hours=60,
                    answer_s=args.answer_s,
                    seed=seed,
                )
            ).service_level
            for seed in range(1, 5)
        ]
        simulated = sum(runs) / len(runs)
        row: dict[str, float | int] = {"agents": agents, "simulated": round(simulated, 4)}
        for model in ("load", "slots", "concurrency"):
            sl = service_level(agents, rate, args.handle_s, cap, args.answer_s, model)
            row[f"{model}_points"] = round(100 * (sl - simulated), 2)
        by_cap[str(cap)] = row
    load = [abs(float(r["load_points"])) for r in by_cap.values()]
    thumb = [float(r["concurrency_points"]) for r in by_cap.values()]
    return {
        "models_vs_simulator": by_cap,
        "load_model_points_from_simulator_max_abs": max(load),
        "rule_of_thumb_points_from_simulator_min": min(thumb),
        "rule_of_thumb_points_from_simulator_max": max(thumb),
    }


def run_once(args: argparse.Namespace, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    days = [START + timedelta(days=i) for i in range(56)]
    day_noise = {d: rng.lognormvariate(0.0, args.day_noise) for d in days}
    mean_weekday = sum(WEEKDAY) / 7

    def rate_per_s(t: float) -> float:
        local = datetime.fromtimestamp(t, TZ)
        d = local.date()
        level = args.per_day / mean_weekday * WEEKDAY[d.weekday()]
        level *= 1 + TREND_PER_WEEK * ((d - START).days / 7)
        level *= day_noise.get(d, 1.0) * (HOLIDAY_RATIO if d in HOLIDAYS else 1.0)
        hour = local.hour + local.minute / 60 + local.second / 3600
        return level * intraday(hour) / _DAY_SHAPE / 86400

    start = datetime(START.year, START.month, START.day, tzinfo=TZ).timestamp()
    split_day = START + timedelta(days=49)
    split = datetime(split_day.year, split_day.month, split_day.day, tzinfo=TZ).timestamp()
    end_day = START + timedelta(days=56)
    end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=TZ).timestamp()
    peak_rate = max(rate_per_s(start + m * 60) for m in range(0, int(end - start) // 60, 7))
    arrivals = poisson_arrivals(
        rate_per_s, start=start, end=end, max_rate_per_s=peak_rate * 1.5, rng=rng
    )
    history = [t for t in arrivals if t < split]
    future = [t for t in arrivals if t >= split]

    t0 = time.perf_counter()
    fitted = fit(history, history_start=start, history_end=split, tz=TZ, holidays=HOLIDAYS)
    predicted = fitted.predict(split, 7, TZ, HOLIDAYS)
    fit_s = time.perf_counter() - t0

    slots = [iv.start for iv in predicted]
    actual = [0] * len(slots)
    for t in future:
        actual[min(len(slots) - 1, int((t - split) // INTERVAL_S))] += 1
    # The true rate integrated over each interval (DST: slots are real 30-minute spans).
    truth = [sum(rate_per_s(s + m * 60 + 30) * 60 for m in range(INTERVAL_S // 60)) for s in slots]
    # Seasonal naive: what arrived in the same local interval one week earlier.
    week_before = {
        (datetime.fromtimestamp(s, TZ) - timedelta(days=7)).timestamp(): i
        for i, s in enumerate(slots)
    }
    naive = [0] * len(slots)
    for t in history:
        local = datetime.fromtimestamp(t, TZ)
        slot_start = local.replace(
            minute=(local.minute // 30) * 30, second=0, microsecond=0
        ).timestamp()
        i = week_before.get(slot_start)
        if i is not None:
            naive[i] += 1
    expected = [iv.expected for iv in predicted]
    order = sorted(range(len(actual)), key=lambda i: actual[i], reverse=True)
    peak = sorted(order[: len(order) // 4])

    def at(xs: list[float] | list[int], idx: list[int]) -> list[float]:
        return [float(xs[i]) for i in idx]

    inside = sum(1 for iv, a in zip(predicted, actual, strict=True) if iv.low <= a <= iv.high)

    oracle_intervals = [
        ForecastInterval(s, e, e, e, False) for s, e in zip(slots, truth, strict=True)
    ]

    # The forecast's own error, out of sample on the history (rolling origin): never the
    # forecast week's.
    t2 = time.perf_counter()
    error = holdout_error(history, history_start=start, history_end=split, tz=TZ, holidays=HOLIDAYS)
    holdout_s = time.perf_counter() - t2

    def plan_and_replay(
        intervals: list[ForecastInterval],
        model: Model | None,
        goal: Goal,
        spread: str = "",
        confidence: float = args.confidence,
    ) -> tuple[float, float, int]:
        if model is None:
            # The forecast's plan draws from its holdout error; the true rate has none;
            # "in_sample" is the earlier plan: day noise from the fit's own residuals only.
            week_cv, day_cv = 0.0, 0.0
            if intervals is predicted:
                if spread == "in_sample":
                    day_cv = fitted.level_cv
                else:
                    week_cv, day_cv = error.week_cv, error.day_cv
            plan = simulated_plan(
                intervals,
                handle_s=args.handle_s,
                cap=args.cap,
                target_service_level=args.target_sl,
                target_answer_s=args.answer_s,
                interval_s=INTERVAL_S,
                week_cv=week_cv,
                day_cv=day_cv,
                confidence=confidence,
            )
        else:
            plan = staffing_plan(
                intervals,
                handle_s=args.handle_s,
                cap=args.cap,
                target_service_level=args.target_sl,
                target_answer_s=args.answer_s,
                interval_s=INTERVAL_S,
                model=model,
                goal=goal,
            )
        replayed = replay(
            future,
            start=split,
            interval_s=INTERVAL_S,
            agents_per_interval=[p.needed for p in plan],
            cap=args.cap,
            mean_handle_s=args.handle_s,
            answer_s=args.answer_s,
            seed=seed,
        )
        return replayed.service_level, sum(p.needed for p in plan) / 2, replayed.unanswered

    t1 = time.perf_counter()
    plans: dict[str, dict[str, float | int]] = {}
    setups: tuple[tuple[Model | None, Goal], ...] = (
        (None, "week"),
        ("load", "week"),
        ("load", "interval"),
        ("concurrency", "interval"),
    )
    for model, goal in setups:
        for source, intervals in (("forecast", predicted), ("true_rate", oracle_intervals)):
            sl, hours, unanswered = plan_and_replay(intervals, model, goal)
            plans[f"{model or 'simulated'}_{goal}_{source}"] = {
                "replayed_service_level": round(sl, 4),
                "points_from_target": round(100 * (sl - args.target_sl), 2),
                "agent_hours": hours,
                "unanswered": unanswered,
            }
    # The same plan at the forecast's median (confidence 0.5), and the earlier plan (day
    # noise from the fit's in-sample residuals only), to show what the quantile buys.
    for name, spread, confidence in (
        ("simulated_week_forecast_median", "", 0.5),
        ("simulated_week_forecast_in_sample_error", "in_sample", 0.5),
    ):
        sl, hours, unanswered = plan_and_replay(predicted, None, "week", spread, confidence)
        plans[name] = {
            "replayed_service_level": round(sl, 4),
            "points_from_target": round(100 * (sl - args.target_sl), 2),
            "agent_hours": hours,
            "unanswered": unanswered,
        }
    replay_s = time.perf_counter() - t1
    headline = plans["simulated_week_forecast"]

    return {
        "history_days": 49,
        "forecast_days": 7,
        "interval_min": INTERVAL_S // 60,
        "tz": str(TZ),
        "chats_history": len(history),
        "chats_forecast_week": len(future),
        "wape": round(wape(actual, expected), 4),
        "wape_peak": round(wape(at(actual, peak), at(expected, peak)), 4),
        "wape_true_rate": round(wape(actual, truth), 4),
        "wape_true_rate_peak": round(wape(at(actual, peak), at(truth, peak)), 4),
        "wape_seasonal_naive": round(wape(actual, naive), 4),
        "wape_seasonal_naive_peak": round(wape(at(actual, peak), at(naive, peak)), 4),
        "band90_coverage": round(inside / len(actual), 4),
        "holiday_ratio_learnt": round(fitted.holiday_ratio, 3),
        "cap": args.cap,
        "handle_s": args.handle_s,
        "target_service_level": args.target_sl,
        "target_answer_s": args.answer_s,
        "holdout_week_cv": round(error.week_cv, 4),
        "holdout_day_cv": round(error.day_cv, 4),
        "holdout_bias": round(error.bias, 4),
        "forecast_week_error": round(len(future) / sum(expected) - 1, 4),
        "plan": "weekly goal, target corrected by replaying forecast draws at the "
        f"{args.confidence:g} quantile of the forecast's holdout error, from the forecast",
        "replayed_service_level": headline["replayed_service_level"],
        "service_level_points_from_target": headline["points_from_target"],
        "plans": plans,
        "fit_s": round(fit_s, 3),
        "holdout_s": round(holdout_s, 3),
        "replay_s": round(replay_s, 2),
    }


if __name__ == "__main__":
    main()
