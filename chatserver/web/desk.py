"""Agent console and supervisor dashboard APIs: conversations (detail, customer panel,
transcripts, transfer, close, take-over), agents (list, password, deactivate), the board
and the reports, plus the supervisor socket and page.

Every route checks the role; every POST also wants the session's CSRF token in
``X-CSRF-Token`` (see ``auth.require_csrf``).
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from chatserver.backends import desk_queries as q
from chatserver.backends.mail_outbox import channel_counts, channel_counts_created
from chatserver.backends.models import OPEN_STATES, Conversation
from chatserver.backends.store import Store, now_ms
from chatserver.billing import ledger
from chatserver.core import reports
from chatserver.core.names import visitor_alias
from chatserver.core.protocol import ID_PATTERN, ProtocolError
from chatserver.live.auth import (
    Principal,
    hash_password,
    require_csrf,
    require_role,
    verify_password,
)
from chatserver.services.dashboard import board_of
from chatserver.session.supervisor_ws import supervisor_endpoint
from chatserver.web import pages
from chatserver.web.http_body import BadRequest, json_object, optional_str, require_json
from router import RouterError

MAX_NOTE = 1000
MAX_TAGS = 500
MAX_OUTCOME = 32
MIN_PASSWORD = 10
MAX_TREND_DAYS = 92


# ---------------------------------------------------------------------------- helpers


def _json(payload: Any, status: int = 200) -> JSONResponse:
    response = JSONResponse(payload, status_code=status)
    response.headers["cache-control"] = "no-store"
    return response


def _error(status: int, code: str, message: str) -> JSONResponse:
    return _json({"error": code, "message": message}, status)


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object a POST carries, read by the shared reader; its refusals become the
    desk's plain-text HTTPExceptions, like every other error here."""
    try:
        require_json(request)
        return await json_object(request)
    except BadRequest as exc:
        raise HTTPException(exc.status, exc.message) from None


def _text(body: dict[str, Any], name: str, limit: int) -> str | None:
    try:
        return optional_str(body, name, limit)
    except BadRequest as exc:
        raise HTTPException(exc.status, exc.message) from None


def _teams(text: str) -> set[str]:
    return {t.strip() for t in text.split(",") if t.strip()}


async def _conversation(request: Request) -> Conversation:
    conv_id = request.path_params["conv_id"]
    store: Store = request.app.state.store
    conv = await store.get_conversation(conv_id) if ID_PATTERN.match(conv_id) else None
    if conv is None:
        raise HTTPException(404, "no such conversation")
    return conv


async def _may_read(request: Request, principal: Principal, conv: Conversation) -> bool:
    """Supervisors: any. Agents: their own, one waiting in their team's queue, and the past
    conversations of a visitor they are talking to now (the customer panel)."""
    if principal.has_role("supervisor") or conv.agent_id == principal.agent_id:
        return True
    store = request.app.state.store
    if conv.state == "bot" and conv.team:
        agent = await store.get_agent(principal.agent_id)
        if agent is not None and conv.team in _teams(agent.teams):
            return True
    mine = await store.conversations_of_agent(principal.agent_id)
    if any(c.visitor_id == conv.visitor_id for c in mine):
        return True
    visitor = await store.get_visitor(conv.visitor_id)
    if visitor is None or visitor.customer_email is None:
        return False
    for c in mine:
        other = await store.get_visitor(c.visitor_id)
        if other is not None and other.customer_email == visitor.customer_email:
            return True
    return False


async def _readable(request: Request) -> tuple[Principal, Conversation]:
    principal = await require_role(request, "agent")
    conv = await _conversation(request)
    if not await _may_read(request, principal, conv):
        # Same answer as a missing one: ids reveal nothing.
        raise HTTPException(404, "no such conversation")
    return principal, conv


async def _writable(request: Request) -> tuple[Principal, Conversation]:
    """Changing a conversation: its agent, or a supervisor."""
    principal = await require_csrf(request, "agent")
    conv = await _conversation(request)
    if conv.agent_id != principal.agent_id and not principal.has_role("supervisor"):
        raise HTTPException(404, "no such conversation")
    return principal, conv


# ---------------------------------------------------------------------------- conversations


