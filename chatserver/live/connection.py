"""One websocket: a bounded send queue drained by its own writer, and a rate limiter.

Fan-out only ever calls ``push``, which never waits: a socket that stops reading fills
its queue and is closed with SLOW_CONSUMER instead of slowing anyone else down. Under our
own uvicorn protocol (``web.ws_protocol``) a frame with nothing queued ahead of it and a
transport that takes more is written at once, as ``websockets.broadcast`` does; what queued
meanwhile goes out in one write when the transport drains.

What a socket that stops reading can cost the server, and for how long:

* our queue: at most ``queue_frames`` frames and ``queue_bytes`` bytes (shared ``bytes``: a
  frame fanned out to many sockets is encoded once), emptied the moment the socket is
  dropped; a single frame larger than the byte budget still goes out, alone;
* uvicorn's transport buffer: nothing is written while it is above its high-water mark
  (64 KiB), and the writer then hands it at most ``BATCH_BYTES`` (or one larger frame) at
  once, so at most twice that;
* the kernel's send buffer (up to ``net.ipv4.tcp_wmem``'s maximum): the kernel's, not ours.

A socket is dropped (its queue emptied, 4000 sent if it can go) when its queue overflows
(in frames or in bytes; a resume replay it asked for waits for room instead),
or when one send has waited ``socket_stall_timeout_s`` (the peer drained nothing for that long,
however quiet its conversation). A graceful close never completes towards a peer that
does not read: the close frame waits behind what it did not read, and uvicorn's own
closes (ours, its keepalive's) wait for its buffer to drain, for ever. So a dropped socket
whose close frame has not gone out within ``socket_close_timeout_s`` is reset, and so is a
closed one whose bytes are still unsent ``socket_close_timeout_s`` after its handler ended.
Measured by benchmarks/slow_consumer.py; pinned by tests/integration/test_slow_consumer.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.websockets import WebSocket

from chatserver.core.errors import CLOSE_REASONS, CloseCode
from chatserver.core.protocol import Codec, OutFrame, Role
from chatserver.core.ratelimit import TokenBucket
from chatserver.core.settings import Settings
from chatserver.runtime import metrics
from chatserver.runtime.slim import SlimEvent

log = logging.getLogger("livedesk.connection")
# Out-of-order seqs remembered per conversation while a gap below them waits to be filled.
MAX_SENT_AHEAD = 1000
# What the writer hands the transport in one write when frames have queued up: about
# uvicorn's high-water mark, so a paused transport holds at most twice that.
BATCH_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class SocketTimeouts:
    """The socket_*_timeout_s settings (see ``Settings`` for what each bounds)."""

    stall_s: float
    close_s: float
    drain_s: float

    @classmethod
    def of(cls, settings: Settings) -> SocketTimeouts:
        return cls(
            stall_s=settings.limits.socket_stall_timeout_s,
            close_s=settings.limits.socket_close_timeout_s,
            drain_s=settings.limits.socket_drain_timeout_s,
        )


# For a Connection built without settings (tests): the settings' own defaults.
DEFAULT_TIMEOUTS = SocketTimeouts.of(Settings.model_construct())
LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets the connection


def server_transport(ws: WebSocket) -> Any:
    """The server's transport under ``ws``, or None where the server does not let us reach it.

    ASGI has no way to abort a connection. Under uvicorn the ``receive`` callable handed to
    the app is the protocol's bound method (our middleware passes websocket scopes through
    untouched), and the protocol keeps its transport; anything else answers None and the
    socket is left to the server's own timeouts."""
    owner = getattr(getattr(ws, "_receive", None), "__self__", None)
    transport = getattr(owner, "transport", None)
    if callable(getattr(transport, "abort", None)) and callable(
        getattr(transport, "get_write_buffer_size", None)
    ):
        return transport
    return None


class Flag(Protocol):
    def is_set(self) -> bool: ...

    async def wait(self) -> bool: ...


class DirectWriter(Protocol):
    """What the server's websocket protocol offers when it lets us write messages to its
    transport ourselves (``web.ws_protocol.LivedeskWebSocket``)."""

    writable: Flag

    def can_write(self) -> bool: ...

    def write_messages(self, payloads: list[bytes], text: bool) -> bool: ...


def direct_writer(ws: WebSocket) -> DirectWriter | None:
    """The server protocol under ``ws`` if it takes messages directly, else None."""
    owner = getattr(getattr(ws, "_receive", None), "__self__", None)
    if callable(getattr(owner, "write_messages", None)) and callable(
        getattr(getattr(owner, "writable", None), "is_set", None)
    ):
        return owner
    return None


