"""Visitor sessions and the visitor's own HTTP calls (the offline message form).

A session call is made on every page view, so it writes no row for an anonymous visitor
with nothing to keep: the token alone carries who they are (and their language), and the
row is written at first use (a message on the socket, an offline message, a pre-chat
form's name or e-mail). Both calls are rate-limited per address and per visitor."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatserver.backends.models import Visitor
from chatserver.backends.store import now_ms
from chatserver.backends.visitors import new_visitor, save_new_visitor
from chatserver.core.prechat import AnswersError, merged, parse_answers
from chatserver.core.protocol import ID_PATTERN
from chatserver.live.auth import identity_verified, normalise_email, origin_allowed
from chatserver.runtime import metrics
from chatserver.services.credits import customer_visitor_id
from chatserver.services.hub import visitor_summary
from chatserver.services.visits import valid_zone
from chatserver.web.http_body import BadRequest, json_object, optional_str

MAX_OFFLINE_TEXT = 4000
MAX_USER_AGENT = 500
visitors_t = Visitor.__table__  # type: ignore[attr-defined]


def _page(body: dict[str, Any]) -> dict[str, Any] | None:
    """The page the widget runs on: ``{"url", "title"?, "referrer"?}`` (http(s) URLs only)."""
    page = body.get("page")
    if page is None:
        return None
    if not isinstance(page, dict):
        raise BadRequest("`page` must be an object")
    url = optional_str(page, "url", 2000)
    if not url or not url.startswith(("http://", "https://")):
        raise BadRequest("`page.url` must be an http(s) URL")
    referrer = optional_str(page, "referrer", 2000)
    if referrer and not referrer.startswith(("http://", "https://")):
        referrer = None
    return {"url": url, "title": optional_str(page, "title", 300), "referrer": referrer}


def _check_origin(request: Request) -> None:
    if not origin_allowed(request, request.app.state.settings, for_visitor=True):
        raise BadRequest("origin not allowed", 403, "forbidden")


def _rate_limited(request: Request, limit: str, wait: int) -> Response:
    metrics.REFUSED.labels(limit=limit).inc()
    response = JSONResponse(
        {"error": "rate_limited", "message": "too many requests; slow down"}, status_code=429
    )
    response.headers["retry-after"] = str(wait)
    return response


async def visitor_session(request: Request) -> Response:
    """Issue (or renew) a visitor's token. The token appears in this response only."""
    state = request.app.state
    settings = state.settings
    try:
        _check_origin(request)
        body = await json_object(request)
        site = optional_str(body, "site", 64) or settings.security.site_key
        if not ID_PATTERN.match(site):
            raise BadRequest("`site` must be a site key")
        if site != settings.security.site_key:
            raise BadRequest("unknown site", 403, "forbidden")
        token = optional_str(body, "token", 1000)
        name = optional_str(body, "name")
        email = optional_str(body, "email", 320)
        claimed = optional_str(body, "identity_hash", 128)
        language = optional_str(body, "language", 16)
        page = _page(body)
        time_zone = valid_zone(optional_str(body, "time_zone", 64))
        answers = parse_answers(body.get("answers"))
    except AnswersError as exc:
        return BadRequest(str(exc)).response
    except BadRequest as exc:
        return exc.response
    user_agent = (request.headers.get("user-agent") or "")[:MAX_USER_AGENT] or None
    claims, token_status = state.tokens.check_visitor_token(token) if token else (None, None)
    if token_status == "expired" and claims is not None:
        # Too old to resume by itself; still ours, so an open conversation is carried over
        # (the same visitor), and otherwise the visitor starts afresh, told why.
        if claims.site != site or await state.store.open_conversation_of(claims.visitor_id) is None:
            claims = None
        else:
            token_status = "carried_over"
    if claims is not None and claims.site != site:
        claims, token_status = None, "invalid"
    limits = state.limits
    wait = limits.check(limits.sessions, request.scope, claims.visitor_id if claims else None)
    if wait:
        return _rate_limited(request, "visitor_sessions", wait)
    verified = bool(email and claimed) and identity_verified(
        settings.security.identity_secret, email or "", claimed or ""
    )
    if verified:
        # The site vouched for this customer: the same visitor on every device, tied to
        # their credits. A typed e-mail alone never gets here.
        customer = normalise_email(email or "")
        visitor_id: str | None = customer_visitor_id(settings.security.secret_key, customer)
    else:
        customer = None
        visitor_id = claims.visitor_id if claims and claims.site == site else None
    visitor = await state.store.get_visitor(visitor_id) if visitor_id else None
    ts = now_ms()
    if visitor is None or visitor.site != site:
        if customer is None and not name and not email and not answers:
            # Nothing to keep yet: no row (see the module's doc).
            language = language or (claims.language if claims else None)
            visitor_id = visitor_id or state.tokens.new_visitor_id()
            await state.visits.page_view(visitor_id, False, page, user_agent, time_zone)
            return _session_response(state, visitor_id, site, language, False, token_status)
        visitor = new_visitor(visitor_id or state.tokens.new_visitor_id(), site, None)
    visitor.last_seen_ms = ts
    visitor.name = name or visitor.name
    visitor.language = language or visitor.language
    if email:
        visitor.email = email
    if answers:
        visitor.answers = merged(visitor.answers, answers)
    if customer is not None:
        visitor.customer_email = customer
    await state.store.save_visitor(visitor)
    await state.visits.saved(visitor.id)
    await state.visits.page_view(visitor.id, True, page, user_agent, time_zone)
    if visitor.id in state.hub.visitors:
        # A pre-chat form filled in after the socket opened: agents see the new name.
        state.hub.visitors[visitor.id] = visitor_summary(visitor)
    return _session_response(
        state,
        visitor.id,
        site,
        visitor.language,
        visitor.customer_email is not None,
        token_status,
    )