async def conversation_detail(request: Request) -> Response:
    """The conversation and the customer panel: who, verified or not, credits, orders,
    past conversations."""
    principal, conv = await _readable(request)
    state = request.app.state
    visitor = await state.store.get_visitor(conv.visitor_id)
    email = visitor.customer_email if visitor else None
    credits = None
    if email:
        balance = await ledger.get_balance(state.engine, email)
        credits = {"balance": balance.balance, "used": balance.used, "granted": balance.granted}

    def read(conn: Any) -> tuple[Any, ...]:
        past = q.past_conversations(conn, conv.visitor_id, email, conv.id)
        orders = q.orders_of(conn, email) if email else []
        notes = q.notes_of(conn, conv.visitor_id, email)
        counts = channel_counts(conn, conv.id)
        return past, orders, notes, q.agent_names(conn), counts

    past, orders, notes, names, counts = await state.store.read(read)
    for p in past:
        p["agent_name"] = names.get(p.pop("agent_id") or -1)
    for n in notes:
        n["author_name"] = names.get(n.pop("author_agent_id"), "?")
    return _json(
        {
            "conversation": {
                "id": conv.id,
                "state": conv.state,
                "agent_id": conv.agent_id,
                "team": conv.team,
                "language": conv.language,
                "created_ms": conv.created_ms,
                "last_seq": conv.last_seq,
                "tags": reports.split_tags(conv.tags),
                "outcome": conv.outcome,
                "channel": conv.channel,
                "messages_by_channel": counts,
            },
            "customer": {
                "visitor_id": conv.visitor_id,
                "name": visitor.name if visitor else None,
                "email": visitor.email if visitor else None,
                "verified": email is not None,
                "language": visitor.language if visitor else None,
                # The same friendly name in every conversation of an anonymous visitor.
                "alias": visitor_alias(conv.visitor_id),
                "visit": await state.visits.context(visitor) if visitor else None,
                "conversations": len(past) + 1,
                "credits": credits,
                "orders": orders,
                "past": past,
                "notes": notes,
            },
        }
    )


async def add_note(request: Request) -> Response:
    """A team note on the customer of a conversation the agent may read."""
    principal = await require_csrf(request, "agent")
    conv = await _conversation(request)
    if not await _may_read(request, principal, conv):
        raise HTTPException(404, "no such conversation")
    body = _text(await _body(request), "body", MAX_NOTE)
    if not body:
        raise HTTPException(400, "`body` must not be empty")
    store = request.app.state.store
    visitor = await store.get_visitor(conv.visitor_id)
    email = visitor.customer_email if visitor else None
    note_id = await store.write(
        lambda c: q.add_note(c, conv.visitor_id, email, principal.agent_id, body, now_ms())
    )
    return _json({"id": note_id, "body": body, "author_name": principal.name}, status=201)


async def transcript(request: Request) -> Response:
    """Stored items after ``after_seq``, as the socket's message/event frames."""
    _, conv = await _readable(request)
    try:
        after = max(0, int(request.query_params.get("after_seq", "0")))
    except ValueError:
        raise HTTPException(400, "`after_seq` must be an integer") from None
    from chatserver.core.protocol import message_frame

    rows = await request.app.state.store.messages_after(conv.id, after, 500)
    return _json({"conversation_id": conv.id, "items": [message_frame(r).body for r in rows]})


async def transfer(request: Request) -> Response:
    principal, conv = await _writable(request)
    body = await _body(request)
    to_agent, to_team = body.get("to_agent"), _text(body, "to_team", 64)
    to_queue = body.get("to_queue") is True
    if to_agent is not None and type(to_agent) is not int:
        raise HTTPException(400, "`to_agent` must be an agent id")
    if [to_agent is not None, to_team is not None, to_queue].count(True) != 1:
        raise HTTPException(400, "give exactly one of `to_agent`, `to_team` and `to_queue`")
    override = body.get("override") is True
    if override and not principal.has_role("supervisor"):
        raise HTTPException(403, "only supervisors may transfer beyond an agent's cap")
    if conv.state not in OPEN_STATES:
        return _error(409, "conversation_closed", "the conversation is closed")
    if to_agent is not None:
        refused = await _refuse_target(request, to_agent, override)
        if refused is not None:
            return refused
    try:
        await request.app.state.dispatch.transfer(
            conv.id,
            f"agent:{principal.agent_id}",
            to_agent=to_agent,
            to_team=to_team,
            note=_text(body, "note", MAX_NOTE) or "",
            override=override,
        )
    except RouterError as exc:
        return _error(409, "conflict", str(exc))
    return _json({"ok": True})


