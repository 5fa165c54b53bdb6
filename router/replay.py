"""Replay given arrivals against a roster that changes per interval, through the real Router.

Where ``simulate`` asks "what does a steady desk do", this asks "what would this staffing
plan have given on these arrivals": agents come on shift (online) and go off (away: they
finish their chats and take no new ones) at interval boundaries. Stdlib only.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from router.config import RouterConfig
from router.model import MAX_CAP, AgentInfo, Assigned, Decision, QueuedConversation
from router.router import Router
from router.staffing import CONCURRENCY_FACTOR


@dataclass(frozen=True, slots=True)
class ReplayResult:
    arrived: int
    answered: int
    within_target: int
    unanswered: int
    service_level: float
    per_interval_service_level: tuple[float | None, ...]

    def as_dict(self) -> dict[str, float | int]:
        return {
            "arrived": self.arrived,
            "answered": self.answered,
            "within_target": self.within_target,
            "unanswered": self.unanswered,
            "service_level": round(self.service_level, 4),
        }


def replay(
    arrivals: Sequence[float],
    *,
    start: float,
    interval_s: float,
    agents_per_interval: Sequence[int],
    cap: int,
    mean_handle_s: float,
    handle_cv: float = 1.0,
    answer_s: float = 30.0,
    seed: int = 1,
) -> ReplayResult:
    """Service level of a roster on these arrivals (sorted epoch seconds within the plan)."""
    rng = random.Random(seed)
    sigma = math.sqrt(math.log1p(handle_cv**2))
    mu = math.log(mean_handle_s) - sigma * sigma / 2.0
    # The same slowdown as ``simulate``: a chat taken as the agent's k-th lasts k / f(k).
    slowdown = [1.0] + [k / CONCURRENCY_FACTOR[k] for k in range(1, MAX_CAP + 1)]
    router = Router(
        RouterConfig(
            default_cap=cap,
            auto_accept=True,
            language_fallback_s=None,
            first_reply_timeout_s=None,
            eager_positions=0,
            queue_refresh_s=None,
        )
    )
    pool = max(agents_per_interval, default=0)
    for i in range(pool):
        router.agent_online(AgentInfo(id=f"a{i}", cap=cap), start)
        router.agent_status(f"a{i}", "away", start)

    end = start + interval_s * len(agents_per_interval)
    shift, done, arrive = 0, 1, 2  # at one instant: shifts change first, then chats end
    arrived_in: list[tuple[float, int]] = [
        (t, index) for index, t in enumerate(arrivals) if start <= t < end
    ]
    agenda: list[tuple[float, int, int, int]] = []  # (time, kind, conv or interval, tiebreak)
    seq = 0
    for t, index in arrived_in:
        agenda.append((t, arrive, index, seq))
        seq += 1
    for i in range(len(agents_per_interval)):
        agenda.append((start + i * interval_s, shift, i, seq))
        seq += 1
    heapq.heapify(agenda)
    arrival_at: dict[int, float] = {}
    waits: dict[int, float] = {}
    holder: dict[int, str] = {}
    holding: dict[str, int] = {}
    on_shift = 0

    def carry_out(decisions: list[Decision], now: float) -> None:
        nonlocal seq
        for d in decisions:
            if type(d) is Assigned:
                conv = int(d.conv_id)
                k = holding.get(d.agent_id, 0) + 1
                holding[d.agent_id] = k
                holder[conv] = d.agent_id
                handle = rng.lognormvariate(mu, sigma) * slowdown[min(k, MAX_CAP)]
                heapq.heappush(agenda, (now + handle, done, conv, seq))
                seq += 1
                waits[conv] = now - arrival_at.pop(conv)

    while agenda:
        now, kind, idx, _ = heapq.heappop(agenda)
        if kind == shift:
            want = agents_per_interval[idx]
            while on_shift < want:
                carry_out(router.agent_status(f"a{on_shift}", "online", now), now)
                on_shift += 1
            while on_shift > want:
                on_shift -= 1
                carry_out(router.agent_status(f"a{on_shift}", "away", now), now)
        elif kind == arrive:
            arrival_at[idx] = now
            carry_out(router.enqueue(QueuedConversation(id=str(idx), enqueued_at=now), now), now)
        else:
            holding[holder.pop(idx)] -= 1
            carry_out(router.release(str(idx), now), now)
        if now > end + 86400:  # a roster that never drains: stop a day after it ends
            break

    arrived = len(arrived_in)
    within = sum(1 for w in waits.values() if w <= answer_s)
    per: list[list[int]] = [[0, 0] for _ in agents_per_interval]
    for t, idx in arrived_in:
        slot = min(len(per) - 1, int((t - start) // interval_s))
        per[slot][0] += 1
        w = waits.get(idx)
        if w is not None and w <= answer_s:
            per[slot][1] += 1
    return ReplayResult(
        arrived=arrived,
        answered=len(waits),
        within_target=within,
        unanswered=arrived - len(waits),
        service_level=within / arrived if arrived else 1.0,
        per_interval_service_level=tuple(w / n if n else None for n, w in per),
    )


def poisson_arrivals(
    rate_per_s: Callable[[float], float],
    *,
    start: float,
    end: float,
    max_rate_per_s: float,
    rng: random.Random,
) -> list[float]:
    """Arrival times of a Poisson process whose rate changes with time (Lewis thinning)."""
    if max_rate_per_s <= 0:
        return []
    out: list[float] = []
    t = start
    while True:
        t += rng.expovariate(max_rate_per_s)
        if t >= end:
            return out
        rate = rate_per_s(t)
        if rate > max_rate_per_s:
            raise ValueError("rate_per_s exceeded max_rate_per_s")
        if rng.random() * max_rate_per_s < rate:
            out.append(t)
