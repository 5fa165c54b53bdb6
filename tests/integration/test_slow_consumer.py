"""A socket that stops reading: its queue is emptied, it is closed with 4000 and, as it
cannot even read that, the connection is reset; its bytes are not kept for ever, and
nobody else waits. (tests/integration/test_faults.py pins the case where the slow tab
reads again in time: it gets what was queued, then 4000.)

Measured in benchmarks/slow_consumer.py."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import select
import socket
from pathlib import Path
from typing import Any, Literal

import msgpack
import pytest
from websockets.frames import Frame
from websockets.protocol import State

from chatserver.core.errors import CloseCode
from chatserver.core.protocol import OutFrame
from chatserver.live import connection
from chatserver.live.connection import Connection
from tests.integration.conftest import add_agents
from tests.integration.test_faults import big_frames, frames_to_overflow
from tests.integration.test_hub_conversation import start_chat
from tests.live import LiveServer, raw_visitor_socket

TCP_CLOSE = 7  # tcpi_state once the peer has reset the connection


# ---------------------------------------------------------------------------- a tab that never reads


class DeafTab:
    """A raw socket with a tiny receive buffer: reads its handshake and welcome, then
    never reads again, so the server's bytes pile up in the kernel and behind it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    async def open(cls, server: LiveServer, token: str) -> DeafTab:
        loop = asyncio.get_running_loop()
        sock, proto = await raw_visitor_socket(server.port, server.ws_url, server.url, token, 4096)
        frames: list[Frame] = []
        while not frames:  # the welcome says the tab has joined the conversation's room
            data = await asyncio.wait_for(loop.sock_recv(sock, 4096), 10)
            assert data, "the server closed the tab before its welcome"
            proto.receive_data(data)
            frames = [e for e in proto.events_received() if isinstance(e, Frame)]
        assert proto.state is State.OPEN
        assert msgpack.unpackb(frames[0].data)["type"] == "welcome"
        return cls(sock)

    async def wait_reset(self, timeout: float) -> None:
        """Returns once the server has reset the connection, without reading a byte (a
        read would let the server's bytes flow again)."""
        poller = select.poll()
        poller.register(self.sock, select.POLLERR | select.POLLHUP | select.POLLRDHUP)
        events = await asyncio.to_thread(poller.poll, int(timeout * 1000))
        assert events, f"the server still holds the deaf tab after {timeout}s"
        assert self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] == TCP_CLOSE
        with pytest.raises(ConnectionResetError):  # reset, not a clean end of stream
            for _ in range(10_000):  # what reached its tiny buffer before, then the reset
                if not self.sock.recv(65_536):
                    break

    def close(self) -> None:
        self.sock.close()


async def flood(server: LiveServer, frame_chars: int, frames: int) -> tuple[Any, Any, str, DeafTab]:
    """A conversation with a deaf second tab; the agent sends ``frames`` messages and the
    healthy tab has each one before the next is even sent."""
    visitor, agent, conv_id, token = await start_chat(server, "hello")
    deaf = await DeafTab.open(server, token)
    body = "x" * (frame_chars - 16)
    for i in range(frames):
        ack = await agent.send_text(f"{i:08d} {body}", conversation_id=conv_id)
        got = await visitor.recv_type("message", seq=ack["seq"])
        assert got["text"].startswith(f"{i:08d} ")
        visitor.inbox.clear()
        agent.inbox.clear()
    return visitor, agent, conv_id, deaf


async def deaf_tab_is_reset(settings: Any, frames: int, caplog: pytest.LogCaptureFixture) -> str:
    """A chat with a deaf second tab, flooded with ``frames`` big messages: waits until the
    tab is reset, checks the conversation carries on, and returns what the hub logged."""
    await add_agents(settings, ("ana@example.com", "agent", 5))
    server = LiveServer(settings).start()
    deaf: DeafTab | None = None
    try:
        with caplog.at_level(logging.WARNING, logger="livedesk.connection"):
            visitor, agent, conv_id, deaf = await flood(
                server, settings.limits.max_text_chars, frames
            )
            await deaf.wait_reset(timeout=20)
        # Everyone else carries on.
        ack = await agent.send_text("still here?", conversation_id=conv_id)
        assert (await visitor.recv_type("message", seq=ack["seq"]))["text"] == "still here?"
        return caplog.text
    finally:
        if deaf is not None:
            deaf.close()
        server.stop()