async def _refuse_target(request: Request, agent_id: int, override: bool) -> JSONResponse | None:
    """Why a colleague cannot take a chat now, said in words before the router is asked:
    away or offline (`agent_unavailable`), or full (`agent_full`, which a supervisor may
    pass with ``override`` once they have been asked)."""
    snap = {int(a.id): a for a in request.app.state.dispatch.snapshot().agents}.get(agent_id)
    if snap is None or snap.status != "online" or not snap.connected:
        agent = await request.app.state.store.get_agent(agent_id)
        if agent is None or not agent.active:
            return _error(404, "no_such_agent", "no such agent")
        status = "offline" if snap is None or not snap.connected else snap.status
        return _error(
            409, "agent_unavailable", f"{agent.name} is {status} and cannot take chats now"
        )
    if snap.load >= snap.cap and not override:
        return _error(
            409,
            "agent_full",
            f"{snap.name} already holds {snap.load:g} of {snap.cap} chats",
        )
    return None


async def close(request: Request) -> Response:
    principal, conv = await _writable(request)
    body = await _body(request)
    raw_tags = body.get("tags", [])
    if isinstance(raw_tags, str):
        raw_tags = raw_tags.split(",")
    if not isinstance(raw_tags, list) or not all(isinstance(t, str) for t in raw_tags):
        raise HTTPException(400, "`tags` must be a list of strings")
    tags = ",".join(dict.fromkeys(t.strip().lower() for t in raw_tags if t.strip()))
    if len(tags) > MAX_TAGS:
        raise HTTPException(400, f"tags may take at most {MAX_TAGS} characters")
    outcome = _text(body, "outcome", MAX_OUTCOME)
    state = request.app.state
    updated = await state.store.write(
        lambda c: q.set_close_details(c, conv.id, tags or None, outcome)
    )
    if not updated:
        return _error(409, "conversation_closed", "the conversation is closed")
    try:
        await state.hub.close_conversation(conv.id, "agent", f"agent:{principal.agent_id}")
    except ProtocolError as exc:
        return _error(409, exc.code, exc.message)
    return _json({"ok": True, "tags": reports.split_tags(tags), "outcome": outcome})


async def takeover(request: Request) -> Response:
    """A supervisor takes the conversation into their own console, beyond their cap if
    need be."""
    principal = await require_csrf(request, "supervisor")
    conv = await _conversation(request)
    if conv.state not in OPEN_STATES:
        return _error(409, "conversation_closed", "the conversation is closed")
    if conv.agent_id == principal.agent_id:
        return _json({"ok": True})
    me = {int(a.id): a for a in request.app.state.dispatch.snapshot().agents}.get(
        principal.agent_id
    )
    if me is None or not me.connected:
        return _error(
            409, "agent_unavailable", "open your console first: a chat taken over lands there"
        )
    try:
        await request.app.state.dispatch.transfer(
            conv.id,
            f"supervisor:{principal.agent_id}",
            to_agent=principal.agent_id,
            note="taken over by a supervisor",
            override=True,
        )
    except RouterError as exc:
        return _error(409, "conflict", str(exc))
    return _json({"ok": True})


# ---------------------------------------------------------------------------- agents


async def agents_list(request: Request) -> Response:
    """Colleagues to transfer to: who is online and how full."""
    await require_role(request, "agent")
    state = request.app.state
    live = {int(a.id): a for a in state.dispatch.snapshot().agents}
    out = []
    for agent in await state.store.list_agents():
        if not agent.active:
            continue
        snap = live.get(agent.id)
        out.append(
            {
                "id": agent.id,
                "name": agent.name,
                "role": agent.role,
                "teams": sorted(_teams(agent.teams)),
                "status": snap.status if snap and snap.connected else "offline",
                "load": snap.load if snap else 0,
                "cap": agent.cap,
            }
        )
    teams = sorted({t for a in out for t in a["teams"]})
    return _json({"agents": out, "teams": teams})


async def change_password(request: Request) -> Response:
    """Yourself (with your current password) or, for an admin, anyone. Every session and
    socket of that agent ends at once."""
    principal = await require_csrf(request, "agent")
    state = request.app.state
    agent_id = int(request.path_params["agent_id"])
    body = await _body(request)
    new = body.get("password")
    if not isinstance(new, str) or not MIN_PASSWORD <= len(new) <= 1024:
        raise HTTPException(400, f"`password` must be {MIN_PASSWORD} to 1024 characters")
    agent = await state.store.get_agent(agent_id)
    if agent is None:
        raise HTTPException(404, "no such agent")
    if agent_id == principal.agent_id:
        current = body.get("current_password")
        ok = isinstance(current, str) and await asyncio.to_thread(
            verify_password, agent.password_hash, current
        )
        if not ok:
            raise HTTPException(403, "the current password is wrong")
    elif not principal.has_role("admin"):
        raise HTTPException(403, "only admins may change another agent's password")
    hashed = await asyncio.to_thread(hash_password, new)
    await state.store.end_agent_sessions(agent_id, password_hash=hashed)
    ended = state.sessions.end(agent_id)
    return _json({"ok": True, "sockets_closed": ended})


