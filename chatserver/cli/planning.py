"""``livedesk forecast`` and ``livedesk staffing --plan``: the stored history's forecast and
the staffing plan for it (``services.planning``), printed or as CSV for a roster."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from chatserver.core.settings import get_settings


def register(sub: Any) -> None:
    fc = sub.add_parser("forecast", help="arrivals per 30 minutes for the days ahead")
    _scope(fc)
    fc.add_argument("--json", action="store_true", help="print one JSON document")
    fc.set_defaults(func=cmd_forecast)

    st = sub.choices["staffing"]
    st.add_argument(
        "--plan", action="store_true", help="per interval, for the stored history's forecast"
    )
    st.add_argument("--csv", action="store_true", help="with --plan: CSV for a roster")
    st.add_argument(
        "--scheduled",
        type=int,
        help="with --plan: agents per interval where the stored roster has none",
    )
    st.add_argument("--goal", choices=("interval", "week"), default="interval")
    st.add_argument(
        "--confidence",
        type=float,
        help="with --goal week: meet the target at this quantile of the forecast's own "
        "error (measured on the history), the plan replayed through the router (e.g. 0.8)",
    )
    _scope(st)
    router_staffing = st.get_default("func")
    st.set_defaults(func=lambda args: cmd_plan(args) if args.plan else router_staffing(args))


def _scope(p: argparse.ArgumentParser) -> None:
    p.add_argument("--days", type=int, default=7, help="days ahead (1-28)")
    p.add_argument("--team")
    p.add_argument("--lang", help="conversations in this language only")


def _check_days(days: int) -> None:
    if not 1 <= days <= 28:
        raise SystemExit("error: --days must be 1 to 28")


async def _with_store(run: Any) -> Any:
    from chatserver.backends.store import Store

    store = Store(get_settings().server.database_url)
    try:
        return await run(store)
    finally:
        await store.stop()


def cmd_forecast(args: argparse.Namespace) -> int:
    from chatserver.services import planning

    _check_days(args.days)
    settings = get_settings()

    async def run(store: Any) -> planning.LoadForecast:
        return await planning.load_forecast(
            store, settings, now_s=time.time(), days=args.days, team=args.team, language=args.lang
        )

    try:
        fc = asyncio.run(_with_store(run))
    except planning.NotEnoughHistory as exc:
        print(f"not enough history to forecast: {exc}", file=sys.stderr)
        return 3
    ahead = fc.ahead
    if args.json:
        body = fc.as_dict()
        body["intervals"] = [iv.as_dict() for iv in ahead]
        print(json.dumps(body, sort_keys=True))
        return 0
    print(
        f"forecast for {args.team or 'every team'}, {args.lang or 'every language'}: "
        f"{sum(iv.expected for iv in ahead):.0f} chats over {args.days} days "
        f"(learnt from {fc.history_days} days)"
    )
    for iv in ahead:
        if iv.expected >= 0.05:
            print(f"  {iv.as_dict()['start']}  {iv.expected:6.2f}  ({iv.low:.1f}-{iv.high:.1f})")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from chatserver.services import planning
    from router.forecast import INTERVAL_S
    from router.plan import plan_csv

    _check_days(args.days)
    if args.confidence is not None and (args.goal != "week" or not 0 < args.confidence < 1):
        raise SystemExit("error: --confidence is for --goal week, a share within (0, 1)")
    settings = get_settings()
    if args.target_sl is not None:
        settings = settings.updated({"sla_target_share": args.target_sl})
    if args.target_s is not None:
        settings = settings.updated({"sla_target_s": args.target_s})

    async def run(store: Any) -> tuple[Any, float, int, dict[int, int]]:
        now = time.time()
        fc = await planning.load_forecast(
            store,
            settings,
            now_s=now,
            days=args.days,
            team=args.team,
            language=args.lang,
            with_error=args.confidence is not None,
        )
        handle = args.aht or await planning.handle_time_s(store, settings, now)
        cap = args.cap or planning.team_cap(
            await store.list_agents(), args.team, settings.routing.default_agent_cap
        )
        ahead = fc.ahead
        roster = (
            await planning.stored_roster(
                store, args.team, ahead[0].start, ahead[-1].start + INTERVAL_S
            )
            if ahead
            else {}
        )
        return fc, handle, cap, roster

    try:
        fc, handle, cap, roster = asyncio.run(_with_store(run))
        rows = planning.plan_for(
            fc,
            settings,
            handle_s=handle,
            cap=cap,
            scheduled=args.scheduled,
            roster=roster,
            goal=args.goal,
            confidence=args.confidence,
        )
    except planning.NotEnoughHistory as exc:
        print(f"not enough history to plan: {exc}", file=sys.stderr)
        return 3
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.csv:
        sys.stdout.write(plan_csv(rows))
        return 0
    if args.json:
        print(
            json.dumps(
                {
                    "cap": cap,
                    "handle_s": round(handle, 1),
                    **({"forecast_error": fc.error.as_dict()} if fc.error else {}),
                    "plan": [r.as_dict() for r in rows],
                },
                sort_keys=True,
            )
        )
        return 0
    peak = max((r.needed for r in rows), default=0)
    print(f"cap {cap}, handle {handle:.0f} s: at most {peak} agents at once")
    for r in rows:
        if r.needed:
            short = f"  short {r.short}" if r.short else ""
            print(f"  {r.as_dict()['start']}  {r.expected:6.2f} chats  {r.needed} agents{short}")
    return 0
