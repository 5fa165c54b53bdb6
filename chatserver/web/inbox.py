"""The inbox's HTTP API: the views (Mine, Waiting, All open, Offline messages, Closed) with
their filters and counts, any conversation opened in full, and the actions on it (take,
pick, assign, reply to an offline message, close).

Reads check the role with ``inbox_queries.visible_where`` — one rule for lists and for
single conversations; every POST wants the CSRF token (``auth.require_csrf``).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chatserver.backends import inbox_queries as iq
from chatserver.backends.models import OPEN_STATES, Conversation
from chatserver.backends.search_queries import COUNT_CAP
from chatserver.core import reports
from chatserver.core.names import visitor_alias
from chatserver.core.protocol import ID_PATTERN, ProtocolError, message_frame
from chatserver.live.auth import Principal, require_csrf, require_role
from chatserver.services.inbox import Inbox, InboxRefused
from chatserver.web.http_body import BadRequest, json_object, optional_str, require_json

MAX_REPLY = 4000
MAX_QUERY = 200


def _json(payload: Any, status: int = 200) -> JSONResponse:
    response = JSONResponse(payload, status_code=status)
    response.headers["cache-control"] = "no-store"
    return response


def _error(status: int, code: str, message: str) -> JSONResponse:
    return _json({"error": code, "message": message}, status)


def _teams(text: str) -> frozenset[str]:
    return frozenset(t.strip() for t in text.split(",") if t.strip())


async def _reader(request: Request, principal: Principal, view: str = "all") -> iq.Filters:
    agent = await request.app.state.store.get_agent(principal.agent_id)
    return iq.Filters(
        view=view,
        me=principal.agent_id,
        supervisor=principal.has_role("supervisor"),
        teams=_teams(agent.teams) if agent else frozenset(),
    )


def _int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise HTTPException(400, f"`{name}` must be an integer") from None


def _day_ms(request: Request, name: str, *, end: bool = False) -> int | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        start = reports.day_start_ms(date.fromisoformat(raw))
    except ValueError:
        raise HTTPException(400, "dates are YYYY-MM-DD") from None
    return start + reports.DAY_MS if end else start


async def counts(request: Request) -> Response:
    principal = await require_role(request, "agent")
    f = await _reader(request, principal)
    found = await request.app.state.store.read(lambda c: iq.counts(c, f.me, f.supervisor, f.teams))
    return _json({"counts": found})


async def list_view(request: Request) -> Response:
    """``?view=mine|waiting|open|offline|closed`` and filters ``state``, ``agent``, ``team``,
    ``language``, ``tag``, ``from``/``to`` (UTC days), ``paying`` (true/false), ``offset``,
    ``limit``; longest waiting first."""
    principal = await require_role(request, "agent")
    params = request.query_params
    view = params.get("view", "mine")
    if view not in iq.VIEWS:
        raise HTTPException(400, f"`view` is one of {', '.join(iq.VIEWS)}")
    if view == "open" and not principal.has_role("supervisor"):
        raise HTTPException(403, "All open is for supervisors")
    paying_raw = params.get("paying")
    if paying_raw not in (None, "", "true", "false"):
        raise HTTPException(400, "`paying` is true or false")
    base = await _reader(request, principal, view)
    f = iq.Filters(
        view=view,
        me=base.me,
        supervisor=base.supervisor,
        teams=base.teams,
        state=params.get("state") or None,
        agent_id=_int(request, "agent"),
        team=params.get("team") or None,
        language=params.get("language") or None,
        tag=(params.get("tag") or "").strip().lower() or None,
        since_ms=_day_ms(request, "from"),
        until_ms=_day_ms(request, "to", end=True),
        paying=None if not paying_raw else paying_raw == "true",
        offset=max(0, _int(request, "offset") or 0),
        limit=max(1, min(iq.PAGE_MAX, _int(request, "limit") or 50)),
    )
    store = request.app.state.store

    def read(conn: Any) -> tuple[list[dict[str, Any]], int, dict[int, str]]:
        from chatserver.backends.desk_queries import agent_names

        rows, total = iq.list_view(conn, f)
        return rows, total, agent_names(conn)

    rows, total, names = await store.read(read)
    dispatch = request.app.state.dispatch
    for r in rows:
        # When it came in, relative to its team's business hours (a team without hours of
        # its own: the desk's; None: no hours configured).
        moment = datetime.fromtimestamp(r["created_ms"] / 1000, tz=UTC)
        r["in_hours"] = dispatch.open_at(moment, r.get("team"))
        r["agent_name"] = names.get(r["agent_id"]) if r["agent_id"] is not None else None
        r["tags"] = reports.split_tags(r["tags"])
        r["paying"] = bool(r["paying"])
        r["alias"] = visitor_alias(r["visitor_id"])
    return _json({"view": view, "items": rows, "total": total, "offset": f.offset})


async def search(request: Request) -> Response:
    """``?q=…&kind=messages|customers&offset=&limit=``: full-text search over what the
    reader may read, newest first; each hit has a ``snippet`` ``{text, highlights}`` with
    highlights as ``[start, end)`` ranges into ``text``."""
    principal = await require_role(request, "agent")
    q = (request.query_params.get("q") or "").strip()
    if not q or len(q) > MAX_QUERY:
        raise HTTPException(400, f"`q` must be 1 to {MAX_QUERY} characters")
    kind = request.query_params.get("kind", "messages")
    if kind not in ("messages", "customers"):
        raise HTTPException(400, "`kind` is messages or customers")
    base = await _reader(request, principal)
    f = iq.Filters(
        view="all",
        me=base.me,
        supervisor=base.supervisor,
        teams=base.teams,
        offset=max(0, _int(request, "offset") or 0),
        limit=max(1, min(iq.PAGE_MAX, _int(request, "limit") or 20)),
    )
    items, total = await request.app.state.search.search(q, kind, f)
    # The search counts up to the cap or the end of this page, and one past it.
    counted = max(COUNT_CAP, f.offset + f.limit)
    capped = total > counted
    return _json(
        {
            "kind": kind,
            "items": items,
            "total": min(total, counted),
            "total_is_lower_bound": capped,
            "offset": f.offset,
        }
    )


async def _visible(request: Request, principal: Principal) -> Conversation:
    conv_id = request.path_params["conv_id"]
    if not ID_PATTERN.match(conv_id):
        raise HTTPException(404, "no such conversation")
    f = await _reader(request, principal)
    t = iq.conversations_t

    def read(conn: Any) -> dict[str, Any] | None:
        row = conn.execute(sa.select(t).where(t.c.id == conv_id).where(iq.visible_where(f))).first()
        return dict(row._mapping) if row else None

    row = await request.app.state.store.read(read)
    if row is None:
        # Same answer as a missing one: ids reveal nothing.
        raise HTTPException(404, "no such conversation")
    return Conversation.model_validate(row)


async def detail(request: Request) -> Response:
    """Everything about one conversation: state, who handled it, tags, CSAT and its
    comment, credits used, the offline e-mail, the state changes, the whole transcript."""
    principal = await require_role(request, "agent")
    conv = await _visible(request, principal)
    store = request.app.state.store

    def read(conn: Any) -> tuple[Any, ...]:
        from chatserver.backends.desk_queries import agent_names

        return (
            iq.events_of(conn, conv.id),
            iq.credits_used(conn, conv.id),
            iq.offline_email(conn, conv.id),
            agent_names(conn),
        )

    events, used, email, names = await store.read(read)
    for e in events:
        e["detail"] = json.loads(e["detail"]) if e["detail"] else None
    handled = sorted(
        {
            names.get(int(e["actor"].split(":")[1]), "?")
            for e in events
            if e["actor"].startswith("agent:") and e["actor"].split(":")[1].isdigit()
        }
        | ({names.get(conv.agent_id, "?")} if conv.agent_id is not None else set())
    )
    rows = await store.messages_after(conv.id, 0, 1000)
    visitor = await store.get_visitor(conv.visitor_id)
    return _json(
        {
            "conversation": {
                "id": conv.id,
                "state": conv.state,
                "agent_id": conv.agent_id,
                "agent_name": names.get(conv.agent_id) if conv.agent_id else None,
                "handled_by": handled,
                "team": conv.team,
                "language": conv.language,
                "created_ms": conv.created_ms,
                "closed_ms": conv.closed_ms,
                "tags": reports.split_tags(conv.tags),
                "outcome": conv.outcome,
                "csat_score": conv.csat_score,
                "csat_comment": conv.csat_comment,
                "credits_used": used,
                "email": email or (visitor.email if visitor else None),
                "visitor_id": conv.visitor_id,
                "visitor_name": visitor.name if visitor else None,
                "alias": visitor_alias(conv.visitor_id),
            },
            "visit": await request.app.state.visits.context(visitor) if visitor else None,
            "events": events,
            "items": [message_frame(r).body for r in rows],
        }
    )


async def _body(request: Request) -> dict[str, Any]:
    try:
        require_json(request)
        return await json_object(request)
    except BadRequest as exc:
        raise HTTPException(exc.status, exc.message) from None


def _refused(exc: InboxRefused) -> JSONResponse:
    return _error(409, exc.code, exc.message)


async def take(request: Request) -> Response:
    """A closed chat or an offline message: reopened, routed, and to this agent if the
    router finds them room. A waiting chat: picked (within the cap)."""
    principal = await require_csrf(request, "agent")
    conv = await _visible(request, principal)
    inbox: Inbox = request.app.state.inbox
    actor = f"agent:{principal.agent_id}"
    try:
        if conv.state in iq.REOPENABLE:
            await inbox.take(conv, principal.agent_id, actor)
        elif conv.state == "bot":
            await inbox.pick(conv, principal.agent_id, actor)
        else:
            return _error(409, "not_waiting", "this chat is already with an agent")
    except InboxRefused as exc:
        return _refused(exc)
    return _json({"ok": True})


async def assign(request: Request) -> Response:
    """A supervisor gives an offline message or a waiting chat to an agent (``agent_id``;
    null un-assigns an offline message). A live chat goes through the router: never past
    the agent's cap."""
    principal = await require_csrf(request, "supervisor")
    conv = await _visible(request, principal)
    body = await _body(request)
    agent_id = body.get("agent_id")
    if agent_id is not None and type(agent_id) is not int:
        raise HTTPException(400, "`agent_id` must be an agent id or null")
    if agent_id is not None and await request.app.state.store.get_agent(agent_id) is None:
        return _error(404, "no_such_agent", "no such agent")
    inbox: Inbox = request.app.state.inbox
    actor = f"supervisor:{principal.agent_id}"
    try:
        if conv.state == iq.OFFLINE:
            await inbox.assign_offline(conv, agent_id, actor)
        elif conv.state == "bot" and agent_id is not None:
            await inbox.pick(conv, agent_id, actor)
        else:
            return _error(409, "not_assignable", "only offline messages and waiting chats")
    except InboxRefused as exc:
        return _refused(exc)
    return _json({"ok": True})


