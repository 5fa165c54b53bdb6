"""One websocket: a bounded send queue drained by its own writer, and a rate limiter.

Fan-out only ever calls ``push``, which never waits: a socket that stops reading fills
its queue and is closed with SLOW_CONSUMER instead of slowing anyone else down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket

from chatserver.errors import CLOSE_REASONS, CloseCode
from chatserver.protocol import Codec, OutFrame, Role

log = logging.getLogger("livedesk.connection")
DRAIN_TIMEOUT_S = 2.0


class TokenBucket:
    """Allows ``rate`` frames a second with bursts of ``burst``."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Connection:
    __slots__ = (
        "ws",
        "codec",
        "role",
        "identity",
        "queue",
        "bucket",
        "strikes",
        "rooms",
        "closed",
        "close_code",
        "_writer",
        "info",
        "on_close",
    )

    def __init__(
        self,
        ws: WebSocket,
        codec: Codec,
        role: Role,
        identity: Any,
        queue_frames: int,
        rate: float,
        burst: int,
    ) -> None:
        self.ws = ws
        self.codec: Codec = codec
        self.role: Role = role
        self.identity = identity  # visitor id (str) or the agent's Principal
        self.queue: asyncio.Queue[bytes | str | None] = asyncio.Queue(maxsize=queue_frames)
        self.bucket = TokenBucket(rate, burst)
        self.strikes = 0  # frames refused for flooding or bad input, in a row
        self.rooms: set[str] = set()
        self.closed = False
        self.close_code: int | None = None
        self._writer: asyncio.Task[None] | None = None
        self.info: dict[str, Any] = {}
        # Set by the endpoint: takes a closed socket out of its rooms at once.
        self.on_close: Callable[[], None] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name="livedesk-writer")

    async def push_waiting(self, frame: OutFrame) -> None:
        """For what this socket asked for itself (a resume replay): wait for room in the
        queue instead of treating a long answer as a slow consumer."""
        if not self.closed:
            await self.queue.put(frame.encoded(self.codec))

    def push(self, frame: OutFrame) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(frame.encoded(self.codec))
        except asyncio.QueueFull:
            log.warning("slow consumer dropped (%s)", self.role)
            self.close(CloseCode.SLOW_CONSUMER)

    def close(self, code: CloseCode) -> None:
        """Close after what is already queued (or at once, if the queue is full)."""
        if self.closed:
            return
        self.closed = True
        self.close_code = int(code)
        if self.on_close is not None:
            self.on_close()
        if self.queue.full():
            if self._writer is not None:
                self._writer.cancel()
            asyncio.create_task(self._send_close(code))
        else:
            self.queue.put_nowait(None)
            self.info["close"] = code

    async def _send_close(self, code: CloseCode) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code=int(code), reason=CLOSE_REASONS.get(code, ""))

    async def _write_loop(self) -> None:
        send = self.ws.send
        try:
            while True:
                data = await self.queue.get()
                if data is None:
                    await self._send_close(self.info.get("close", CloseCode.NORMAL))
                    return
                if isinstance(data, bytes):
                    await send({"type": "websocket.send", "bytes": data})
                else:
                    await send({"type": "websocket.send", "text": data})
        except asyncio.CancelledError:
            raise
        except Exception:  # the peer went away mid-send; the reader notices and cleans up
            self.closed = True

    async def drain(self) -> None:
        """Let the writer flush what was queued, then the close frame, before we let go."""
        if self._writer is None:
            return
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._writer), DRAIN_TIMEOUT_S)

    async def stop(self) -> None:
        self.closed = True
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer
