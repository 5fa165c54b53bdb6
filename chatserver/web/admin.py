"""The admin screens: routing and business hours (settings stored in the database),
agents (cap, role, teams, languages, deactivate) and canned replies.

Every page checks the role on the server (a page a role may not see is a 403, never a
hidden link); every write goes through ``require_csrf`` (session CSRF token in
``X-CSRF-Token``, same origin) and is checked again on the server. The pages are plain
forms; ``agentdesk/static/admin.js`` sends them as JSON and says what happened.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from chatserver.backends.admin_queries import canned_replies, update_agent
from chatserver.core.settings import EDITABLE, Settings
from chatserver.live.auth import ROLES, Principal, current_principal, require_csrf
from chatserver.services.settings import Actor, InvalidSetting, LiveSettings, editable
from chatserver.web.http_body import json_object
from chatserver.web.pages import _private, _render

ADMIN = "admin"
MIN_CAP, MAX_CAP = 1, 10
NAV = (
    ("/admin/routing", "Routing and hours", ADMIN),
    ("/admin/agents", "Agents", ADMIN),
    ("/admin/canned", "Canned replies", "supervisor"),
)
# How each editable setting is entered; admin.js turns the form's text into this JSON type.
KINDS: dict[str, str] = {
    "routing_policy": "choice",
    "default_agent_cap": "int",
    "auto_accept": "bool",
    "accept_timeout_s": "number",
    "reoffer_after_s": "optional-number",
    "disconnect_grace_s": "number",
    "language_fallback_s": "optional-number",
    "first_reply_timeout_s": "optional-number",
    "business_hours": "optional-text",
    "timezone": "text",
    "holidays": "lines",
}
CHOICES = {"routing_policy": ("least_loaded", "round_robin")}
LABELS = {
    "routing_policy": "Routing policy",
    "default_agent_cap": "Default chats per agent",
    "auto_accept": "Offers are accepted automatically",
    "accept_timeout_s": "Offer answer timeout (seconds)",
    "reoffer_after_s": "Offer a passed chat again after (seconds; empty: never)",
    "disconnect_grace_s": "Disconnect grace (seconds)",
    "language_fallback_s": "Any language after (seconds; empty: never)",
    "first_reply_timeout_s": "Move a chat with no first reply after (seconds; empty: never)",
    "business_hours": "Business hours (empty: always open)",
    "timezone": "Time zone",
    "holidays": "Holidays (one ISO date a line)",
}
assert set(KINDS) == set(EDITABLE) == set(LABELS)


async def _staff_page(request: Request, role: str) -> Principal | Response:
    """The principal, or the response to send instead (login, or 403 for a lower role)."""
    principal = await current_principal(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    if not principal.has_role(role):
        return _private(
            _render(
                "forbidden.html",
                agent=principal,
                status_code=403,
                message="This page is for admins.",
            )
        )
    return principal


# What a page says after admin.js reloaded it following a write (``?done=``): a fixed
# message per code, so a link cannot make the page say anything else.
DONE = {"saved": "Saved.", "reset": "Back to the default.", "deactivated": "Deactivated."}


def _page(
    request: Request, name: str, principal: Principal, current: str, **context: Any
) -> Response:
    nav = [(href, label, href == current) for href, label, role in NAV if principal.has_role(role)]
    done = DONE.get(request.query_params.get("done", ""), "")
    return _private(
        _render(name, agent=principal, csrf=principal.csrf, nav=nav, done=done, **context)
    )


def _shown(kind: str, value: Any) -> Any:
    """A setting's value as its form control shows it."""
    if kind == "lines":
        return "\n".join(value)
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _settings_rows(live: LiveSettings) -> list[dict[str, Any]]:
    base, current = live.base, live.current
    allowed = set(editable(base))
    fields = Settings.model_fields
    return [
        {
            "name": name,
            "label": LABELS[name],
            "kind": KINDS[name],
            "choices": CHOICES.get(name, ()),
            "value": _shown(KINDS[name], getattr(current, name)),
            "env": _shown(KINDS[name], getattr(base, name)),
            "stored": name in live.stored,
            "locked": name not in allowed,
            "doc": fields[name].description or "",
        }
        for name in EDITABLE
    ]


def _audit_row(entry: dict[str, Any]) -> dict[str, Any]:
    moment = datetime.fromtimestamp(entry["at_ms"] / 1000, UTC)
    return {**entry, "iso": moment.isoformat(), "when": moment.strftime("%Y-%m-%d %H:%M UTC")}


