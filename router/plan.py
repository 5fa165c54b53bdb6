"""A staffing plan: agents needed per forecast interval, against agents scheduled.

Three queueing models for an agent who holds ``cap`` chats at once (the backtest,
benchmarks/forecast_backtest.py, prints each against the discrete-event simulator, and so
the router we ship, at caps 3–5 on the desk each staffs to target):

* ``load`` (the desk's default, ``STAFFING_MODEL``): a birth-death chain on the chats at
  the desk, an agent holding k of them finishing f(k)/handle a second — within about
  3 points of the simulator, on the pessimistic side;
* ``slots`` (this function's default): each agent is ``cap`` slow servers, a chat lasting
  ``handle · cap / f(cap)`` — M/M/(agents·cap); 3–7 points pessimistic;
* ``concurrency``: each agent is one server ``f(cap)`` times faster, the planners' rule of
  thumb that ``livedesk staffing`` uses; 14–21 points pessimistic.

Two goals: ``interval`` staffs every interval to the target on its own (what a roster
usually promises; the week then lands above target), ``week`` staffs the fewest agent-hours
whose volume-weighted service level over the whole horizon meets the target (greedy: each
added agent goes where it answers the most chats within target). Stdlib only.
"""

from __future__ import annotations

import csv
import heapq
import io
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from statistics import NormalDist
from typing import Literal

from router.forecast import ForecastInterval
from router.replay import replay
from router.staffing import concurrency_factor, erlang_c_metrics

Model = Literal["load", "slots", "concurrency"]
Goal = Literal["interval", "week"]


def _load_dependent_service_level(
    agents: int, arrivals_per_s: float, handle_s: float, cap: int, answer_s: float
) -> float:
    """Birth-death chain on the number of chats at the desk, spread evenly over agents.

    An agent holding k chats finishes f(k)/handle of them per second (f: the concurrency
    factor), so with N chats the desk's pace is the sum over its agents. Past agents·cap
    chats the queue is geometric, and a waiting chat's wait is exponential.
    """
    full = agents * cap
    pace_full = agents * concurrency_factor(cap) / handle_s
    if arrivals_per_s >= pace_full:
        return 0.0
    # Unnormalised state probabilities, rescaled as they grow to stay in range.
    weight = 1.0
    total = 1.0
    for n in range(1, full + 1):
        q, r = divmod(n, agents)
        pace = (r * _factor(q + 1) + (agents - r) * _factor(q)) / handle_s
        weight *= arrivals_per_s / pace
        total += weight
        if total > 1e200:
            weight /= 1e200
            total /= 1e200
    rho = arrivals_per_s / pace_full
    total += weight * rho / (1.0 - rho)  # the queue beyond a full desk
    p_wait = weight / (1.0 - rho) / total
    return 1.0 - p_wait * math.exp(-(pace_full - arrivals_per_s) * answer_s)


def _factor(k: int) -> float:
    return 0.0 if k == 0 else concurrency_factor(k)


def service_level(
    agents: int,
    arrivals_per_s: float,
    handle_s: float,
    cap: int,
    answer_s: float,
    model: Model = "slots",
    concurrency: float | None = None,
) -> float:
    """Share of chats answered within ``answer_s`` with ``agents`` agents (0 when unstable)."""
    if arrivals_per_s <= 0:
        return 1.0
    if agents <= 0:
        return 0.0
    if model == "load":
        return _load_dependent_service_level(agents, arrivals_per_s, handle_s, cap, answer_s)
    f = concurrency if concurrency is not None else concurrency_factor(cap)
    if model == "slots":
        return erlang_c_metrics(agents * cap, arrivals_per_s, handle_s * cap / f, 1, answer_s, 1.0)[
            2
        ]
    return erlang_c_metrics(agents, arrivals_per_s, handle_s, cap, answer_s, f)[2]


