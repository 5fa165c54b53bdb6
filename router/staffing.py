"""Erlang C for agents who hold several chats at once.

Planners model an agent with cap ``c`` as one server that works ``f(c)`` times faster than a
single-chat agent: the effective handle time is AHT / f(c). The factor is below ``c`` because
concurrent chats slow each other down. The table's 1–5 values are the industry rule of thumb;
above 5 each extra chat is assumed to add less (diminishing returns), ending at 5.0 for 10.
Rigorous models: Tezcan & Zhang (2014), Long, Tezcan & Zhang (2024).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from router.model import validate_cap

CONCURRENCY_FACTOR: dict[int, float] = {
    1: 1.0,
    2: 1.7,
    3: 2.5,
    4: 2.9,
    5: 3.5,
    6: 3.9,
    7: 4.25,
    8: 4.55,
    9: 4.8,
    10: 5.0,
}


def concurrency_factor(cap: int) -> float:
    return CONCURRENCY_FACTOR[validate_cap(cap)]


def erlang_b(servers: int, traffic: float) -> float:
    """Blocking probability, by the stable recursion B(k) = A·B(k-1) / (k + A·B(k-1))."""
    if servers < 0 or traffic < 0:
        raise ValueError("servers and traffic must not be negative")
    b = 1.0
    for k in range(1, servers + 1):
        b = traffic * b / (k + traffic * b)
    return b


def erlang_c(servers: int, traffic: float) -> float:
    """Probability an arrival waits (M/M/n). 1.0 when the system is overloaded."""
    if servers <= traffic:
        return 1.0
    b = erlang_b(servers, traffic)
    return servers * b / (servers - traffic * (1.0 - b))


@dataclass(frozen=True, slots=True)
class StaffingResult:
    agents: int
    cap: int
    concurrency: float
    traffic_erlangs: float
    prob_wait: float
    asa_s: float
    service_level: float
    occupancy: float
    target_answer_s: float
    target_service_level: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "agents": self.agents,
            "cap": self.cap,
            "concurrency": self.concurrency,
            "traffic_erlangs": round(self.traffic_erlangs, 4),
            "prob_wait": round(self.prob_wait, 6),
            "asa_s": round(self.asa_s, 3),
            "service_level": round(self.service_level, 6),
            "occupancy": round(self.occupancy, 6),
            "target_answer_s": self.target_answer_s,
            "target_service_level": self.target_service_level,
        }


def erlang_c_metrics(
    agents: int,
    arrivals_per_s: float,
    handle_s: float,
    cap: int = 1,
    answer_s: float = 30.0,
    concurrency: float | None = None,
) -> tuple[float, float, float, float]:
    """(prob_wait, ASA seconds, service level within ``answer_s``, occupancy) for ``agents``."""
    f = concurrency if concurrency is not None else concurrency_factor(cap)
    service_s = handle_s / f
    traffic = arrivals_per_s * service_s
    if agents <= traffic:
        return 1.0, math.inf, 0.0, 1.0
    pw = erlang_c(agents, traffic)
    asa = pw * service_s / (agents - traffic)
    sl = 1.0 - pw * math.exp(-(agents - traffic) * answer_s / service_s)
    return pw, asa, sl, traffic / agents


def erlang_c_staffing(
    arrivals_per_s: float,
    handle_s: float,
    cap: int = 5,
    target_service_level: float = 0.8,
    target_answer_s: float = 30.0,
    max_occupancy: float | None = None,
    concurrency: float | None = None,
) -> StaffingResult:
    """The fewest agents that answer ``target_service_level`` within ``target_answer_s``."""
    if arrivals_per_s < 0 or handle_s <= 0:
        raise ValueError("arrivals must not be negative and handle time must be positive")
    if not 0.0 < target_service_level < 1.0:
        raise ValueError("target_service_level must be within (0, 1)")
    f = concurrency if concurrency is not None else concurrency_factor(cap)
    service_s = handle_s / f
    traffic = arrivals_per_s * service_s
    agents = max(1, math.floor(traffic) + 1)
    while True:
        pw, asa, sl, occ = erlang_c_metrics(
            agents, arrivals_per_s, handle_s, cap, target_answer_s, f
        )
        if sl >= target_service_level and (max_occupancy is None or occ <= max_occupancy):
            return StaffingResult(
                agents=agents,
                cap=cap,
                concurrency=f,
                traffic_erlangs=traffic,
                prob_wait=pw,
                asa_s=asa,
                service_level=sl,
                occupancy=occ,
                target_answer_s=target_answer_s,
                target_service_level=target_service_level,
            )
        agents += 1
