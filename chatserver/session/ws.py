"""The two websocket endpoints: authenticate and check Origin before accept, then read
frames, check them, and hand them to the hub. Bad frames get an ``error`` frame and the
socket lives on; only abuse closes it."""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from chatserver.backends.store import now_ms
from chatserver.backends.visitors import new_visitor
from chatserver.core.errors import CloseCode
from chatserver.core.protocol import (
    Send,
    choose_subprotocol,
    decode,
    parse_client_frame,
    token_from_subprotocols,
)
from chatserver.core.settings import TEAM_NAME_PATTERN
from chatserver.live.auth import current_principal, origin_allowed
from chatserver.live.connection import Connection
from chatserver.runtime import metrics
from chatserver.services.hub import NEW_VISITOR, NewVisitor
from chatserver.session.loop import close, read_frames

TEAM_NAME = re.compile(TEAM_NAME_PATTERN)
log = logging.getLogger("livedesk.ws")
UNSAVED = "unsaved_visitor"  # conn.info: a visitor whose row waits for their first message


async def visitor_endpoint(ws: WebSocket) -> None:
    state = ws.app.state
    settings = state.settings
    if not origin_allowed(ws, settings, for_visitor=True):
        await ws.close(code=CloseCode.FORBIDDEN_ORIGIN)
        return
    offered: list[str] = ws.scope.get("subprotocols", [])
    token = token_from_subprotocols(offered)
    claims = state.tokens.read_visitor_token(token) if token else None
    if claims is None:
        await ws.close(code=CloseCode.UNAUTHORIZED)  # before accept: HTTP 403
        return
    limits = state.limits
    wait = limits.check(limits.sockets, ws.scope, claims.visitor_id)
    if wait:
        await _too_many(ws, wait)
        return
    visitor = await state.store.get_visitor(claims.visitor_id)
    unsaved = visitor is None
    if visitor is None and claims.site == settings.security.site_key:
        # A page view is not a use: the row is written with the first message (below).
        visitor = new_visitor(claims.visitor_id, claims.site, claims.language)
    if visitor is None or visitor.site != claims.site:
        await ws.close(code=CloseCode.UNAUTHORIZED)
        return
    visitor.last_seen_ms = now_ms()
    codec, subprotocol = choose_subprotocol(offered)
    await ws.accept(subprotocol=subprotocol)
    conn = Connection.for_settings(
        ws, codec, "visitor", visitor.id, settings, on_close=state.hub.leave_all
    )
    conn.info.update(site=visitor.site, name=visitor.name)
    # The team the embedding page sends its chats to (the widget's data-team): its business
    # hours decide whether a human may be expected, and routing offers the chat to it first.
    team = ws.query_params.get("team", "").strip()
    if TEAM_NAME.fullmatch(team):
        conn.info["team"] = team
    if unsaved:
        conn.info[UNSAVED] = visitor
    # The visitor's row is needed to attach, not for the socket's life: this frame lives
    # as long as the socket, so it must not hold the row (1-2 KB an idle socket).
    once = [visitor]
    del visitor

    async def attach() -> None:
        await state.hub.attach_visitor(conn, once.pop())

    await _serve(conn, state, attach)


async def agent_endpoint(ws: WebSocket) -> None:
    state = ws.app.state
    if not origin_allowed(ws, state.settings, for_visitor=False):
        await ws.close(code=CloseCode.FORBIDDEN_ORIGIN)
        return
    principal = await current_principal(ws)
    if principal is None:
        await ws.close(code=CloseCode.UNAUTHORIZED)
        return
    codec, subprotocol = choose_subprotocol(ws.scope.get("subprotocols", []))
    await ws.accept(subprotocol=subprotocol)
    conn = Connection.for_settings(
        ws, codec, "agent", principal, state.settings, on_close=state.hub.leave_all
    )
    state.sessions.add(principal.agent_id, conn)
    try:
        await _serve(conn, state, lambda: state.hub.attach_agent(conn, principal))
    finally:
        state.sessions.discard(principal.agent_id, conn)


async def _serve(conn: Connection, state: Any, attach: Any) -> None:
    settings = state.settings
    hub = state.hub
    conn.start()
    metrics.CONNECTIONS.labels(role=conn.role).inc()
    try:
        await attach()

        async def handle(data: bytes | str) -> None:
            frame = parse_client_frame(
                decode(data, conn.codec), conn.role, settings.limits.max_text_chars
            )
            if UNSAVED in conn.info and isinstance(frame, Send):
                await _send_first(conn, state, frame)
                return
            await hub.handle(conn, frame)

        await read_frames(conn, settings, handle)
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("socket handler failed")
        close(conn, CloseCode.INTERNAL_ERROR)
    finally:
        metrics.CONNECTIONS.labels(role=conn.role).dec()
        await hub.detach(conn)
        if conn.closed and conn.close_code is not None:
            await conn.drain()
        await conn.stop()


async def _send_first(conn: Connection, state: Any, frame: Send) -> None:
    """The visitor's first message: their row (and the page views that waited for it) is
    written in the transaction that opens their conversation, before the message. Until
    that commits the visitor stays unsaved, and their next send tries again."""
    visitor = conn.info[UNSAVED]
    rows = state.visits.first_rows(visitor)
    conn.info[NEW_VISITOR] = NewVisitor(visitor.language, rows.write, rows.held is not None)
    try:
        await state.hub.handle(conn, frame)
    finally:
        if NEW_VISITOR in conn.info:  # not written: the next send tries again
            del conn.info[NEW_VISITOR]
            state.visits.restore(rows)
        else:
            conn.info.pop(UNSAVED, None)


async def _too_many(ws: WebSocket, wait: int) -> None:
    """Refuse the handshake with 429 and Retry-After where the server lets us answer it."""
    metrics.REFUSED.labels(limit="visitor_sockets").inc()
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        headers = [(b"retry-after", str(wait).encode()), (b"content-type", b"text/plain")]
        await ws.send({"type": "websocket.http.response.start", "status": 429, "headers": headers})
        await ws.send({"type": "websocket.http.response.body", "body": b"too many sockets"})
    else:
        await ws.close(code=CloseCode.POLICY_VIOLATION)