def _fewest_agents(
    rate: float,
    handle_s: float,
    cap: int,
    target: float,
    answer_s: float,
    model: Model,
    concurrency: float | None,
) -> int:
    f = concurrency if concurrency is not None else concurrency_factor(cap)
    agents = max(1, math.floor(rate * handle_s / f) + 1)  # the fewest that keep up at all
    while service_level(agents, rate, handle_s, cap, answer_s, model, concurrency) < target:
        agents += 1
    return agents


@dataclass(frozen=True, slots=True)
class PlanInterval:
    start: float
    expected: float
    needed: int
    service_level: float  # what ``needed`` agents give, by Erlang C
    scheduled: int | None  # agents rostered or online; None when unknown
    scheduled_service_level: float | None

    @property
    def short(self) -> int:
        return 0 if self.scheduled is None else max(0, self.needed - self.scheduled)

    def as_dict(self) -> dict[str, object]:
        return {
            "start": datetime.fromtimestamp(self.start, UTC).isoformat(),
            "expected": round(self.expected, 3),
            "needed": self.needed,
            "service_level": round(self.service_level, 4),
            "scheduled": self.scheduled,
            "scheduled_service_level": (
                None
                if self.scheduled_service_level is None
                else round(self.scheduled_service_level, 4)
            ),
            "short": self.short,
        }


def staffing_plan(
    intervals: Sequence[ForecastInterval],
    *,
    handle_s: float,
    cap: int,
    target_service_level: float,
    target_answer_s: float,
    interval_s: float,
    scheduled: Sequence[int | None] | None = None,
    concurrency: float | None = None,
    model: Model = "slots",
    goal: Goal = "interval",
) -> list[PlanInterval]:
    """Agents needed per interval; an interval expecting no chats needs nobody.
    ``scheduled`` (per interval, None where unknown) adds what those agents give."""
    if scheduled is not None and len(scheduled) != len(intervals):
        raise ValueError("scheduled must have one entry per interval")
    if not 0.0 < target_service_level < 1.0 or handle_s <= 0 or interval_s <= 0:
        raise ValueError("target within (0, 1), handle and interval positive")
    rates = [iv.expected / interval_s for iv in intervals]

    def sl(agents: int, rate: float) -> float:
        return service_level(agents, rate, handle_s, cap, target_answer_s, model, concurrency)

    if goal == "interval":
        needed = [
            _fewest_agents(
                r, handle_s, cap, target_service_level, target_answer_s, model, concurrency
            )
            if r > 0
            else 0
            for r in rates
        ]
    else:
        # Start from the fewest agents that keep each interval stable, then add one agent
        # at a time where it answers the most chats within target, until the week meets it.
        f = concurrency if concurrency is not None else concurrency_factor(cap)
        needed = [max(1, math.floor(r * handle_s / f) + 1) if r > 0 else 0 for r in rates]
        volume = [iv.expected for iv in intervals]
        goal_within = target_service_level * sum(volume)
        within = sum(v * sl(n, r) for v, n, r in zip(volume, needed, rates, strict=True))
        gains = [
            (-(v * (sl(n + 1, r) - sl(n, r))), i)
            for i, (v, n, r) in enumerate(zip(volume, needed, rates, strict=True))
            if r > 0
        ]
        heapq.heapify(gains)
        while within < goal_within and gains:
            gain, i = heapq.heappop(gains)
            needed[i] += 1
            within -= gain
            n, r, v = needed[i], rates[i], volume[i]
            heapq.heappush(gains, (-(v * (sl(n + 1, r) - sl(n, r))), i))

    out: list[PlanInterval] = []
    for i, iv in enumerate(intervals):
        have = None if scheduled is None else scheduled[i]
        have_sl = None if have is None else sl(have, rates[i])
        out.append(
            PlanInterval(iv.start, iv.expected, needed[i], sl(needed[i], rates[i]), have, have_sl)
        )
    return out


CSV_COLUMNS = (
    "start_utc",
    "expected_chats",
    "agents_needed",
    "service_level_needed",
    "agents_scheduled",
    "service_level_scheduled",
    "short",
)