async def reply(request: Request) -> Response:
    """An answer to an offline message, stored as the agent's message (e-mailed by the
    mail sender); the conversation is assigned to the one who answers."""
    principal = await require_csrf(request, "agent")
    conv = await _visible(request, principal)
    try:
        text = optional_str(await _body(request), "text", MAX_REPLY)
    except BadRequest as exc:
        raise HTTPException(exc.status, exc.message) from None
    if not text or not text.strip():
        raise HTTPException(400, "`text` must not be empty")
    inbox: Inbox = request.app.state.inbox
    try:
        seq = await inbox.reply_offline(conv, principal.agent_id, principal.name, text)
    except InboxRefused as exc:
        return _refused(exc)
    return _json({"ok": True, "seq": seq}, status=201)


async def close(request: Request) -> Response:
    """Close an offline message (answered, or nothing to answer). Live chats close from
    the console (``/api/desk/conversations/{id}/close``)."""
    principal = await require_csrf(request, "agent")
    conv = await _visible(request, principal)
    if conv.state in OPEN_STATES:
        return _error(409, "live_chat", "close a live chat from its console tab")
    if conv.state != iq.OFFLINE:
        return _error(409, "conversation_closed", "the conversation is closed")
    try:
        await request.app.state.hub.close_conversation(
            conv.id, "agent", f"agent:{principal.agent_id}"
        )
    except ProtocolError as exc:
        return _error(409, exc.code, exc.message)
    return _json({"ok": True})


routes: list[BaseRoute] = [
    Route("/api/inbox", list_view),
    Route("/api/inbox/counts", counts),
    Route("/api/inbox/search", search),
    Route("/api/inbox/{conv_id}", detail),
    Route("/api/inbox/{conv_id}/take", take, methods=["POST"]),
    Route("/api/inbox/{conv_id}/assign", assign, methods=["POST"]),
    Route("/api/inbox/{conv_id}/reply", reply, methods=["POST"]),
    Route("/api/inbox/{conv_id}/close", close, methods=["POST"]),
]