async def routing_page(request: Request) -> Response:
    principal = await _staff_page(request, ADMIN)
    if isinstance(principal, Response):
        return principal
    live: LiveSettings = request.app.state.live_settings
    return _page(
        request,
        "admin_routing.html",
        principal,
        "/admin/routing",
        rows=_settings_rows(live),
        audit=[_audit_row(e) for e in (await live.audit())[:50]],
    )


async def save_settings(request: Request) -> Response:
    """``{"values": {name: value}, "reset": [name]}``: reset goes back to the environment's."""
    principal = await require_csrf(request, ADMIN)
    body = await json_object(request)
    values, reset = body.get("values", {}), body.get("reset", [])
    if not isinstance(values, dict) or not isinstance(reset, list):
        raise HTTPException(400, "`values` must be an object and `reset` a list")
    if not all(isinstance(n, str) for n in reset):
        raise HTTPException(400, "`reset` must list setting names")
    for value in values.values():
        if isinstance(value, float) and not math.isfinite(value):
            raise HTTPException(400, "numbers must be finite")
    live: LiveSettings = request.app.state.live_settings
    try:
        changed = await live.save(
            values, Actor(principal.agent_id, principal.email), reset=tuple(reset)
        )
    except InvalidSetting as exc:
        return JSONResponse({"error": exc.reason, "field": exc.name}, status_code=400)
    return JSONResponse({"changed": changed})


# ---------------------------------------------------------------------------- agents


async def agents_page(request: Request) -> Response:
    principal = await _staff_page(request, ADMIN)
    if isinstance(principal, Response):
        return principal
    agents = await request.app.state.store.list_agents()
    return _page(
        request,
        "admin_agents.html",
        principal,
        "/admin/agents",
        agents=agents,
        roles=ROLES,
        min_cap=MIN_CAP,
        max_cap=MAX_CAP,
    )


def _words(value: Any, field: str) -> str:
    """A comma-separated list (teams, languages) as the agents table keeps it."""
    if not isinstance(value, str) or len(value) > 400:
        raise HTTPException(400, f"`{field}` must be a comma-separated text")
    words = sorted({w.strip() for w in value.split(",") if w.strip()})
    return ",".join(words)


async def save_agent(request: Request) -> Response:
    """Change an agent's cap, role, teams or languages; routing follows at once."""
    principal = await require_csrf(request, ADMIN)
    state = request.app.state
    agent_id = int(request.path_params["agent_id"])
    body = await json_object(request)
    values: dict[str, Any] = {}
    if "cap" in body:
        cap = body["cap"]
        if not isinstance(cap, int) or isinstance(cap, bool) or not MIN_CAP <= cap <= MAX_CAP:
            raise HTTPException(400, f"`cap` must be a whole number from {MIN_CAP} to {MAX_CAP}")
        values["cap"] = cap
    if "role" in body:
        if body["role"] not in ROLES:
            raise HTTPException(400, f"`role` must be one of {', '.join(ROLES)}")
        if agent_id == principal.agent_id and body["role"] != ADMIN:
            raise HTTPException(400, "you cannot take away your own admin role")
        values["role"] = body["role"]
    for field in ("teams", "languages"):
        if field in body:
            values[field] = _words(body[field], field)
    if not values:
        raise HTTPException(400, "nothing to change")
    found = await state.store.write(lambda conn: update_agent(conn, agent_id, values))
    if not found:
        raise HTTPException(404, "no such agent")
    await state.dispatch.agent_changed(agent_id)
    return JSONResponse({"ok": True, "changed": sorted(values)})


# ---------------------------------------------------------------------------- canned replies


async def canned_page(request: Request) -> Response:
    principal = await _staff_page(request, "supervisor")
    if isinstance(principal, Response):
        return principal
    replies = await request.app.state.store.read(canned_replies)
    return _page(request, "admin_canned.html", principal, "/admin/canned", replies=replies)


async def admin_home(request: Request) -> Response:
    return RedirectResponse("/admin/routing", status_code=303)


routes = [
    Route("/admin", admin_home),
    Route("/admin/routing", routing_page),
    Route("/admin/agents", agents_page),
    Route("/admin/canned", canned_page),
    Route("/api/admin/settings", save_settings, methods=["POST"]),
    Route("/api/admin/agents/{agent_id:int}", save_agent, methods=["POST"]),
]