def plan_csv(rows: Sequence[PlanInterval]) -> str:
    """The plan as CSV for a roster tool: numbers and ISO times only, nothing a sheet runs."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(
            (
                datetime.fromtimestamp(r.start, UTC).strftime("%Y-%m-%dT%H:%MZ"),
                f"{r.expected:.2f}",
                r.needed,
                f"{r.service_level:.4f}",
                "" if r.scheduled is None else r.scheduled,
                "" if r.scheduled_service_level is None else f"{r.scheduled_service_level:.4f}",
                r.short,
            )
        )
    return buf.getvalue()


def simulated_plan(
    intervals: Sequence[ForecastInterval],
    *,
    handle_s: float,
    cap: int,
    target_service_level: float,
    target_answer_s: float,
    interval_s: float,
    week_cv: float = 0.0,
    day_cv: float = 0.0,
    confidence: float = 0.8,
    scheduled: Sequence[int | None] | None = None,
    draws: int = 4,
    rounds: int = 7,
) -> list[PlanInterval]:
    """A weekly-goal plan whose target is corrected by replaying it through the Router.

    The queueing formulas assume each interval is steady; a real week is not (load rises and
    falls, agents going off shift finish their chats). So the plan is replayed on arrivals
    drawn from the forecast itself — never on what really came — and the internal target is
    bisected until the mean replayed service level over the draws meets the one asked for.

    The draws carry the forecast's own error (``router.forecast.holdout_error``, measured
    out of sample on the history, never on the weeks planned): their week is the forecast
    scaled to its ``confidence`` quantile under ``week_cv`` (a level or trend that was off
    moves the whole week), each day busier or quieter by ``day_cv`` more. A weekly plan at
    the margin loses two or three points of service level per percent of load it did not
    expect, so planning on the forecast's mean misses the target in every week busier than
    forecast, half of them; at ``confidence`` 0.8 it holds in four weeks of five, as far as
    the forecast's past errors tell.
    """
    start = intervals[0].start if intervals else 0.0
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence within (0, 1)")
    week_scale = math.exp(week_cv * NormalDist().inv_cdf(confidence))
    samples: list[list[float]] = []
    for k in range(draws):
        rng = random.Random(1000 + k)
        arrivals: list[float] = []
        day_scale: dict[int, float] = {}
        for iv in intervals:
            day = int((iv.start - start) // 86400)
            if day not in day_scale:
                day_scale[day] = (
                    rng.lognormvariate(-day_cv * day_cv / 2, day_cv) if day_cv > 0 else 1.0
                )
            for _ in range(_poisson(rng, iv.expected * week_scale * day_scale[day])):
                arrivals.append(iv.start + rng.random() * interval_s)
        arrivals.sort()
        samples.append(arrivals)

    def plan_for(internal: float) -> list[PlanInterval]:
        return staffing_plan(
            intervals,
            handle_s=handle_s,
            cap=cap,
            target_service_level=internal,
            target_answer_s=target_answer_s,
            interval_s=interval_s,
            scheduled=scheduled,
            goal="week",
        )

    def replayed(plan: list[PlanInterval]) -> float:
        levels = [
            replay(
                arrivals,
                start=start,
                interval_s=interval_s,
                agents_per_interval=[p.needed for p in plan],
                cap=cap,
                mean_handle_s=handle_s,
                answer_s=target_answer_s,
                seed=seed,
            ).service_level
            for seed, arrivals in enumerate(samples)
        ]
        return sum(levels) / len(levels)

    low, high = 0.3 * target_service_level, min(0.995, target_service_level + 0.15)
    best = plan_for(high)
    for _ in range(rounds):
        mid = (low + high) / 2
        plan = plan_for(mid)
        if replayed(plan) >= target_service_level:
            best, high = plan, mid
        else:
            low = mid
    return best


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method for small means, a normal approximation for large)."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
