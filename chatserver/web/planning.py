"""The supervisor's look ahead: the forecast beside what arrived, the staffing plan and its
CSV, the measured cap curves, and accepting a recommended cap (``services.planning``).

Supervisors only; the one POST wants the session's CSRF token like every desk POST.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chatserver.live.auth import require_csrf, require_role
from chatserver.services import planning
from chatserver.web.http_body import BadRequest, json_object, require_json
from router.model import MAX_CAP, MIN_CAP
from router.plan import plan_csv

# The accepted caps are an audit record: who set which agents to what, in the log.
audit = logging.getLogger("livedesk.audit")
MAX_DAYS = 28


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
    cap = planning.team_cap(agents, team, settings.default_agent_cap)
    handle = snap.mean_handle_s or settings.default_handle_s
    rows = planning.plan_for(fc, settings, handle_s=handle, cap=cap, scheduled=online)
    meta = {
        "cap": cap,
        "handle_s": round(handle, 1),
        "online": online,
        "target_s": settings.sla_target_s,
        "target_share": settings.sla_target_share,
        "model": settings.staffing_model,
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
    report["adaptive"] = state.settings.adaptive_cap
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
    caps = {int(a.id): cap for a in chosen if a.id is not None}
    await state.store.set_agent_caps(caps)
    for agent_id in caps:
        await state.dispatch.agent_changed(agent_id)
    audit.info(
        "cap %d accepted by supervisor %s for agents %s (team %s)",
        cap,
        principal.agent_id,
        sorted(caps),
        team,
    )
    return _json({"ok": True, "cap": cap, "agents": sorted(caps)})


routes: list[BaseRoute] = [
    Route("/api/desk/forecast", forecast),
    Route("/api/desk/staffing.csv", staffing_csv),
    Route("/api/desk/caps", caps),
    Route("/api/desk/caps/apply", apply_cap, methods=["POST"]),
]