async def test_a_tab_that_never_reads_again_is_reset_after_its_queue_overflows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    text_chars, queue = 60_000, 8
    settings = big_frames(tmp_path, text_chars, queue)
    settings = settings.updated({"socket_close_timeout_s": 0.2})
    logged = await deaf_tab_is_reset(settings, frames_to_overflow(text_chars, queue), caplog)
    assert "send queue full" in logged


async def test_a_tab_that_never_reads_again_is_reset_once_its_queue_passes_its_byte_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Room for 100,000 frames, but a budget of 4 big ones: the bytes, not the frame count,
    drop the tab, long before a send could have stalled for the limit."""
    text_chars = 60_000
    settings = big_frames(tmp_path, text_chars, queue=100_000, queue_bytes=4 * text_chars)
    settings = settings.updated({"socket_close_timeout_s": 0.2})
    logged = await deaf_tab_is_reset(settings, frames_to_overflow(text_chars, 8), caplog)
    assert "send queue over its bytes" in logged
    assert "a send waited" not in logged


async def test_a_tab_that_stops_reading_in_a_quiet_moment_is_reset_after_a_stalled_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A queue far too long to overflow: the stalled send alone drops the tab, even though
    nothing more is sent after the flood."""
    text_chars = 60_000
    settings = big_frames(tmp_path, text_chars, queue=100_000)
    settings = settings.updated({"socket_stall_timeout_s": 0.5, "socket_close_timeout_s": 0.2})
    logged = await deaf_tab_is_reset(settings, frames_to_overflow(text_chars, 0), caplog)
    assert "a send waited" in logged
    assert "send queue full" not in logged


# ---------------------------------------------------------------------------- the Connection alone


class FakeTransport:
    def __init__(self) -> None:
        self.unsent = 1 << 20  # a peer that reads nothing: the buffer never drains
        self.aborted = asyncio.Event()

    def get_write_buffer_size(self) -> int:
        return self.unsent

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def abort(self) -> None:
        self.unsent = 0
        self.aborted.set()


class FakeServerProtocol:
    """What uvicorn hands the app as ``receive``: a bound method of its protocol."""

    def __init__(self) -> None:
        self.transport = FakeTransport()

    async def receive(self) -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}


class DeafWebSocket:
    """Every send waits for ever, as uvicorn's does while its transport is paused."""

    def __init__(self) -> None:
        self.server = FakeServerProtocol()
        self._receive = self.server.receive
        self.closes: list[int] = []

    async def send(self, message: dict[str, Any]) -> None:
        await asyncio.Event().wait()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closes.append(code)
        await asyncio.Event().wait()


def quick_timeouts(monkeypatch: pytest.MonkeyPatch, **changes: float) -> None:
    """Connections built without settings (as here) take these socket timeouts."""
    quick = dataclasses.replace(connection.DEFAULT_TIMEOUTS, **changes)
    monkeypatch.setattr(connection, "DEFAULT_TIMEOUTS", quick)


def visitor_connection(ws: Any, queue: int, queue_bytes: int = 1 << 30) -> Connection:
    """A visitor's Connection over ``ws``, not rate limited, not started."""
    return Connection(
        ws, "msgpack", "visitor", "v-1", queue, rate=1e6, burst=1_000_000, queue_bytes=queue_bytes
    )


def deaf_connection(queue: int, queue_bytes: int = 1 << 30) -> tuple[Connection, DeafWebSocket]:
    ws = DeafWebSocket()
    conn = visitor_connection(ws, queue, queue_bytes)
    conn.start()
    return conn, ws


async def test_an_overflow_empties_the_queue_and_its_close_task_is_owned_then_aborts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    quick_timeouts(monkeypatch, close_s=0.05)
    conn, ws = deaf_connection(queue=3)
    for i in range(5):
        conn.push(OutFrame({"type": "message", "text": str(i)}))
    assert conn.closed and conn.close_code == CloseCode.SLOW_CONSUMER
    assert conn.queue.empty()  # what it did not read is dropped at once
    closer = conn._closer
    assert closer is not None and not closer.done()  # kept, not a fire-and-forget task
    await conn.drain()  # waits for the closer, bounded by the close timeout
    assert closer.done() and closer.exception() is None
    assert ws.closes == [CloseCode.SLOW_CONSUMER]
    assert ws.server.transport.aborted.is_set()  # the close could not go out: reset
    await conn.stop()


