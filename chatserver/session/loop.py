"""The one frame loop every socket runs (visitor, agent and supervisor): read a frame,
bound its size in bytes, rate-limit it, hand it on, and close the socket on a flood."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from chatserver.core.errors import CloseCode
from chatserver.core.protocol import ProtocolError
from chatserver.core.settings import Settings
from chatserver.live.connection import Connection
from chatserver.runtime import metrics
from chatserver.services.hub import refuse

FrameHandler = Callable[[bytes | str], Awaitable[None]]


async def read_frames(conn: Connection, settings: Settings, handle: FrameHandler) -> None:
    """Until the peer leaves or the socket is closed. ``handle`` decodes and acts on one
    frame; a ``ProtocolError`` it raises becomes an ``error`` frame, and the
    ``flood_errors_before_close``-th refusal in a row (rate limit included) closes the
    socket with 1008, after its error frame."""
    while not conn.closed:
        message = await conn.ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        data: bytes | str | None = message.get("bytes")
        if data is None:
            data = message.get("text") or ""
        metrics.FRAMES_IN.inc()
        size = len(data) if isinstance(data, bytes) else len(data.encode())
        if size > settings.limits.max_frame_bytes:
            close(conn, CloseCode.MESSAGE_TOO_BIG)
            return
        if not conn.bucket.allow():
            refuse(conn, ProtocolError("rate_limited", "too many frames; slow down"))
        else:
            try:
                await handle(data)
                conn.strikes = 0
                continue
            except ProtocolError as exc:
                refuse(conn, exc)
        if conn.strikes >= settings.limits.flood_errors_before_close:
            close(conn, CloseCode.POLICY_VIOLATION)
            return


def close(conn: Connection, code: CloseCode) -> None:
    metrics.CLOSES.labels(code=str(int(code))).inc()
    conn.close(code)
