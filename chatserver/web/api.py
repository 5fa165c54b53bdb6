"""Plain HTTP endpoints: health, metrics, visitor sessions, agent login and logout."""

from __future__ import annotations

import math

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from chatserver.core.protocol import unstorable_field
from chatserver.live.auth import (
    CSRF_FIELD,
    CSRF_HEADER,
    cookie_secure,
    csrf_ok,
    current_principal,
    require_role,
    same_origin_or_absent,
    session_cookie_kwargs,
    session_cookie_name,
)
from chatserver.runtime import metrics
from chatserver.runtime.workers import Busy
from chatserver.web.http_body import BadRequest, json_object


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    state = request.app.state
    checks = {
        "store": bool(state.ready) and await state.store.ping(),
        "bus": bool(state.ready) and state.bus.healthy(),
    }
    ok = all(checks.values())
    return JSONResponse({"ready": ok, **checks}, status_code=200 if ok else 503)


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def login(request: Request) -> Response:
    """E-mail and password → session cookie. There is no session yet to carry a CSRF token,
    so login CSRF (an attacker logging the victim into the attacker's account) is stopped by
    refusing any request a browser marks as cross-origin."""
    state = request.app.state
    settings = state.settings
    is_json = request.headers.get("content-type", "").startswith("application/json")
    if not same_origin_or_absent(request, settings):
        return JSONResponse(
            {"error": "forbidden", "message": "cross-origin login refused"}, status_code=403
        )
    if is_json:
        try:
            body = await json_object(request)
        except BadRequest as exc:
            return exc.response
    else:
        body = dict(await request.form())
    email, password = body.get("email"), body.get("password")
    if (
        not isinstance(email, str)
        or not isinstance(password, str)
        or len(password) > 1024
        or unstorable_field(email) is not None  # a form is not read by json_object
    ):
        return _bad_login(is_json)
    guard = state.login_guard
    address = state.limits.address(request.scope)
    wait = guard.blocked_for(address, email)
    if wait > 0:
        return _refused(is_json, 429, "too many failed logins; wait and try again", wait)
    agent = await state.store.get_agent_by_email(email)
    try:
        # argon2 takes tens of milliseconds of CPU on purpose: on its own bounded pool.
        ok = await guard.verify(agent.password_hash if agent else None, password)
    except Busy:
        return _refused(is_json, 503, "too many logins at once; try again", 1)
    if agent is None or not agent.active or not ok:
        guard.failed(address, email)
        return _bad_login(is_json)
    guard.succeeded(email)
    cookie = state.tokens.issue_session(agent.id, agent.session_version)
    if is_json:
        response: Response = JSONResponse(
            {"agent": {"id": agent.id, "name": agent.name, "role": agent.role}}
        )
    else:
        home = "/supervisor" if agent.role in ("supervisor", "admin") else "/agent"
        response = RedirectResponse(home, status_code=303)
    response.set_cookie(
        session_cookie_name(settings, request), cookie, **session_cookie_kwargs(settings, request)
    )
    response.headers["cache-control"] = "no-store"
    return response


def _bad_login(is_json: bool) -> Response:
    if is_json:
        return JSONResponse(
            {"error": "bad_login", "message": "wrong e-mail or password"}, status_code=401
        )
    return RedirectResponse("/login?failed=1", status_code=303)


def _refused(is_json: bool, status: int, message: str, wait: float) -> Response:
    """429 (back-off) or 503 (busy), with when to come back."""
    code = "rate_limited" if status == 429 else "busy"
    metrics.REFUSED.labels(limit=f"login_{code}").inc()
    response: Response
    if is_json:
        response = JSONResponse({"error": code, "message": message}, status_code=status)
    else:
        response = PlainTextResponse(message, status_code=status)
    response.headers["retry-after"] = str(max(1, math.ceil(wait)))
    return response


async def logout(request: Request) -> Response:
    """Ends every session of the agent. The console's form sends the CSRF token; a request
    with no token is accepted only from a non-browser client (no Origin, no Sec-Fetch-Site),
    which cannot be riding a victim's cookie."""
    state = request.app.state
    settings = state.settings
    if not same_origin_or_absent(request, settings):
        return PlainTextResponse("cross-origin request refused", status_code=403)
    principal = await current_principal(request)
    if principal is not None:
        presented = request.headers.get(CSRF_HEADER)
        if presented is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            field = (await request.form()).get(CSRF_FIELD)
            presented = field if isinstance(field, str) else None
        from_browser = "origin" in request.headers or "sec-fetch-site" in request.headers
        if (presented is not None or from_browser) and not csrf_ok(principal, presented):
            return PlainTextResponse("missing or wrong CSRF token", status_code=403)
        # Ends this agent's other sessions too: a logout should leave nothing logged in.
        await state.store.end_agent_sessions(principal.agent_id)
        state.sessions.end(principal.agent_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        session_cookie_name(settings, request), path="/", secure=cookie_secure(settings, request)
    )
    return response


async def me(request: Request) -> Response:
    """Who is logged in, and the CSRF token their state-changing requests must carry."""
    principal = await require_role(request)
    response = JSONResponse(
        {
            "id": principal.agent_id,
            "name": principal.name,
            "email": principal.email,
            "role": principal.role,
            "csrf": principal.csrf,
        }
    )
    response.headers["cache-control"] = "no-store"
    return response
