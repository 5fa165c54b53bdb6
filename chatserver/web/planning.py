"""The supervisor's look ahead: the forecast beside what arrived, the staffing plan and its
CSV, the measured cap curves, and accepting a recommended cap (``services.planning``).

Supervisors only; the one POST wants the session's CSRF token like every desk POST.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chatserver.backends import roster_store
from chatserver.core.roster import RosterError, parse_roster_csv
from chatserver.live.auth import require_csrf, require_role
from chatserver.services import planning
from chatserver.web.http_body import BadRequest, json_object, read_body, require_json
from router.forecast import INTERVAL_S
from router.model import MAX_CAP, MIN_CAP
from router.plan import plan_csv

# The accepted caps are an audit record: who set which agents to what, in the log.
audit = logging.getLogger("livedesk.audit")
MAX_DAYS = 28
MAX_TEAM = 64  # the roster's team column
MAX_ROSTER_BYTES = 512 * 1024


def _json(payload: Any, status: int = 200) -> JSONResponse:
    response = JSONResponse(payload, status_code=status)
    response.headers["cache-control"] = "no-store"
    return response


def _scope(request: Request) -> tuple[int, str | None, str | None]:
    params = request.query_params
    try:
        days = int(params.get("days", "7"))
    except ValueError:
        raise HTTPException(400, "`days` is a whole number") from None
    if not 1 <= days <= MAX_DAYS:
        raise HTTPException(400, f"`days` must be 1 to {MAX_DAYS}")
    return days, params.get("team") or None, params.get("lang") or None


async def _forecast_and_plan(request: Request) -> tuple[planning.LoadForecast, dict[str, Any]]:
    state = request.app.state
    settings = state.settings
    days, team, language = _scope(request)
    now = time.time()
    try:
        fc = await planning.load_forecast(
            state.store, settings, now_s=now, days=days, team=team, language=language
        )
    except planning.NotEnoughHistory as exc:
        raise HTTPException(409, f"not enough history to forecast: {exc}") from None
    snap = state.dispatch.snapshot()
    online = sum(
        1
        for a in snap.agents
        if a.status == "online" and a.connected and (team is None or team in a.teams)
    )
    agents = await state.store.list_agents()
    cap = planning.team_cap(agents, team, settings.routing.default_agent_cap)
    handle = snap.mean_handle_s or settings.routing.default_handle_s
    ahead = fc.ahead
    roster = (
        await planning.stored_roster(
            state.store, team, ahead[0].start, ahead[-1].start + INTERVAL_S
        )
        if ahead
        else {}
    )
    rows = planning.plan_for(
        fc, settings, handle_s=handle, cap=cap, scheduled=online, roster=roster
    )
    meta = {
        "cap": cap,
        "handle_s": round(handle, 1),
        "online": online,
        # Intervals ahead the stored roster covers; the others are compared with `online`.
        "rostered": len(roster),
        "target_s": settings.dashboard.sla_target_s,
        "target_share": settings.dashboard.sla_target_share,
        "model": settings.dashboard.staffing_model,
        "plan": [r.as_dict() for r in rows],
        "_rows": rows,
    }
    return fc, meta


async def forecast(request: Request) -> Response:
    """``?days=7&team=&lang=``: intervals from today's local midnight with ``actual``
    counts up to now, and the plan for the intervals ahead against the agents online."""
    await require_role(request, "supervisor")
    fc, meta = await _forecast_and_plan(request)
    meta.pop("_rows")
    return _json({**fc.as_dict(), **meta})


async def staffing_csv(request: Request) -> Response:
    await require_role(request, "supervisor")
    fc, meta = await _forecast_and_plan(request)
    team = fc.team or "all"
    return Response(
        plan_csv(meta["_rows"]),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="livedesk-staffing-{_safe(team)}.csv"',
            "cache-control": "no-store",
        },
    )


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40]


async def caps(request: Request) -> Response:
    """The cap curves per team and per agent, with each one's recommended cap and reason."""
    await require_role(request, "supervisor")
    state = request.app.state
    report = await planning.cap_report(
        state.store,
        state.settings,
        now_s=time.time(),
        team=request.query_params.get("team") or None,
    )
    report["adaptive"] = state.settings.dashboard.adaptive_cap
    return _json(report)