class Connection:
    __slots__ = (
        "_held",
        "ws",
        "codec",
        "role",
        "identity",
        "_queue",
        "queue_frames",
        "queue_bytes",
        "timeouts",
        "_queued_bytes",
        "_room",
        "bucket",
        "strikes",
        "rooms",
        "closed",
        "close_code",
        "_writer",
        "_closer",
        "_transport",
        "_direct",
        "_text",
        "_loop",
        "_sending_since",
        "_watchdog",
        "info",
        "on_close",
        "sent_seq",
        "sent_ahead",
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
        queue_bytes: int = 1 << 30,
        timeouts: SocketTimeouts | None = None,
        on_close: Callable[[Connection], None] | None = None,
    ) -> None:
        self.ws = ws
        self.timeouts = timeouts if timeouts is not None else DEFAULT_TIMEOUTS
        self.codec: Codec = codec
        self.role: Role = role
        self.identity = identity  # visitor id (str) or the agent's Principal
        # Made when first needed: most sockets never queue a frame (see ``queue``).
        self._queue: asyncio.Queue[bytes | str | None] | None = None
        self.queue_frames = queue_frames
        self.queue_bytes = queue_bytes
        self._queued_bytes = 0  # what the queue holds, encoded
        self._room: SlimEvent | asyncio.Event = SlimEvent()  # set by the writer as it takes frames
        self.bucket = TokenBucket(rate, burst)
        self.strikes = 0  # frames refused for flooding or bad input, in a row
        self.rooms: set[str] = set()
        self.closed = False
        self.close_code: int | None = None
        self._writer: asyncio.Task[None] | None = None
        # Sends the close of a dropped socket, then aborts it if that cannot go out.
        self._closer: asyncio.Task[None] | None = None
        self._transport: Any = None
        self._direct: DirectWriter | None = None  # set by start() where the server allows
        self._text = codec == "json"  # the JSON subprotocol's frames are text frames
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sending_since: float | None = None  # loop time the writer's send began
        self._watchdog: asyncio.TimerHandle | None = None
        self.info: dict[str, Any] = {}
        # While the socket is being set up (``hold``): frames that must wait for `welcome`.
        self._held: list[OutFrame] | None = None
        # Given by the endpoint: takes a closed socket out of its rooms at once.
        self.on_close = on_close
        # conversation id -> every seq up to this one was handed to this socket (or known to
        # its client when it joined): what a catch-up after a bus outage replays from. Seqs
        # handed out above it, out of order (live ones overtaking a catch-up), are kept
        # apart, so that no seq goes out on one socket twice.
        self.sent_seq: dict[str, int] = {}
        self.sent_ahead: dict[str, set[int]] = {}

    @property
    def queue(self) -> asyncio.Queue[bytes | str | None]:
        """The send queue, made on first use: with the direct write path a socket whose
        transport keeps up never needs one (4 KB of an idle socket's memory otherwise)."""
        if self._queue is None:
            self._queue = asyncio.Queue(maxsize=self.queue_frames)
        return self._queue

    def _nothing_queued(self) -> bool:
        return self._queue is None or self._queue.empty()

    def first_send(self, conv_id: str, seq: int) -> bool:
        """Note that ``seq`` of ``conv_id`` goes out on this socket; False when it already
        did (a catch-up and a late live frame may both carry it)."""
        upto = self.sent_seq.get(conv_id)
        if upto is None:
            self.sent_seq[conv_id] = seq
            return True
        ahead = self.sent_ahead.get(conv_id)
        if seq <= upto or (ahead is not None and seq in ahead):
            return False
        if seq != upto + 1:
            ahead = self.sent_ahead.setdefault(conv_id, set())
            ahead.add(seq)
            if len(ahead) > MAX_SENT_AHEAD:
                # A gap nothing fills: give it up rather than grow (the client resumes).
                self.sent_seq[conv_id] = max(ahead)
                del self.sent_ahead[conv_id]
            return True
        upto = seq
        if ahead:
            while upto + 1 in ahead:
                upto += 1
                ahead.discard(upto)
            if not ahead:
                del self.sent_ahead[conv_id]
        self.sent_seq[conv_id] = upto
        return True

    def forget_sent(self, conv_id: str) -> None:
        self.sent_seq.pop(conv_id, None)
        self.sent_ahead.pop(conv_id, None)

    @classmethod
    def for_settings(
        cls,
        ws: WebSocket,
        codec: Codec,
        role: Role,
        identity: Any,
        settings: Settings,
        on_close: Callable[[Connection], None] | None = None,
    ) -> Connection:
        return cls(
            ws,
            codec,
            role,
            identity,
            queue_frames=settings.limits.send_queue_frames,
            rate=settings.limits.rate_limit_per_s,
            burst=settings.limits.rate_limit_burst,
            queue_bytes=settings.limits.send_queue_bytes,
            timeouts=SocketTimeouts.of(settings),
            on_close=on_close,
        )

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport = server_transport(self.ws)
        self._direct = direct_writer(self.ws)
        if self._direct is None:  # the ASGI path: one writer for the socket's life
            self._writer = asyncio.create_task(self._write_loop(), name="livedesk-writer")

    def _ensure_writer(self) -> None:
        """The direct path's writer runs only while frames wait in the queue (a task a
        socket, idle or not, is another 1 KB of an idle socket's memory)."""
        if self._direct is None or self._loop is None:
            return
        if self._writer is None or self._writer.done():
            self._writer = self._loop.create_task(self._write_direct(), name="livedesk-writer")

    async def push_waiting(self, frame: OutFrame) -> None:
        """For what this socket asked for itself (a resume replay): wait for room in the
        queue instead of treating a long answer as a slow consumer."""
        if self.closed:
            return
        data = frame.encoded(self.codec)
        self._watch()
        while self._queued_bytes and self._queued_bytes + len(data) > self.queue_bytes:
            self._room.clear()
            await self._room.wait()
            if self.closed:
                return
        await self.queue.put(data)
        self._queued_bytes += len(data)
        self._ensure_writer()

    def hold(self) -> None:
        """Keep live frames back until ``push_first``: a socket joins its rooms before it
        is told its state, and nothing may reach it before that first frame."""
        if self._held is None:
            self._held = []

    def push_first(self, frame: OutFrame) -> None:
        """Send ``frame``, then whatever was held back meanwhile, in order."""
        held, self._held = self._held or [], None
        self.push(frame)
        for later in held:
            self.push(later)

    def push(self, frame: OutFrame) -> None:
        if self.closed:
            return
        if self._held is not None:
            if len(self._held) >= self.queue_frames:
                log.warning("slow consumer dropped (%s): too much before welcome", self.role)
                self.close(CloseCode.SLOW_CONSUMER)
                return
            self._held.append(frame)
            return
        data = frame.encoded(self.codec)
        direct = self._direct
        if (
            direct is not None
            and self._sending_since is None
            and direct.writable.is_set()
            and self._nothing_queued()
        ):
            # Nothing ahead of it and the transport takes more: straight out, no queue, no
            # task switch (the transport's buffer is bounded by its high-water mark, past
            # which ``writable`` clears and frames queue for the writer again).
            payload = data.encode() if isinstance(data, str) else data
            if not direct.write_messages([payload], self._text):
                self._gone()
            return
        if self._watchdog is None:
            self._watch()
        if self._queued_bytes and self._queued_bytes + len(data) > self.queue_bytes:
            log.warning("slow consumer dropped (%s): send queue over its bytes", self.role)
            self._drop(CloseCode.SLOW_CONSUMER)
            return
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            log.warning("slow consumer dropped (%s): send queue full", self.role)
            self.close(CloseCode.SLOW_CONSUMER)
            return
        self._queued_bytes += len(data)
        self._ensure_writer()

    def close(self, code: CloseCode) -> None:
        """Close after what is already queued (or at once, if the queue is full)."""
        if self.closed:
            return
        if self._queue is not None and self._queue.full():
            self._drop(code)
            return
        self._mark_closed(code)
        self.queue.put_nowait(None)
        self._ensure_writer()
        self.info["close"] = code
        self._watch()  # the close frame is work in flight too

    def _mark_closed(self, code: CloseCode) -> None:
        self.closed = True
        self.close_code = int(code)
        if code == CloseCode.SLOW_CONSUMER:
            metrics.CLOSES.labels(code=str(int(code))).inc()
        if self.on_close is not None:
            self.on_close(self)

    def _drop(self, code: CloseCode) -> None:
        """Close at once: what it has not read is thrown away (and its memory with it), the
        close frame goes out if the transport takes it, else the connection is aborted."""
        if not self.closed:
            self._mark_closed(code)
        self._empty_queue()
        if self._writer is not None:
            self._writer.cancel()
        self._closer = asyncio.create_task(self._close_at_once(code), name="livedesk-closer")

    async def _close_at_once(self, code: CloseCode) -> None:
        sent = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.timeouts.close_s):
                sent = await self._send_close(code)
        if not sent:
            self._abort(f"its close ({int(code)}) waited {self.timeouts.close_s:g}s")

    async def _send_close(self, code: CloseCode) -> bool:
        try:
            await self.ws.close(code=int(code), reason=CLOSE_REASONS.get(code, ""))
        except Exception:  # the peer is gone already
            return False
        return True

    def _empty_queue(self) -> None:
        """Throw away what was queued, and wake a resume replay waiting for room (it sees
        the socket closed and stops)."""
        while not self._nothing_queued():
            self.queue.get_nowait()
        self._queued_bytes = 0
        self._room.set()

    # -------------------------------------------------------------------- the transport

    def _unsent(self) -> int:
        """Bytes the server's transport still holds for this peer (0 where unknown)."""
        if self._transport is None:
            return 0
        try:
            return int(self._transport.get_write_buffer_size())
        except Exception:  # a transport already torn down
            return 0

    def _abort(self, why: str) -> None:
        """Reset the connection: the kernel drops what it still held for the peer (a plain
        close would leave it an orphan socket, still offering megabytes to a zero window)."""
        transport = self._transport
        if transport is None:
            log.warning("cannot abort a %s socket (%s): left to the server", self.role, why)
            return
        log.warning("%s socket aborted: %s", self.role, why)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        transport.abort()

    def _abort_later(self) -> None:
        if self._loop is not None and self._transport is not None:
            self._loop.call_later(self.timeouts.close_s, self._abort_if_unsent)

    def _abort_if_unsent(self) -> None:
        if self._unsent():
            self._abort(f"bytes still unsent {self.timeouts.close_s:g}s after its close")

    # -------------------------------------------------------------------- the writer

    def _watch(self, delay: float | None = None) -> None:
        """Arm the stall watchdog: one timer a socket, and only while it has work in flight
        (it costs the hot path one attribute test, not a timer a frame)."""
        if self._watchdog is None and self._loop is not None:
            wait = self.timeouts.stall_s if delay is None else delay
            self._watchdog = self._loop.call_later(wait, self._check_stall)

    def _check_stall(self) -> None:
        self._watchdog = None
        if self._loop is None or self._closer is not None:
            return  # not started, or already being dropped
        since = self._sending_since
        waited = 0.0 if since is None else self._loop.time() - since
        if waited >= self.timeouts.stall_s:
            if self.closed:  # a close of ours, stuck behind what the peer does not read
                log.warning("%s socket closing: a send waited %.0fs", self.role, waited)
                self._drop(self.info.get("close", CloseCode.NORMAL))
            else:
                log.warning("slow consumer dropped (%s): a send waited %.0fs", self.role, waited)
                self._drop(CloseCode.SLOW_CONSUMER)
        elif since is not None or not self._nothing_queued():
            self._watch(self.timeouts.stall_s - waited)

    async def _write_loop(self) -> None:
        send = self.ws.send
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await self.queue.get()
                if data is not None:
                    self._queued_bytes -= len(data)
                    self._room.set()
                self._sending_since = loop.time()
                if data is None:
                    await self._send_close(self.info.get("close", CloseCode.NORMAL))
                    return
                if isinstance(data, bytes):
                    await send({"type": "websocket.send", "bytes": data})
                else:
                    await send({"type": "websocket.send", "text": data})
                self._sending_since = None
        except asyncio.CancelledError:
            raise
        except Exception:  # the peer went away mid-send; the reader notices and cleans up
            self.closed = True
            # ...or the server closed it (its keepalive gave up) with bytes still unsent,
            # which its graceful close would then wait on for ever.
            self._abort_later()
        finally:
            self._sending_since = None

    def _gone(self) -> None:
        """The server's socket no longer takes messages: the peer went away (the reader
        notices and cleans up) or the server closed it, maybe with bytes still unsent,
        which its graceful close would then wait on for ever."""
        self.closed = True
        self._abort_later()

    async def _write_direct(self) -> None:
        """The writer where the server lets us write to its transport: once it takes
        more, everything queued meanwhile goes out in one write (up to ``BATCH_BYTES``).
        It ends when the queue is empty (``_ensure_writer`` starts it again)."""
        direct = self._direct
        assert direct is not None
        queue = self.queue
        loop = asyncio.get_running_loop()
        try:
            while not queue.empty():
                data = queue.get_nowait()
                self._sending_since = loop.time()
                if data is not None and not direct.writable.is_set():
                    await direct.writable.wait()
                batch: list[bytes] = []
                size = 0
                while data is not None:
                    size += len(data)
                    batch.append(data.encode() if isinstance(data, str) else data)
                    if size >= BATCH_BYTES or queue.empty():
                        break
                    data = queue.get_nowait()
                if batch:
                    self._queued_bytes -= size
                    self._room.set()
                    if not direct.write_messages(batch, self._text):
                        self._gone()
                        return
                if data is None:
                    await self._send_close(self.info.get("close", CloseCode.NORMAL))
                    return
                self._sending_since = None
        finally:
            self._sending_since = None

    async def drain(self) -> None:
        """Let the writer flush what was queued, then the close frame, before we let go."""
        if self._writer is None:
            return
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._writer), self.timeouts.drain_s)
        if self._closer is not None:  # bounded by the close timeout itself
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(self._closer)

    async def stop(self) -> None:
        """The handler is done: stop our tasks and drop what is still queued. A close we
        started whose bytes the peer has still not taken ``socket_close_timeout_s`` later is aborted:
        the server's own graceful close would wait for them for ever."""
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        for task in (self._writer, self._closer):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._empty_queue()
        if self.close_code is not None and self._unsent():
            self._abort_later()