async def deactivate(request: Request) -> Response:
    principal = await require_csrf(request, "admin")
    state = request.app.state
    agent_id = int(request.path_params["agent_id"])
    if agent_id == principal.agent_id:
        raise HTTPException(400, "you cannot deactivate yourself")
    if await state.store.get_agent(agent_id) is None:
        raise HTTPException(404, "no such agent")
    await state.store.end_agent_sessions(agent_id, active=False)
    ended = state.sessions.end(agent_id)
    return _json({"ok": True, "sockets_closed": ended})


# ---------------------------------------------------------------------------- board, reports


async def board(request: Request) -> Response:
    """The board as one JSON document: what the socket's first frame carries."""
    await require_role(request, "supervisor")
    return _json((await board_of(request.app.state).full_frame()).body)


def _day(text: str | None, default: date) -> date:
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise HTTPException(400, "dates are YYYY-MM-DD") from None


def _today() -> date:
    return reports.today_utc(now_ms())


async def daily_csv(request: Request) -> Response:
    """Every conversation opened on one UTC day (``?day=YYYY-MM-DD``, default today)."""
    await require_role(request, "supervisor")
    day = _day(request.query_params.get("day"), _today())
    start = reports.day_start_ms(day)

    def read(conn: Any) -> tuple[list[dict[str, Any]], dict[int, str]]:
        end = start + reports.DAY_MS
        convs = q.conversations_created(conn, start, end)
        counts = channel_counts_created(conn, start, end)
        empty = {"chat": 0, "email_in": 0, "email_out": 0}
        for c in convs:
            c["messages_by_channel"] = counts.get(c["id"], empty)
        return convs, q.agent_names(conn)

    convs, names = await request.app.state.store.read(read)
    return Response(
        reports.daily_csv(convs, names),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="livedesk-{day.isoformat()}.csv"',
            "cache-control": "no-store",
        },
    )


def _range(request: Request) -> tuple[date, date]:
    today = _today()
    first = _day(request.query_params.get("from"), today - timedelta(days=13))
    last = _day(request.query_params.get("to"), today)
    if last < first or (last - first).days >= MAX_TREND_DAYS:
        raise HTTPException(400, f"`from`..`to` must span 1 to {MAX_TREND_DAYS} days")
    return first, last


async def _closed_in(request: Request, first: date, last: date) -> list[dict[str, Any]]:
    start, end = reports.day_start_ms(first), reports.day_start_ms(last) + reports.DAY_MS
    store: Store = request.app.state.store
    return await store.read(lambda c: q.conversations_closed(c, start, end))


async def tags_report(request: Request) -> Response:
    """Conversations closed in ``from``..``to`` (UTC days, inclusive), by tag."""
    await require_role(request, "supervisor")
    first, last = _range(request)
    convs = await _closed_in(request, first, last)
    return _json(
        {"from": first.isoformat(), "to": last.isoformat(), "tags": reports.tag_breakdown(convs)}
    )


async def trend_report(request: Request) -> Response:
    """Per UTC day: closed conversations, resolution time p50/p90 and CSAT."""
    await require_role(request, "supervisor")
    first, last = _range(request)
    convs = await _closed_in(request, first, last)
    days = (last - first).days + 1
    return _json(
        {
            "from": first.isoformat(),
            "to": last.isoformat(),
            "days": reports.daily_trend(convs, first, days),
        }
    )


routes: list[BaseRoute] = [
    Route("/supervisor", pages.supervisor_page),
    Route("/api/desk/conversations/{conv_id}", conversation_detail),
    Route("/api/desk/conversations/{conv_id}/transcript", transcript),
    Route("/api/desk/conversations/{conv_id}/notes", add_note, methods=["POST"]),
    Route("/api/desk/conversations/{conv_id}/transfer", transfer, methods=["POST"]),
    Route("/api/desk/conversations/{conv_id}/close", close, methods=["POST"]),
    Route("/api/desk/conversations/{conv_id}/takeover", takeover, methods=["POST"]),
    Route("/api/desk/agents", agents_list),
    Route("/api/desk/agents/{agent_id:int}/password", change_password, methods=["POST"]),
    Route("/api/desk/agents/{agent_id:int}/deactivate", deactivate, methods=["POST"]),
    Route("/api/desk/board", board),
    Route("/api/desk/reports/daily.csv", daily_csv),
    Route("/api/desk/reports/tags", tags_report),
    Route("/api/desk/reports/trend", trend_report),
    WebSocketRoute("/ws/supervisor", supervisor_endpoint),
]
