"""A discrete-event simulation of a desk, driving the real ``Router``.

Poisson arrivals, a share deflected by the bot, log-normal (or exponential) handle times,
exponential patience for abandonment. Because the policy code under test is the production
``Router``, a planning answer from here is an answer about the code we ship.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass
from typing import Literal

from router.config import RouterConfig
from router.model import (
    MAX_CAP,
    AgentInfo,
    Assigned,
    Decision,
    Policy,
    QueuedConversation,
    validate_cap,
)
from router.router import Router
from router.staffing import CONCURRENCY_FACTOR

HandleDist = Literal["lognormal", "exponential"]

_DONE = 0
_ABANDON = 1


@dataclass(frozen=True, slots=True)
class SimConfig:
    arrivals_per_hour: float
    agents: int
    cap: int = 5
    mean_handle_s: float = 600.0
    handle_cv: float = 1.0
    handle_dist: HandleDist = "lognormal"
    bot_deflection: float = 0.0
    # None: nobody gives up.
    mean_patience_s: float | None = None
    hours: float = 8.0
    # Conversations arriving in the first share of the run are not measured: the desk
    # starts empty, which would flatter the waits.
    warmup_share: float = 0.05
    answer_s: float = 30.0
    policy: Policy = "least_loaded"
    seed: int = 1
    # Concurrent chats slow each other: a chat that starts as the agent's k-th lasts
    # k / f(k) times its single-chat handle time (f: the staffing concurrency factor), so
    # the simulator and ``erlang_c_staffing`` mean the same thing by "handle time".
    concurrency_slowdown: bool = True

    def __post_init__(self) -> None:
        validate_cap(self.cap)
        if self.arrivals_per_hour <= 0 or self.agents < 1 or self.hours <= 0:
            raise ValueError("arrivals, agents and hours must be positive")
        if self.mean_handle_s <= 0 or self.handle_cv < 0:
            raise ValueError("mean_handle_s must be positive and handle_cv not negative")
        if not 0.0 <= self.bot_deflection < 1.0 or not 0.0 <= self.warmup_share < 1.0:
            raise ValueError("bot_deflection and warmup_share must be within [0, 1)")


@dataclass(frozen=True, slots=True)
class SimResult:
    arrived: int
    deflected: int
    answered: int
    abandoned: int
    unfinished: int
    wait_mean_s: float
    wait_p50_s: float
    wait_p90_s: float
    wait_p99_s: float
    service_level: float
    abandon_rate: float
    occupancy: float
    simulated_s: float

    def as_dict(self) -> dict[str, float | int]:
        return {k: getattr(self, k) for k in self.__slots__}


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]


def simulate(config: SimConfig) -> SimResult:
    rng = random.Random(config.seed)
    router = Router(
        RouterConfig(
            policy=config.policy,
            default_cap=config.cap,
            auto_accept=True,
            language_fallback_s=None,
            first_reply_timeout_s=None,
            eager_positions=0,
            queue_refresh_s=None,
        )
    )
    for i in range(config.agents):
        router.agent_online(AgentInfo(id=f"a{i}", cap=config.cap), 0.0)

    horizon = config.hours * 3600.0
    warmup = horizon * config.warmup_share
    rate = config.arrivals_per_hour / 3600.0
    mean = config.mean_handle_s
    if config.handle_dist == "exponential":
        sigma = mu = 0.0
    else:
        sigma = math.sqrt(math.log1p(config.handle_cv**2))
        mu = math.log(mean) - sigma * sigma / 2.0
    exponential = config.handle_dist == "exponential"
    patience = config.mean_patience_s
    deflection = config.bot_deflection

    expovariate = rng.expovariate
    lognormvariate = rng.lognormvariate
    uniform = rng.random
    events: list[tuple[float, int, int]] = []  # (time, conv index, kind)
    arrival_at: dict[int, float] = {}
    measured: dict[int, bool] = {}
    waits: list[float] = []
    arrived = deflected = abandoned = 0
    busy_s = 0.0
    enqueue = router.enqueue
    release = router.release

    slowdown = [1.0] + [
        k / CONCURRENCY_FACTOR[k] if config.concurrency_slowdown else 1.0
        for k in range(1, MAX_CAP + 1)
    ]
    holder: dict[int, str] = {}
    holding: dict[str, int] = {}

    def on_decisions(decisions: list[Decision], now: float) -> None:
        nonlocal busy_s
        for d in decisions:
            if type(d) is Assigned:
                index = int(d.conv_id)
                agent = d.agent_id
                k = holding.get(agent, 0) + 1
                holding[agent] = k
                holder[index] = agent
                handle = expovariate(1.0 / mean) if exponential else lognormvariate(mu, sigma)
                handle *= slowdown[min(k, MAX_CAP)]
                heapq.heappush(events, (now + handle, index, _DONE))
                busy_s += min(handle, horizon - now)
                if measured.pop(index, False):
                    waits.append(now - arrival_at[index])
                arrival_at.pop(index, None)

    next_arrival = expovariate(rate)
    index = 0
    while True:
        if events and events[0][0] <= next_arrival:
            now, conv, kind = heapq.heappop(events)
            if now > horizon:
                break
            if kind == _DONE:
                holding[holder.pop(conv)] -= 1
                on_decisions(release(str(conv), now), now)
            elif conv in arrival_at:  # still waiting: the visitor gives up
                del arrival_at[conv]
                if measured.pop(conv, False):
                    abandoned += 1
                on_decisions(release(str(conv), now), now)
            continue
        now = next_arrival
        if now > horizon:
            break
        next_arrival = now + expovariate(rate)
        index += 1
        counted = now >= warmup
        if counted:
            arrived += 1
        if deflection and uniform() < deflection:
            if counted:
                deflected += 1
            continue
        arrival_at[index] = now
        measured[index] = counted
        if patience is not None:
            heapq.heappush(events, (now + expovariate(1.0 / patience), index, _ABANDON))
        on_decisions(enqueue(QueuedConversation(id=str(index), enqueued_at=now), now), now)

    unfinished = sum(1 for v in measured.values() if v)
    waits.sort()
    answered = len(waits)
    within = sum(1 for w in waits if w <= config.answer_s)
    human = answered + abandoned
    return SimResult(
        arrived=arrived,
        deflected=deflected,
        answered=answered,
        abandoned=abandoned,
        unfinished=unfinished,
        wait_mean_s=sum(waits) / answered if answered else 0.0,
        wait_p50_s=_percentile(waits, 0.50),
        wait_p90_s=_percentile(waits, 0.90),
        wait_p99_s=_percentile(waits, 0.99),
        service_level=within / human if human else 1.0,
        abandon_rate=abandoned / human if human else 0.0,
        occupancy=busy_s / (config.agents * config.cap * horizon),
        simulated_s=horizon,
    )