async def apply_cap(request: Request) -> Response:
    """A supervisor accepts a cap: ``{"cap": n, "team": "sales"}`` (every active agent of the
    team; no team: everyone) or ``{"cap": n, "agent_ids": [..]}``. Stored, then handed to
    the router, which takes it at once for agents on the floor."""
    principal = await require_csrf(request, "supervisor")
    state = request.app.state
    try:
        require_json(request)
        body = await json_object(request)
    except BadRequest as exc:
        raise HTTPException(exc.status, exc.message) from None
    cap = body.get("cap")
    if not isinstance(cap, int) or isinstance(cap, bool) or not MIN_CAP <= cap <= MAX_CAP:
        raise HTTPException(400, f"`cap` must be a whole number {MIN_CAP} to {MAX_CAP}")
    team = body.get("team")
    ids = body.get("agent_ids")
    if team is not None and not isinstance(team, str):
        raise HTTPException(400, "`team` is a string")
    agents = [a for a in await state.store.list_agents() if a.active]
    if ids is not None:
        if not isinstance(ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids
        ):
            raise HTTPException(400, "`agent_ids` is a list of agent ids")
        chosen = [a for a in agents if a.id in set(ids)]
        if len(chosen) != len(set(ids)):
            raise HTTPException(404, "no such active agent")
    else:
        chosen = planning.team_agents(agents, team)
    if not chosen:
        raise HTTPException(404, "no active agent to apply the cap to")
    recommended = body.get("recommended")
    if recommended is not None and (
        not isinstance(recommended, int)
        or isinstance(recommended, bool)
        or not MIN_CAP <= recommended <= MAX_CAP
    ):
        raise HTTPException(400, f"`recommended` must be a whole number {MIN_CAP} to {MAX_CAP}")
    caps = {int(a.id): cap for a in chosen if a.id is not None}
    scope = "agents" if ids is not None else (f"team:{team}" if team else "everyone")
    changed = await state.store.write(
        lambda conn: roster_store.accept_caps(
            conn,
            caps,
            recommended=recommended,
            scope=scope,
            actor_id=principal.agent_id,
            actor=principal.email,
            at_ms=int(time.time() * 1000),
        )
    )
    for agent_id in caps:
        await state.dispatch.agent_changed(agent_id)
    audit.info(
        "cap %d accepted by supervisor %s for agents %s (team %s)",
        cap,
        principal.agent_id,
        sorted(caps),
        team,
    )
    return _json({"ok": True, "cap": cap, "agents": sorted(caps), "changed": changed})


async def cap_audit(request: Request) -> Response:
    """The accepted caps, latest first: who set which agent from what to what, when, and
    the cap recommended then."""
    await require_role(request, "supervisor")
    rows = await request.app.state.store.read(roster_store.cap_audit)
    return _json(
        {
            "entries": [
                {
                    "at": datetime.fromtimestamp(r["at_ms"] / 1000, UTC).isoformat(),
                    "agent_id": r["agent_id"],
                    "agent_name": r["agent_name"],
                    "before": r["cap_before"],
                    "after": r["cap_after"],
                    "recommended": r["recommended"],
                    "scope": r["scope"],
                    "actor_id": r["actor_id"],
                    "actor": r["actor"],
                }
                for r in rows
            ]
        }
    )


def _team_param(request: Request) -> str:
    team = (request.query_params.get("team") or "").strip()
    if len(team) > MAX_TEAM:
        raise HTTPException(400, f"`team` is at most {MAX_TEAM} characters")
    return team


async def get_roster(request: Request) -> Response:
    """``?team=&days=7``: the agents stored per interval from today's local midnight."""
    await require_role(request, "supervisor")
    state = request.app.state
    team = _team_param(request)
    days, _, _ = _scope(request)
    tz = planning.zone(state.settings)
    today = datetime.fromtimestamp(time.time(), tz).date()
    start = datetime.combine(today, datetime.min.time(), tz).timestamp()
    slots = await planning.stored_roster(state.store, team, start, start + days * 86400)
    return _json(
        {
            "team": team or None,
            "slots": [
                {"start": datetime.fromtimestamp(ms / 1000, UTC).isoformat(), "agents": n}
                for ms, n in sorted(slots.items())
            ],
        }
    )


async def put_roster(request: Request) -> Response:
    """A roster as CSV (``text/csv``: ``start`` and ``agents`` columns, or the staffing
    plan's own export with ``agents_scheduled`` filled in) for ``?team=``; the intervals it
    lists are replaced, the others kept."""
    principal = await require_csrf(request, "supervisor")
    state = request.app.state
    team = _team_param(request)
    if not request.headers.get("content-type", "").startswith("text/csv"):
        raise HTTPException(415, "send the roster as text/csv")
    try:
        raw = await read_body(request, MAX_ROSTER_BYTES, "the roster is too large")
    except BadRequest as exc:
        raise HTTPException(exc.status, exc.message) from None
    try:
        text = raw.decode("utf-8-sig")
        slots = parse_roster_csv(text, planning.zone(state.settings))
    except UnicodeDecodeError:
        raise HTTPException(400, "the roster is not UTF-8 text") from None
    except RosterError as exc:
        raise HTTPException(400, f"roster: {exc}") from None
    stored = await state.store.write(
        lambda conn: roster_store.put_roster(
            conn, team, slots, principal.agent_id, int(time.time() * 1000)
        )
    )
    audit.info(
        "roster of %d intervals stored by supervisor %s (team %s)",
        stored,
        principal.agent_id,
        team or "-",
    )
    return _json({"ok": True, "team": team or None, "intervals": stored})


routes: list[BaseRoute] = [
    Route("/api/desk/forecast", forecast),
    Route("/api/desk/staffing.csv", staffing_csv),
    Route("/api/desk/caps", caps),
    Route("/api/desk/caps/apply", apply_cap, methods=["POST"]),
    Route("/api/desk/caps/audit", cap_audit),
    Route("/api/desk/roster", get_roster),
    Route("/api/desk/roster", put_roster, methods=["PUT"]),
]
