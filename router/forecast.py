"""Arrivals per interval for the days ahead, from the arrivals already seen.

A decomposition a team lead can check by hand, the way contact-centre planners forecast:

* a **day level** per calendar day: each past day's total divided by its weekday factor,
  with a straight-line trend fitted through those levels (recent weeks weigh more);
* a **weekday factor** (Mondays are busier than Sundays), from the ordinary days seen;
* an **intraday profile** per weekday: the share of the day's arrivals each interval gets,
  shrunk towards the profile of all days of the same kind (workday or weekend) so that a
  few weeks of noise do not draw spikes;
* **holidays** from the business-hours calendar: left out of all of the above, and forecast
  as an ordinary day times the ratio holidays have shown (a prior until one is seen).

Local time decides the seasonality (a team in Ljubljana is busy at 10:00 Ljubljana time,
in summer and winter alike), so the caller passes the team's time zone. Stdlib only.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

INTERVAL_S = 1800
# A holiday with no holiday in the history yet: most desks see a fraction of a normal day.
DEFAULT_HOLIDAY_RATIO = 0.3
# How much a weekday's own profile is trusted against its day-kind's pooled one, in
# arrivals: with this many arrivals seen in a slot-of-week, the two weigh the same.
PROFILE_SHRINK_ARRIVALS = 30.0
# Weekly decay of the trend fit's weights: last week counts 1, the week before 0.8, ...
TREND_DECAY_PER_WEEK = 0.8
# 90 % two-sided band.
BAND_Z = 1.645


@dataclass(frozen=True, slots=True)
class ForecastInterval:
    start: float  # epoch seconds
    expected: float
    low: float
    high: float
    holiday: bool

    def as_dict(self) -> dict[str, float | bool | str]:
        return {
            "start": datetime.fromtimestamp(self.start, UTC).isoformat(),
            "expected": round(self.expected, 3),
            "low": round(self.low, 3),
            "high": round(self.high, 3),
            "holiday": self.holiday,
        }


@dataclass(frozen=True, slots=True)
class _Day:
    day: date
    start: float
    counts: tuple[int, ...]  # one per interval of that local day (DST days have 46 or 50)

    @property
    def total(self) -> int:
        return sum(self.counts)


def _local_midnight(day: date, tz: tzinfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def _days(start: float, end: float, tz: tzinfo) -> list[date]:
    first = datetime.fromtimestamp(start, tz).date()
    last = datetime.fromtimestamp(end - 1e-6, tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _slot_starts(day: date, tz: tzinfo, interval_s: int) -> list[float]:
    begin = _local_midnight(day, tz)
    end = _local_midnight(day + timedelta(days=1), tz)
    return [float(t) for t in range(int(begin), int(end), interval_s)]


def _slot_of_day(t: float, day_start: float, interval_s: int) -> int:
    return int((t - day_start) // interval_s)


def count_by_day(
    arrivals: Sequence[float], start: float, end: float, tz: tzinfo, interval_s: int
) -> list[_Day]:
    """Whole local days in [start, end), each with its arrivals per interval."""
    out: list[_Day] = []
    by_day: dict[date, list[int]] = {}
    starts: dict[date, float] = {}
    for d in _days(start, end, tz):
        day_start = _local_midnight(d, tz)
        if day_start < start or _local_midnight(d + timedelta(days=1), tz) > end:
            continue  # a partial day would read as a quiet one
        by_day[d] = [0] * len(_slot_starts(d, tz, interval_s))
        starts[d] = day_start
    for t in arrivals:
        if not start <= t < end:
            continue
        d = datetime.fromtimestamp(t, tz).date()
        counts = by_day.get(d)
        if counts is not None:
            slot = min(len(counts) - 1, _slot_of_day(t, starts[d], interval_s))
            counts[slot] += 1
    for d in sorted(by_day):
        out.append(_Day(d, starts[d], tuple(by_day[d])))
    return out


def _weighted_line(
    xs: Sequence[float], ys: Sequence[float], ws: Sequence[float]
) -> tuple[float, float]:
    """Weighted least squares y = a + b·x; a flat line through the mean when x has no spread."""
    sw = sum(ws)
    mx = sum(w * x for w, x in zip(ws, xs, strict=True)) / sw
    my = sum(w * y for w, y in zip(ws, ys, strict=True)) / sw
    sxx = sum(w * (x - mx) ** 2 for w, x in zip(ws, xs, strict=True))
    if sxx <= 0:
        return my, 0.0
    sxy = sum(w * (x - mx) * (y - my) for w, x, y in zip(ws, xs, ys, strict=True))
    b = sxy / sxx
    return my - b * mx, b


def _resample(profile: Sequence[float], n: int) -> list[float]:
    """A 48-slot profile stretched onto a DST day of 46 or 50 slots (shares kept summing to 1)."""
    if len(profile) == n:
        return list(profile)
    out = [profile[min(len(profile) - 1, i * len(profile) // n)] for i in range(n)]
    total = sum(out)
    return [v / total for v in out] if total > 0 else [1.0 / n] * n


def _fold(counts: Sequence[int], n: int) -> list[float]:
    """A DST day's 46 or 50 interval counts laid onto the usual ``n`` slots."""
    if len(counts) == n:
        return [float(c) for c in counts]
    out = [0.0] * n
    for i, c in enumerate(counts):
        out[min(n - 1, i * n // len(counts))] += c
    return out


@dataclass(frozen=True, slots=True)
class ForecastModel:
    """What the history taught; ``predict`` turns it into intervals."""

    interval_s: int
    weekday_factor: tuple[float, ...]  # 7, Monday first; mean 1 over the days seen
    profiles: tuple[tuple[float, ...], ...]  # 7 intraday share profiles
    trend_origin: date
    level_at_origin: float  # de-seasonalised arrivals per day on trend_origin
    level_per_day: float  # the trend's slope
    holiday_ratio: float
    level_cv: float  # relative error of a day's total against the model, for the band

    def day_total(self, day: date, holiday: bool) -> float:
        days_since = (day - self.trend_origin).days
        level = max(0.0, self.level_at_origin + self.level_per_day * days_since)
        total = level * self.weekday_factor[day.weekday()]
        return total * self.holiday_ratio if holiday else total

    def predict(
        self, start: float, days: int, tz: tzinfo, holidays: Collection[date] = ()
    ) -> list[ForecastInterval]:
        first = datetime.fromtimestamp(start, tz).date()
        out: list[ForecastInterval] = []
        for i in range(days):
            d = first + timedelta(days=i)
            holiday = d in holidays
            total = self.day_total(d, holiday)
            slots = _slot_starts(d, tz, self.interval_s)
            shares = _resample(self.profiles[d.weekday()], len(slots))
            for t, share in zip(slots, shares, strict=True):
                if t < start:
                    continue
                expected = total * share
                # Poisson noise of the arrivals themselves plus the model's own day error.
                sd = math.sqrt(expected + (self.level_cv * expected) ** 2)
                out.append(
                    ForecastInterval(
                        start=t,
                        expected=expected,
                        low=max(0.0, expected - BAND_Z * sd),
                        high=expected + BAND_Z * sd,
                        holiday=holiday,
                    )
                )
        return out


class NotEnoughHistory(ValueError):
    """Fewer than one ordinary day of each weekday: a weekly pattern cannot be learnt."""


def fit(
    arrivals: Sequence[float],
    *,
    history_start: float,
    history_end: float,
    tz: tzinfo = UTC,
    holidays: Collection[date] = (),
    interval_s: int = INTERVAL_S,
) -> ForecastModel:
    if interval_s <= 0 or 86400 % interval_s:
        raise ValueError("interval_s must divide a day")
    days = count_by_day(arrivals, history_start, history_end, tz, interval_s)
    ordinary = [d for d in days if d.day not in holidays]
    seen_weekdays = {d.day.weekday() for d in ordinary}
    if len(seen_weekdays) < 7:
        raise NotEnoughHistory(
            f"need at least one ordinary day of every weekday, have {len(seen_weekdays)}"
        )
    slots_per_day = 86400 // interval_s

    # Weekday factors: each weekday's mean total against the mean of the seven.
    by_weekday: list[list[_Day]] = [[] for _ in range(7)]
    for d in ordinary:
        by_weekday[d.day.weekday()].append(d)
    means = [sum(d.total for d in group) / len(group) for group in by_weekday]
    overall = sum(means) / 7
    if overall <= 0:
        flat = tuple([1.0 / slots_per_day] * slots_per_day)
        return ForecastModel(
            interval_s, (1.0,) * 7, (flat,) * 7, ordinary[-1].day, 0.0, 0.0, 0.0, 0.0
        )
    factor = tuple(m / overall if m > 0 else 0.0 for m in means)

    # Trend through the de-seasonalised day levels, recent weeks weighing more.
    last = ordinary[-1].day
    xs: list[float] = []
    ys: list[float] = []
    ws: list[float] = []
    for d in ordinary:
        f = factor[d.day.weekday()]
        if f <= 0:
            continue
        age_weeks = (last - d.day).days / 7
        xs.append(float((d.day - last).days))
        ys.append(d.total / f)
        ws.append(TREND_DECAY_PER_WEEK**age_weeks)
    level, slope = _weighted_line(xs, ys, ws)
    # A trend fitted on under three weeks extrapolates noise; hold it flat instead.
    if (ordinary[-1].day - ordinary[0].day).days < 21:
        level, slope = sum(w * y for w, y in zip(ws, ys, strict=True)) / sum(ws), 0.0

    # How far the model's day totals stray from the days seen (beyond Poisson noise).
    rel_sq: list[float] = []
    for d in ordinary:
        expected = max(0.0, level + slope * (d.day - last).days) * factor[d.day.weekday()]
        if expected > 0:
            excess = (d.total - expected) ** 2 - expected  # remove the Poisson part
            rel_sq.append(max(0.0, excess) / expected**2)
    level_cv = math.sqrt(sum(rel_sq) / len(rel_sq)) if rel_sq else 0.0

    # Intraday profiles: per weekday, shrunk towards the pooled workday/weekend profile.
    def pooled(kind_weekend: bool) -> list[float]:
        sums = [0.0] * slots_per_day
        for d in ordinary:
            if (d.day.weekday() >= 5) == kind_weekend:
                for i, c in enumerate(_fold(d.counts, slots_per_day)):
                    sums[i] += c
        total = sum(sums)
        return [s / total for s in sums] if total > 0 else [1.0 / slots_per_day] * slots_per_day

    pooled_profiles = {False: pooled(False), True: pooled(True)}
    profiles: list[tuple[float, ...]] = []
    for wd in range(7):
        own = [0.0] * slots_per_day
        for d in by_weekday[wd]:
            for i, c in enumerate(_fold(d.counts, slots_per_day)):
                own[i] += c
        base = pooled_profiles[wd >= 5]
        shares = []
        day_sum = sum(own)
        for i in range(slots_per_day):
            # A slot's own share, pulled towards the pooled one as much as its count is thin.
            n_own = own[i]
            own_share = n_own / day_sum if day_sum > 0 else base[i]
            weight = n_own / (n_own + PROFILE_SHRINK_ARRIVALS) if n_own > 0 else 0.0
            shares.append(weight * own_share + (1 - weight) * base[i])
        total = sum(shares)
        profiles.append(tuple(s / total for s in shares))

    # Holidays seen: how their totals compared with an ordinary day's forecast.
    ratios: list[float] = []
    for d in days:
        if d.day in holidays:
            normal = max(0.0, level + slope * (d.day - last).days) * factor[d.day.weekday()]
            if normal > 0:
                ratios.append(d.total / normal)
    holiday_ratio = sum(ratios) / len(ratios) if ratios else DEFAULT_HOLIDAY_RATIO

    return ForecastModel(
        interval_s=interval_s,
        weekday_factor=factor,
        profiles=tuple(profiles),
        trend_origin=last,
        level_at_origin=level,
        level_per_day=slope,
        holiday_ratio=holiday_ratio,
        level_cv=level_cv,
    )


def forecast(
    arrivals: Sequence[float],
    *,
    history_start: float,
    forecast_start: float,
    days: int = 7,
    tz: tzinfo = UTC,
    holidays: Collection[date] = (),
    interval_s: int = INTERVAL_S,
) -> list[ForecastInterval]:
    """Expected arrivals per interval for ``days`` local days from ``forecast_start``."""
    model = fit(
        arrivals,
        history_start=history_start,
        history_end=forecast_start,
        tz=tz,
        holidays=holidays,
        interval_s=interval_s,
    )
    return model.predict(forecast_start, days, tz, holidays)


def wape(actual: Sequence[float], expected: Sequence[float]) -> float:
    """Weighted absolute percentage error: Σ|actual − expected| / Σ actual."""
    total = sum(actual)
    if total <= 0:
        return 0.0
    return sum(abs(a - e) for a, e in zip(actual, expected, strict=True)) / total


# The holdout needs this much history before an origin: ``fit`` holds the trend flat on less
# than three weeks between its first and last day, and a flat fit's errors would describe
# a different model than the one forecasting now.
HOLDOUT_MIN_HISTORY_DAYS = 22


@dataclass(frozen=True, slots=True)
class ForecastError:
    """How far the forecast strayed when it was made before, out of sample.

    Rolling origin over the history itself: at each of the last weeks of the history with
    three weeks and a day behind it, fit on what came before and forecast the next week; compare the ordinary
    days' totals with what then arrived. ``week_cv`` is the spread of a whole week's error
    (a level or trend that was off moves every day of a week the same way), ``day_cv`` the
    spread of single days around their week's error, ``bias`` the mean week error (actual
    over forecast, minus one). Each origin had less history than the forecast made now, so
    these spreads overstate its error a little rather than understate it.
    """

    weeks: int
    week_cv: float
    day_cv: float
    bias: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "weeks": self.weeks,
            "week_cv": round(self.week_cv, 4),
            "day_cv": round(self.day_cv, 4),
            "bias": round(self.bias, 4),
        }


def holdout_error(
    arrivals: Sequence[float],
    *,
    history_start: float,
    history_end: float,
    tz: tzinfo = UTC,
    holidays: Collection[date] = (),
    interval_s: int = INTERVAL_S,
) -> ForecastError:
    """The forecast's own one-week-ahead error, measured on the history only (rolling
    origin); no week after ``history_end`` is looked at. Zero spreads when the history is
    too short for one holdout week."""
    days = count_by_day(arrivals, history_start, history_end, tz, interval_s)
    if not days:
        return ForecastError(0, 0.0, 0.0, 0.0)
    first = days[0].day
    totals = {d.day: d.total for d in days}
    week_errors: list[float] = []
    week_sq: list[float] = []
    day_residuals: list[float] = []
    origins: list[date] = []
    origin_day = days[-1].day - timedelta(days=6)  # the history's last week, then back
    while (origin_day - first).days >= HOLDOUT_MIN_HISTORY_DAYS:
        origins.append(origin_day)
        origin_day -= timedelta(days=7)
    for origin_day in origins:
        origin = _local_midnight(origin_day, tz)
        try:
            model = fit(
                [t for t in arrivals if t < origin],
                history_start=history_start,
                history_end=origin,
                tz=tz,
                holidays=holidays,
                interval_s=interval_s,
            )
        except NotEnoughHistory:
            continue
        pairs: list[tuple[float, int]] = []
        for i in range(7):
            d = origin_day + timedelta(days=i)
            if d in holidays or d not in totals:
                continue
            expected = model.day_total(d, False)
            if expected > 0:
                pairs.append((expected, totals[d]))
        if pairs:
            arrived = sum(a for _, a in pairs)
            week = arrived / sum(e for e, _ in pairs) - 1.0
            week_errors.append(week)
            # The week total's own Poisson noise: the plan's draws add it back themselves.
            week_sq.append(max(0.0, week * week - 1.0 / max(1, arrived)))
            for e, a in pairs:
                # A day's error beyond its week's, less the Poisson noise of its own count.
                excess = (a - e * (1 + week)) ** 2 - a
                day_residuals.append(max(0.0, excess) / (e * (1 + week)) ** 2)
    if not week_errors:
        return ForecastError(0, 0.0, 0.0, 0.0)
    n = len(week_errors)
    bias = sum(week_errors) / n
    # Root mean square, not the spread around the mean: with a few weeks, a bias that
    # happened is as much the forecast's error as the scatter.
    week_cv = math.sqrt(sum(week_sq) / n)
    day_cv = math.sqrt(sum(day_residuals) / len(day_residuals)) if day_residuals else 0.0
    return ForecastError(n, week_cv, day_cv, bias)
