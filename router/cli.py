"""``livedesk staffing`` and ``livedesk simulate``: argparse subcommands, stdlib only.

``chatserver/cli/main.py`` calls ``register(subparsers)``; each subcommand sets ``func`` to a
callable taking the parsed namespace and returning an exit code.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

from router.simulate import SimConfig, simulate
from router.staffing import erlang_c_staffing


def register(subparsers: Any) -> None:
    """Add ``staffing`` and ``simulate`` to an ``argparse`` subparsers object."""
    st = subparsers.add_parser(
        "staffing", help="agents needed for a service target (Erlang C for multi-chat agents)"
    )
    st.add_argument("--arrivals-per-hour", type=float, help="(required without --plan)")
    st.add_argument("--aht", type=float, help="mean handle time, seconds (default 600)")
    st.add_argument("--cap", type=int, help="chats per agent (1-10; default 5)")
    st.add_argument("--target-sl", type=float, help="share answered in time (default 0.8)")
    st.add_argument("--target-s", type=float, help="answer within, seconds (default 30)")
    st.add_argument("--max-occupancy", type=float, default=None)
    st.add_argument("--concurrency", type=float, default=None, help="override the factor")
    st.add_argument("--json", action="store_true", help="print one JSON line")
    st.set_defaults(func=run_staffing)

    sm = subparsers.add_parser("simulate", help="discrete-event simulation of the real router")
    sm.add_argument("--arrivals-per-hour", type=float, required=True)
    sm.add_argument("--agents", type=int, required=True)
    sm.add_argument("--cap", type=int, default=5)
    sm.add_argument("--aht", type=float, default=600.0, help="mean handle time, seconds")
    sm.add_argument(
        "--handle-cv", type=float, default=1.0, help="log-normal coefficient of variation"
    )
    sm.add_argument("--exponential", action="store_true", help="exponential handle times")
    sm.add_argument("--bot-deflection", type=float, default=0.0, help="share the bot resolves")
    sm.add_argument("--patience", type=float, default=None, help="mean patience, seconds")
    sm.add_argument("--hours", type=float, default=8.0)
    sm.add_argument("--answer-s", type=float, default=30.0)
    sm.add_argument("--policy", choices=("least_loaded", "round_robin"), default="least_loaded")
    sm.add_argument("--seed", type=int, default=1)
    sm.add_argument("--json", action="store_true", help="print one JSON line")
    sm.set_defaults(func=run_simulate)


def run_staffing(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if args.arrivals_per_hour is None:
        print(
            "error: --arrivals-per-hour is required (or --plan, from the history)", file=sys.stderr
        )
        return 2
    aht = args.aht if args.aht is not None else 600.0
    try:
        result = erlang_c_staffing(
            args.arrivals_per_hour / 3600.0,
            aht,
            cap=args.cap if args.cap is not None else 5,
            target_service_level=0.8 if args.target_sl is None else args.target_sl,
            target_answer_s=30.0 if args.target_s is None else args.target_s,
            max_occupancy=args.max_occupancy,
            concurrency=args.concurrency,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.as_dict(), sort_keys=True), file=out)
        return 0
    print(
        f"{args.arrivals_per_hour:g} chats/h, handle {aht:g} s, cap {result.cap} "
        f"(concurrency {result.concurrency:g})\n"
        f"  agents needed     {result.agents}\n"
        f"  service level     {result.service_level:.1%} within {result.target_answer_s:g} s "
        f"(target {result.target_service_level:.0%})\n"
        f"  average wait      {result.asa_s:.1f} s (P(wait) {result.prob_wait:.1%})\n"
        f"  occupancy         {result.occupancy:.1%}",
        file=out,
    )
    return 0


def run_simulate(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        config = SimConfig(
            arrivals_per_hour=args.arrivals_per_hour,
            agents=args.agents,
            cap=args.cap,
            mean_handle_s=args.aht,
            handle_cv=args.handle_cv,
            handle_dist="exponential" if args.exponential else "lognormal",
            bot_deflection=args.bot_deflection,
            mean_patience_s=args.patience,
            hours=args.hours,
            answer_s=args.answer_s,
            policy=args.policy,
            seed=args.seed,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = time.process_time()
    result = simulate(config)
    cpu_s = time.process_time() - started
    if args.json:
        line = result.as_dict()
        line["cpu_s"] = round(cpu_s, 3)
        print(json.dumps(line, sort_keys=True), file=out)
        return 0
    print(
        f"{config.hours:g} h, {config.agents} agents x cap {config.cap}, "
        f"{config.arrivals_per_hour:g} chats/h ({config.bot_deflection:.0%} to the bot)\n"
        f"  arrived / answered / abandoned   {result.arrived} / {result.answered} / "
        f"{result.abandoned}\n"
        f"  wait p50 / p90 / p99             {result.wait_p50_s:.1f} / {result.wait_p90_s:.1f} / "
        f"{result.wait_p99_s:.1f} s (mean {result.wait_mean_s:.1f} s)\n"
        f"  service level                    {result.service_level:.1%} within "
        f"{config.answer_s:g} s\n"
        f"  abandonment                      {result.abandon_rate:.1%}\n"
        f"  occupancy (slots)                {result.occupancy:.1%}\n"
        f"  cpu                              {cpu_s:.2f} s",
        file=out,
    )
    return 0
