"""The right number of chats per agent, learnt from what happened; and an early warning.

The cap a team can hold well differs per company. Here it is measured: every reply and every
closed chat is tagged with how many chats its agent held at that moment, so response time,
handle time and CSAT can be read as functions of concurrency. The recommended cap is the
largest concurrency at which replies still come within target and CSAT has not dropped below
the team's own level at low concurrency, with enough evidence at every level up to it.
Nothing is applied here: a supervisor accepts a recommendation (or turns on the adaptive
mode, ``AdaptiveCap``), the hub carries it out. Stdlib only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from router.model import MAX_CAP, MIN_CAP
from router.plan import service_level
from router.staffing import concurrency_factor


@dataclass(frozen=True, slots=True)
class ReplySample:
    """An agent's reply: how long the visitor had waited for it, at what concurrency."""

    agent_id: str
    team: str | None
    concurrency: int
    response_s: float
    first: bool = False


@dataclass(frozen=True, slots=True)
class ChatSample:
    """A closed chat: the most chats its agent held while it was open, its length, rating."""

    agent_id: str
    team: str | None
    concurrency: int
    handle_s: float
    csat: int | None = None  # 1..5, None when not rated


@dataclass(frozen=True, slots=True)
class LevelStats:
    concurrency: int
    replies: int
    response_p50_s: float | None
    response_p90_s: float | None
    first_response_p90_s: float | None
    chats: int
    handle_mean_s: float | None
    ratings: int
    csat_mean: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return {k: getattr(self, k) for k in self.__slots__}


# Why a cap, said once: each reason code's English sentence, filled from its numbers. The
# dashboard says the same codes in the reader's language (lookahead.js); the CLI and a page
# that does not know a code show this.
REASONS = {
    "no_evidence": "not enough replies at one chat to judge yet",
    "evidence_ends": "evidence ends at {chats} chats ({replies} replies)",
    "reply_over_target": "at {chats} chats the reply p90 is {p90_s}s, over the {target_s}s target",
    "csat_below_baseline": "at {chats} chats CSAT is {csat:.2f}, below the {baseline:.2f} baseline",
    "held_up_to": "replies within target and CSAT held up to {chats} chats",
}


@dataclass(frozen=True, slots=True)
class CapRecommendation:
    recommended_cap: int | None  # None: not enough evidence at concurrency 1 or 2 yet
    levels: tuple[LevelStats, ...]
    csat_baseline: float | None
    # Why, as a code (a key of REASONS) and its numbers: a page says it in its reader's language.
    reason_code: str = "no_evidence"
    reason_args: dict[str, float] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return REASONS[self.reason_code].format(**self.reason_args)

    def as_dict(self) -> dict[str, object]:
        return {
            "recommended_cap": self.recommended_cap,
            "reason": self.reason,
            "reason_code": self.reason_code,
            "reason_args": self.reason_args,
            "csat_baseline": self.csat_baseline,
            "levels": [level.as_dict() for level in self.levels],
        }


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def level_stats(
    replies: Iterable[ReplySample], chats: Iterable[ChatSample]
) -> tuple[LevelStats, ...]:
    """Per concurrency level, what the samples say (levels with no sample are left out)."""
    by_level_replies: dict[int, list[ReplySample]] = {}
    for r in replies:
        by_level_replies.setdefault(r.concurrency, []).append(r)
    by_level_chats: dict[int, list[ChatSample]] = {}
    for c in chats:
        by_level_chats.setdefault(c.concurrency, []).append(c)
    out: list[LevelStats] = []
    for level in sorted(set(by_level_replies) | set(by_level_chats)):
        rs = by_level_replies.get(level, [])
        cs = by_level_chats.get(level, [])
        times = [r.response_s for r in rs]
        firsts = [r.response_s for r in rs if r.first]
        rated = [c.csat for c in cs if c.csat is not None]
        out.append(
            LevelStats(
                concurrency=level,
                replies=len(rs),
                response_p50_s=percentile(times, 0.5),
                response_p90_s=percentile(times, 0.9),
                first_response_p90_s=percentile(firsts, 0.9),
                chats=len(cs),
                handle_mean_s=sum(c.handle_s for c in cs) / len(cs) if cs else None,
                ratings=len(rated),
                csat_mean=sum(rated) / len(rated) if rated else None,
            )
        )
    return tuple(out)


def recommend_cap(
    replies: Iterable[ReplySample],
    chats: Iterable[ChatSample],
    *,
    response_target_s: float,
    min_replies: int = 30,
    min_ratings: int = 10,
    csat_tolerance: float = 0.2,
) -> CapRecommendation:
    """The largest concurrency whose replies' p90 stays within target and CSAT holds.

    CSAT "holds" when a level's mean is within ``csat_tolerance`` (on the 1–5 scale) of the
    baseline, the mean over levels 1 and 2; a level with too few ratings is judged on
    response time alone. A level with too few replies ends the climb: no evidence, no cap.
    """
    levels = level_stats(replies, chats)
    by_level = {level.concurrency: level for level in levels}
    base = [by_level[k] for k in (1, 2) if k in by_level and by_level[k].ratings]
    rated = sum(level.ratings for level in base)
    baseline = (
        sum((level.csat_mean or 0.0) * level.ratings for level in base) / rated if rated else None
    )
    best: int | None = None
    code = "no_evidence"
    args: dict[str, float] = {}
    for k in range(MIN_CAP, MAX_CAP + 1):
        level = by_level.get(k)
        if level is None or level.replies < min_replies:
            measured = level.replies if level else 0
            code, args = "evidence_ends", {"chats": k, "replies": measured}
            break
        p90 = level.response_p90_s
        if p90 is not None and p90 > response_target_s:
            code = "reply_over_target"
            args = {"chats": k, "p90_s": round(p90), "target_s": round(response_target_s)}
            break
        if (
            baseline is not None
            and level.csat_mean is not None
            and level.ratings >= min_ratings
            and level.csat_mean < baseline - csat_tolerance
        ):
            code = "csat_below_baseline"
            args = {"chats": k, "csat": round(level.csat_mean, 2), "baseline": round(baseline, 2)}
            break
        best = k
        code, args = "held_up_to", {"chats": k}
    return CapRecommendation(best, levels, baseline, code, args)


@dataclass(slots=True)
class AdaptiveCap:
    """Lowers one agent's effective cap while their replies slow down, restores it after.

    Each reply updates a moving average of response time; above ``slow_ratio`` × target the
    cap steps down one (not below ``floor``), below ``recover_ratio`` × target it steps back
    up one (not above the cap the supervisor set). A step waits ``hold_s`` after the last one,
    so a single slow reply does not make the cap flap.
    """

    cap: int
    target_s: float
    floor: int = 2
    slow_ratio: float = 1.2
    recover_ratio: float = 0.8
    alpha: float = 0.2
    hold_s: float = 300.0
    effective: int = field(init=False)
    average_s: float | None = field(init=False, default=None)
    last_step_at: float = field(init=False, default=-math.inf)

    def __post_init__(self) -> None:
        self.effective = self.cap

    def observe(self, response_s: float, now: float) -> int:
        """Record a reply; the effective cap after it."""
        a = self.average_s
        self.average_s = response_s if a is None else a + self.alpha * (response_s - a)
        if now - self.last_step_at < self.hold_s:
            return self.effective
        if self.average_s > self.slow_ratio * self.target_s and self.effective > self.floor:
            self.effective -= 1
            self.last_step_at = now
        elif self.average_s < self.recover_ratio * self.target_s and self.effective < self.cap:
            self.effective += 1
            self.last_step_at = now
        return self.effective


@dataclass(frozen=True, slots=True)
class BreachWarning:
    minutes_to_breach: float  # 0: the wait is already past target
    expected_wait_s: float
    agents_needed: int
    agents_now: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "minutes_to_breach": round(self.minutes_to_breach, 1),
            "expected_wait_s": round(self.expected_wait_s, 1),
            "agents_needed": self.agents_needed,
            "agents_now": self.agents_now,
        }


def breach_warning(
    *,
    queued: int,
    arrivals_per_s: float,
    agents: int,
    cap: int,
    handle_s: float,
    target_wait_s: float,
    horizon_s: float = 3600.0,
    target_service_level: float = 0.8,
) -> BreachWarning | None:
    """ "At this rate the wait passes the target in N minutes", or None when it will not.

    Fluid view of the next ``horizon_s``: the desk finishes ``agents · f(cap) / handle`` chats
    a second; what arrives beyond that piles up, and the newest visitor waits for the pile to
    clear. The agents that would prevent it: enough to drain the pile within the horizon and
    then hold the service target (the load-dependent queueing model).
    """
    pace = agents * concurrency_factor(cap) / handle_s if agents > 0 else 0.0
    wait_now = queued / pace if pace > 0 else math.inf
    growth = arrivals_per_s - pace  # chats a second the pile grows by
    if wait_now > target_wait_s:
        minutes = 0.0
    elif growth <= 0:
        return None
    else:
        seconds = (target_wait_s * pace - queued) / growth
        if seconds > horizon_s:
            return None
        minutes = seconds / 60.0
    needed = max(1, agents)
    per_agent = concurrency_factor(cap) / handle_s
    while needed < 10_000:
        drains = needed * per_agent - arrivals_per_s >= queued / horizon_s
        holds = (
            service_level(needed, arrivals_per_s, handle_s, cap, target_wait_s)
            >= target_service_level
        )
        if drains and holds:
            break
        needed += 1
    expected_wait = wait_now if math.isfinite(wait_now) else horizon_s
    return BreachWarning(minutes, expected_wait, needed, agents)
