"""Plain HTTP endpoints: health, metrics, visitor sessions, agent login and logout."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from chatserver.auth import (
    current_principal,
    identity_verified,
    normalise_email,
    origin_allowed,
    require_role,
    verify_password,
)
from chatserver.models import Visitor
from chatserver.protocol import ID_PATTERN
from chatserver.store import now_ms

MAX_FIELD = 200


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    state = request.app.state
    checks = {"store": bool(state.ready) and await state.store.ping(), "bus": bool(state.ready) and state.bus.healthy()}
    ok = all(checks.values())
    return JSONResponse({"ready": ok, **checks}, status_code=200 if ok else 503)


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise _bad("body must be JSON") from None
    if not isinstance(body, dict):
        raise _bad("body must be a JSON object")
    return body


class _BadRequest(Exception):
    def __init__(self, message: str) -> None:
        self.response = JSONResponse({"error": "invalid_field", "message": message}, status_code=400)


def _bad(message: str) -> _BadRequest:
    return _BadRequest(message)


def _opt_str(body: dict[str, Any], name: str, limit: int = MAX_FIELD) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _bad(f"`{name}` must be a string of at most {limit} characters")
    return value.strip() or None


async def visitor_session(request: Request) -> Response:
    """Issue (or renew) a visitor's token. The token appears in this response only."""
    state = request.app.state
    settings = state.settings
    if not origin_allowed(request, settings, for_visitor=True):
        return JSONResponse({"error": "forbidden", "message": "origin not allowed"}, status_code=403)
    try:
        body = await _json_body(request)
        site = _opt_str(body, "site", 64) or settings.site_key
        if not ID_PATTERN.match(site):
            raise _bad("`site` must be a site key")
        token = _opt_str(body, "token", 1000)
        name = _opt_str(body, "name")
        email = _opt_str(body, "email", 320)
        claimed = _opt_str(body, "identity_hash", 128)
        language = _opt_str(body, "language", 16)
    except _BadRequest as exc:
        return exc.response
    if site != settings.site_key:
        return JSONResponse({"error": "forbidden", "message": "unknown site"}, status_code=403)
    claims = state.tokens.read_visitor_token(token) if token else None
    visitor = await state.store.get_visitor(claims.visitor_id) if claims else None
    ts = now_ms()
    if visitor is None or visitor.site != site:
        visitor = Visitor(id=state.tokens.new_visitor_id(), site=site, created_ms=ts, last_seen_ms=ts)
    visitor.last_seen_ms = ts
    visitor.name = name or visitor.name
    visitor.language = language or visitor.language
    if email:
        visitor.email = email
        # Only the site's HMAC ties a visitor to a paying customer; a typed e-mail does not.
        verified = bool(claimed) and identity_verified(settings.identity_secret, email, claimed or "")
        visitor.customer_email = normalise_email(email) if verified else None
    await state.store.save_visitor(visitor)
    response = JSONResponse(
        {
            "token": state.tokens.issue_visitor_token(visitor.id, site),
            "visitor_id": visitor.id,
            "verified": visitor.customer_email is not None,
            "expires_in": settings.visitor_token_ttl_s,
        }
    )
    response.headers["cache-control"] = "no-store"
    return response


async def login(request: Request) -> Response:
    state = request.app.state
    settings = state.settings
    is_json = request.headers.get("content-type", "").startswith("application/json")
    if is_json:
        try:
            body = await _json_body(request)
        except _BadRequest as exc:
            return exc.response
    else:
        body = dict(await request.form())
    email, password = body.get("email"), body.get("password")
    agent = None
    if isinstance(email, str) and isinstance(password, str) and len(password) <= 1024:
        agent = await state.store.get_agent_by_email(email)
    # argon2 takes tens of milliseconds of CPU on purpose: keep it off the event loop.
    ok = agent is not None and await asyncio.to_thread(verify_password, agent.password_hash, password)
    if agent is None or not agent.active or not ok:
        if is_json:
            return JSONResponse({"error": "bad_login", "message": "wrong e-mail or password"}, status_code=401)
        return RedirectResponse("/login?failed=1", status_code=303)
    cookie = state.tokens.issue_session(agent.id, agent.session_version)
    if is_json:
        response: Response = JSONResponse({"agent": {"id": agent.id, "name": agent.name, "role": agent.role}})
    else:
        response = RedirectResponse("/agent", status_code=303)
    response.set_cookie(
        settings.session_cookie,
        cookie,
        max_age=settings.session_ttl_s,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return response


async def logout(request: Request) -> Response:
    state = request.app.state
    principal = await current_principal(request)
    if principal is not None:
        # Ends this agent's other sessions too: a logout should leave nothing logged in.
        await state.store.end_agent_sessions(principal.agent_id)
        state.sessions.end(principal.agent_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(state.settings.session_cookie, path="/")
    return response


async def me(request: Request) -> Response:
    principal = await require_role(request)
    return JSONResponse(
        {"id": principal.agent_id, "name": principal.name, "email": principal.email, "role": principal.role}
    )
