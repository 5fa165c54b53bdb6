"""``/ws/supervisor``: the live board, and silent monitoring of any conversation.

Authenticated like ``/ws/agent`` (session cookie, the hub's own Origin), supervisors and
admins only, refused before accept (HTTP 403). It does not make the supervisor present for
routing: watching the floor must not pull chats onto the watcher.

Client frames: ``ping``; ``watch`` {conversation_id, after_seq}: replay the conversation
after ``after_seq``, then follow it live (messages, events, typing, read receipts);
``unwatch`` {conversation_id}.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from chatserver.backends.bus import conversation_channel
from chatserver.backends.models import OPEN_STATES
from chatserver.core.errors import CloseCode
from chatserver.core.protocol import (
    ID_PATTERN,
    MAX_SEQ,
    OutFrame,
    ProtocolError,
    choose_subprotocol,
    decode,
    message_frame,
)
from chatserver.live.auth import current_principal, origin_allowed
from chatserver.live.connection import Connection
from chatserver.services.dashboard import board_of
from chatserver.session.loop import close, read_frames

log = logging.getLogger("livedesk.supervisor")
MAX_WATCHED = 50
REPLAY_PAGE = 500


async def supervisor_endpoint(ws: WebSocket) -> None:
    state = ws.app.state
    settings = state.settings
    if not origin_allowed(ws, settings, for_visitor=False):
        await ws.close(code=CloseCode.FORBIDDEN_ORIGIN)
        return
    principal = await current_principal(ws)
    if principal is None or not principal.has_role("supervisor"):
        await ws.close(code=CloseCode.UNAUTHORIZED)
        return
    codec, subprotocol = choose_subprotocol(ws.scope.get("subprotocols", []))
    await ws.accept(subprotocol=subprotocol)
    conn = Connection.for_settings(ws, codec, "agent", principal, settings)
    conn.info["supervisor"] = True
    # Registered with the agent's sockets so a password change or deactivation ends it too.
    state.sessions.add(principal.agent_id, conn)
    board = board_of(state)
    conn.start()
    try:
        conn.push(await board.full_frame())
        board.subscribers.add(conn)

        async def handle(data: bytes | str) -> None:
            await _handle(conn, state, decode(data, codec))

        await read_frames(conn, settings, handle)
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("supervisor socket failed")
        close(conn, CloseCode.INTERNAL_ERROR)
    finally:
        board.subscribers.discard(conn)
        state.hub.leave_all(conn)
        state.sessions.discard(principal.agent_id, conn)
        if conn.close_code is not None:
            await conn.drain()
        await conn.stop()


def _conv_id(frame: dict[str, Any]) -> str:
    conv_id = frame.get("conversation_id")
    if not isinstance(conv_id, str) or not ID_PATTERN.match(conv_id):
        raise ProtocolError("invalid_field", "`conversation_id` must be an id")
    return conv_id


async def _handle(conn: Connection, state: Any, frame: dict[str, Any]) -> None:
    kind = frame.get("type")
    if kind == "ping":
        conn.push(OutFrame({"type": "pong"}))
    elif kind == "watch":
        await _watch(conn, state, _conv_id(frame), frame.get("after_seq", 0))
    elif kind == "unwatch":
        state.hub.leave(conn, conversation_channel(_conv_id(frame)))
    else:
        raise ProtocolError("unknown_type", "this socket accepts ping, watch and unwatch")


async def _watch(conn: Connection, state: Any, conv_id: str, after: Any) -> None:
    if type(after) is not int or not 0 <= after <= MAX_SEQ:
        raise ProtocolError("invalid_field", "`after_seq` must be a non-negative integer")
    conv = await state.store.get_conversation(conv_id)
    if conv is None:
        raise ProtocolError("forbidden", "no such conversation")
    watched = [r for r in conn.rooms if r.startswith("conv:")]
    if len(watched) >= MAX_WATCHED:
        raise ProtocolError("conflict", f"watch at most {MAX_WATCHED} conversations at once")
    # Join first, replay second: an item committed in between arrives twice, never zero
    # times, and the client drops repeats by seq.
    if conv.state in OPEN_STATES:
        state.hub.join(conn, conversation_channel(conv_id))
    while True:
        rows = await state.store.messages_after(conv_id, after, REPLAY_PAGE)
        for row in rows:
            conn.push(message_frame(row))
        if len(rows) < REPLAY_PAGE:
            break
        after = rows[-1]["seq"]
    conn.push(
        OutFrame(
            {
                "type": "watching",
                "conversation_id": conv_id,
                "state": conv.state,
                "agent_id": conv.agent_id,
                "visitor_id": conv.visitor_id,
            }
        )
    )
