"""Router decision latency with 1,000 agents (all full) and 10,000 conversations queued.

Steady state: each step closes a random active chat (the freed slot is filled from the queue
at once: one decision) and a new visitor arrives (queued: one decision), so the queue stays at
10,000. Agents have 1-2 of 3 teams and 1-2 of 4 languages; visitors have a mix of team,
language and priority, as a busy multi-team desk would.

Run: python benchmarks/router_decide.py [--agents 1000] [--queued 10000] [--steps 20000]
Prints ONE JSON line, last.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router import AgentInfo, Assigned, QueuedConversation, Router, RouterConfig  # noqa: E402

TEAMS = ["sales", "billing", "tech"]
LANGS = ["en", "de", "fr", "es"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--queued", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--cap", type=int, default=5)
    parser.add_argument("--policy", default="least_loaded")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-gc", action="store_true", help="disable the cyclic GC while timing")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    router = Router(RouterConfig(policy=args.policy, first_reply_timeout_s=None))
    now = 0.0
    for i in range(args.agents):
        teams = frozenset(rng.sample(TEAMS, rng.randint(1, 2)))
        langs = frozenset(["en", *rng.sample(LANGS[1:], rng.randint(0, 1))])
        router.agent_online(AgentInfo(id=f"a{i}", cap=args.cap, teams=teams, languages=langs), now)

    seq = 0
    active: list[str] = []

    def visitor() -> QueuedConversation:
        nonlocal seq
        seq += 1
        return QueuedConversation(
            id=f"c{seq}",
            priority=1 if rng.random() < 0.2 else 0,
            team=rng.choice([None, None, *TEAMS]),
            language="en" if rng.random() < 0.7 else rng.choice([None, *LANGS[1:]]),
            enqueued_at=now,
        )

    def track(decisions: Sequence[object]) -> None:
        for d in decisions:
            if isinstance(d, Assigned):
                active.append(d.conv_id)

    # Fill every slot, then the queue. Visitors no agent can take would pile up without
    # ever being served; the fill stops when the queue is at the target.
    setup_started = time.perf_counter()
    while len(active) < args.agents * args.cap and seq < 10 * args.agents * args.cap:
        now += 0.001
        track(router.enqueue(QueuedConversation(id=f"c{seq + 1}", enqueued_at=now), now))
        seq += 1
    while router.queued_count < args.queued:
        now += 0.001
        track(router.enqueue(visitor(), now))
    setup_s = time.perf_counter() - setup_started

    gc.collect()
    gc.freeze()
    if args.no_gc:
        gc.disable()
    release_ns: list[int] = []
    enqueue_ns: list[int] = []
    decisions = 0
    clock = time.perf_counter_ns
    tick_ns: list[int] = []
    tick_updates = 0
    for _ in range(args.steps):
        now += 0.01
        # Timers and the chunked position refresh, as the hub runs them: when due.
        deadline = router.next_deadline()
        if deadline is not None and deadline <= now:
            t0 = clock()
            out = router.tick(now)
            tick_ns.append(clock() - t0)
            tick_updates += len(out)
            track(out)
        index = rng.randrange(len(active))
        active[index], active[-1] = active[-1], active[index]
        conv_id = active.pop()
        t0 = clock()
        out = router.release(conv_id, now)
        t1 = clock()
        release_ns.append(t1 - t0)
        track(out)
        decisions += len(out)
        conv = visitor()
        t0 = clock()
        out = router.enqueue(conv, now)
        t1 = clock()
        enqueue_ns.append(t1 - t0)
        track(out)
        decisions += len(out)
        if router.queued_count < args.queued:  # the fill grabbed a conversation nobody else can
            track(router.enqueue(visitor(), now))

    both = [x / 1000 for x in release_ns + enqueue_ns]
    ticks = [x / 1000 for x in tick_ns] or [0.0]
    rel = [x / 1000 for x in release_ns]
    enq = [x / 1000 for x in enqueue_ns]
    print(
        json.dumps(
            {
                "benchmark": "router_decide",
                "agents": args.agents,
                "cap": args.cap,
                "queued": router.queued_count,
                "policy": args.policy,
                "steps": args.steps,
                "setup_s": round(setup_s, 3),
                "decision_median_us": round(percentile(both, 50), 2),
                "decision_p99_us": round(percentile(both, 99), 2),
                "decision_max_us": round(max(both), 2),
                "release_fill_median_us": round(percentile(rel, 50), 2),
                "release_fill_p99_us": round(percentile(rel, 99), 2),
                "enqueue_median_us": round(percentile(enq, 50), 2),
                "enqueue_p99_us": round(percentile(enq, 99), 2),
                "decisions_per_call": round(decisions / (2 * args.steps), 2),
                "tick_calls": len(tick_ns),
                "tick_median_us": round(percentile(ticks, 50), 2),
                "tick_p99_us": round(percentile(ticks, 99), 2),
                "tick_max_us": round(max(ticks), 2),
                "tick_updates": tick_updates,
            }
        )
    )


if __name__ == "__main__":
    main()