async def test_stop_cancels_a_pending_close_task() -> None:
    conn, _ = deaf_connection(queue=1)
    conn.push(OutFrame({"type": "message", "text": "a"}))
    conn.push(OutFrame({"type": "message", "text": "b"}))
    closer = conn._closer
    assert closer is not None and not closer.done()
    await conn.stop()
    assert closer.cancelled()


@pytest.fixture
def quick_stall(monkeypatch: pytest.MonkeyPatch) -> None:
    """A send stalls after 50 ms, and a close that cannot go out is aborted 50 ms later."""
    quick_timeouts(monkeypatch, stall_s=0.05, close_s=0.05)


@pytest.mark.usefixtures("quick_stall")
async def test_a_send_stalled_past_the_limit_drops_the_socket_without_more_traffic() -> None:
    conn, ws = deaf_connection(queue=1000)
    conn.push(OutFrame({"type": "message", "text": "never read"}))
    await asyncio.wait_for(ws.server.transport.aborted.wait(), 5)
    assert conn.closed and conn.close_code == CloseCode.SLOW_CONSUMER
    assert ws.closes == [CloseCode.SLOW_CONSUMER]
    await conn.stop()


@pytest.mark.usefixtures("quick_stall")
async def test_a_close_stuck_behind_unread_bytes_is_aborted_too() -> None:
    """Our own close (say, a password change) to a peer that stopped reading."""
    conn, ws = deaf_connection(queue=1000)
    conn.push(OutFrame({"type": "message", "text": "never read"}))
    conn.close(CloseCode.UNAUTHORIZED)
    await asyncio.wait_for(ws.server.transport.aborted.wait(), 5)
    assert conn.close_code == CloseCode.UNAUTHORIZED
    await conn.stop()


async def test_the_byte_budget_drops_a_live_push_but_lets_a_lone_big_frame_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    quick_timeouts(monkeypatch, close_s=0.05)
    conn, ws = deaf_connection(queue=1000, queue_bytes=1000)
    conn.push(OutFrame({"type": "message", "text": "x" * 5000}))
    # Alone in the queue, a frame over the budget is not refused for its size...
    assert not conn.closed and conn.queue.qsize() == 1
    # ...but nothing more fits behind it.
    conn.push(OutFrame({"type": "message", "text": "one more"}))
    assert conn.closed and conn.close_code == CloseCode.SLOW_CONSUMER
    assert conn.queue.empty()
    await conn.drain()
    assert ws.closes == [CloseCode.SLOW_CONSUMER]
    await conn.stop()


async def test_a_resume_replay_waits_for_byte_room_instead_of_dropping_the_socket() -> None:
    """What a socket asked for itself (a resume) is paced by the writer, not refused."""
    ws = ReadingWebSocket()
    conn = visitor_connection(ws, 1000, queue_bytes=3000)
    room = WatchedEvent()
    conn._room = room
    conn.start()
    replay = [OutFrame({"type": "message", "seq": i, "text": "y" * 1000}) for i in range(20)]
    pushing = asyncio.create_task(_push_all(conn, replay))
    await ws.sent_count(1)  # the writer holds the first frame: the queue fills behind it
    await asyncio.wait_for(room.waited.wait(), 5)  # the replay waits for room...
    assert not pushing.done() and not conn.closed  # ...and the socket is kept
    assert 0 < conn._queued_bytes <= 3000
    ws.release.set()  # the peer reads again
    await asyncio.wait_for(pushing, 5)
    await ws.sent_count(20)
    assert [msgpack.unpackb(m)["seq"] for m in ws.sent] == list(range(20))
    assert not conn.closed
    await conn.stop()


async def _push_all(conn: Connection, frames: list[OutFrame]) -> None:
    for frame in frames:
        await conn.push_waiting(frame)


class WatchedEvent(asyncio.Event):
    """An event that says when someone started waiting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waited = asyncio.Event()

    async def wait(self) -> Literal[True]:
        self.waited.set()
        return await super().wait()


class ReadingWebSocket:
    """The first send waits until ``release``; every send after it goes through."""

    def __init__(self) -> None:
        self.server = FakeServerProtocol()
        self._receive = self.server.receive
        self.sent: list[bytes] = []
        self.release = asyncio.Event()
        self._progress = asyncio.Condition()

    async def send(self, message: dict[str, Any]) -> None:
        async with self._progress:
            self.sent.append(message["bytes"])
            self._progress.notify_all()
        await self.release.wait()

    async def sent_count(self, n: int) -> None:
        async with self._progress:
            await asyncio.wait_for(self._progress.wait_for(lambda: len(self.sent) >= n), 5)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        return None