def _session_response(
    state: Any,
    visitor_id: str,
    site: str,
    language: str | None,
    verified: bool,
    token_status: str | None,
) -> Response:
    body: dict[str, Any] = {
        "token": state.tokens.issue_visitor_token(visitor_id, site, language),
        "visitor_id": visitor_id,
        "verified": verified,
        "expires_in": state.settings.security.visitor_token_ttl_s,
    }
    if token_status is not None:
        # What became of the token presented (docs/protocol.md, "Visitor sessions"):
        # `valid`, `carried_over` (expired; its open conversation kept), `expired` or
        # `invalid` (a new visitor).
        body["token_status"] = token_status
    response = JSONResponse(body)
    response.headers["cache-control"] = "no-store"
    return response


async def offline_message(request: Request) -> Response:
    """Nobody could answer: keep the visitor's e-mail and message for the team."""
    state = request.app.state
    try:
        _check_origin(request)
        body = await json_object(request)
        token = optional_str(body, "token", 1000)
        email = optional_str(body, "email", 320)
        name = optional_str(body, "name")
        text = optional_str(body, "text", MAX_OFFLINE_TEXT)
        if not email or "@" not in email:
            raise BadRequest("`email` must be an e-mail address")
        if not text:
            raise BadRequest("`text` must not be empty")
    except BadRequest as exc:
        return exc.response
    claims = state.tokens.read_visitor_token(token) if token else None
    if claims is None or claims.site != state.settings.security.site_key:
        return JSONResponse({"error": "forbidden", "message": "unknown visitor"}, status_code=403)
    limits = state.limits
    wait = limits.check(limits.offline, request.scope, claims.visitor_id)
    if wait:
        return _rate_limited(request, "offline_messages", wait)
    visitor = await state.store.get_visitor(claims.visitor_id)
    if visitor is None:
        # First use: the row is written now.
        visitor = new_visitor(claims.visitor_id, claims.site, claims.language)
        visitor.name, visitor.email = name, email
        await save_new_visitor(state.store, visitor)
        await state.visits.saved(visitor.id)
    elif visitor.site != claims.site:
        return JSONResponse({"error": "forbidden", "message": "unknown visitor"}, status_code=403)
    # A conversation in the inbox (state `offline`), never a row nothing reads.
    await state.inbox.offline_message(visitor, name, email, text)
    return JSONResponse({"ok": True})


async def widget_config(request: Request) -> Response:
    """The widget's look as the admins saved it (``WIDGET_LOOK``): the widget asks once as
    it starts and uses what its embed tag does not set. Public, like the bundle."""
    look = request.app.state.live_settings.current.admin.widget_look
    body = look.model_dump(mode="json", exclude_none=True)
    return JSONResponse(body, headers={"cache-control": "public, max-age=30"})


routes = [
    Route("/api/visitor/session", visitor_session, methods=["POST"]),
    Route("/api/widget/config", widget_config, methods=["GET"]),
    Route("/api/visitor/offline", offline_message, methods=["POST"]),
]
