"""Simulator throughput: simulated conversations per CPU-second, driving the real Router.

A busy desk's day scaled to 1,000,000 arrivals in 24 h: 20 % resolved by the bot, 5-minute
mean patience, 10-minute log-normal handle times, and as many agents of cap 5 as Erlang C
staffs for 80 % answered in 30 s. By default a slice of the day is simulated and the full
day extrapolated; ``--hours 24`` runs all of it.

Run: python benchmarks/simulate.py [--hours 4]
Prints ONE JSON line, last.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router import SimConfig, erlang_c_staffing, simulate  # noqa: E402

DAY_CONVERSATIONS = 1_000_000
BOT_SHARE = 0.2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--agents", type=int, default=None, help="default: Erlang C staffing")
    parser.add_argument("--cap", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    arrivals_per_hour = DAY_CONVERSATIONS / 24
    staffed = erlang_c_staffing(arrivals_per_hour * (1 - BOT_SHARE) / 3600, 600, cap=args.cap)
    agents = args.agents or staffed.agents
    config = SimConfig(
        arrivals_per_hour=arrivals_per_hour,
        agents=agents,
        cap=args.cap,
        mean_handle_s=600,
        handle_cv=1.0,
        bot_deflection=BOT_SHARE,
        mean_patience_s=300,
        hours=args.hours,
        warmup_share=0.0,
        seed=args.seed,
    )
    started = time.process_time()
    result = simulate(config)
    cpu_s = time.process_time() - started
    per_cpu_s = result.arrived / cpu_s
    print(
        json.dumps(
            {
                "benchmark": "simulate",
                "simulated_hours": args.hours,
                "agents": agents,
                "erlang_c_agents": staffed.agents,
                "erlang_c_service_level": round(staffed.service_level, 4),
                "cap": args.cap,
                "conversations": result.arrived,
                "cpu_s": round(cpu_s, 3),
                "conversations_per_cpu_s": round(per_cpu_s),
                "million_day_extrapolated_s": round(DAY_CONVERSATIONS / per_cpu_s, 1),
                "wait_p50_s": round(result.wait_p50_s, 2),
                "wait_p90_s": round(result.wait_p90_s, 2),
                "wait_p99_s": round(result.wait_p99_s, 2),
                "service_level": round(result.service_level, 4),
                "abandon_rate": round(result.abandon_rate, 4),
                "occupancy": round(result.occupancy, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
