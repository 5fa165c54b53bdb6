"""uvicorn's sans-I/O websocket protocol with two shortcuts for the hub's hot path.

* ``write_messages``: frames already-encoded messages and writes them to the transport in
  one call, without the ASGI ``send`` path (Starlette's checks, uvicorn's dispatch on the
  message type, a ``Frame`` object and its serialisation per message). A server frame is
  never masked, and we negotiate no extension, so the frame is a 2–10 byte header and the
  payload. ``live.connection.Connection`` finds it under the socket (``direct_writer``)
  and falls back to ``send`` where it is absent (another server, the tests' fakes).
* Reading is paused only once ``max_unread`` messages wait for the app, not after every
  message as uvicorn does (a pause and a resume per message are two calls into the loop,
  and with uvloop two changes to the poller).

* The handshake's parsed request and response (their headers, about 4 KB a socket) are let
  go once the handshake is answered: uvicorn keeps them for the socket's life, unused
  (the app reads the headers from its scope), and so does websockets' parser (the request's
  headers are emptied).
* Its received-message queue and its ``writable`` event are ``runtime.slim``'s, which cost
  an idle socket next to nothing (asyncio's are 4 KB a socket, allocated up front).

Closing, pings and the handshake stay uvicorn's.
"""

from __future__ import annotations

import struct
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from chatserver.runtime.slim import SlimEvent, SlimQueue

FIN_TEXT = 0x81
FIN_BINARY = 0x82
SHORT_HEADER = struct.Struct("!BB")
MEDIUM_HEADER = struct.Struct("!BBH")
LONG_HEADER = struct.Struct("!BBQ")


def frame_header(first: int, size: int) -> bytes:
    """The header of an unmasked, final frame of ``size`` payload bytes (RFC 6455 §5.2)."""
    if size < 126:
        return SHORT_HEADER.pack(first, size)
    if size < 1 << 16:
        return MEDIUM_HEADER.pack(first, 126, size)
    return LONG_HEADER.pack(first, 127, size)


class LivedeskWebSocket(WebSocketsSansIOProtocol):
    max_unread = 16  # messages received and not yet read by the app before reading pauses

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = SlimQueue()  # type: ignore[assignment]
        self.writable = SlimEvent(True)  # type: ignore[assignment]

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and self.response is not None:
            # websockets' parser keeps the parsed request (a local of its generator) for the
            # socket's life: its headers, about 3 KB a socket, are read by nobody any more.
            if self.request is not None:
                self.request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]

    def can_write(self) -> bool:
        """Open, accepted, no close sent, no extension to apply: ``write_messages`` may go."""
        return (
            self.handshake_complete
            and self.initial_response is None
            and not self.close_sent
            and not self.disconnected
            and self.conn.state is State.OPEN
            and not self.conn.extensions
        )

    def write_messages(self, payloads: list[bytes], text: bool) -> bool:
        """Write ``payloads`` as one message each, in one transport write. False (and
        nothing written) when the socket can no longer take messages."""
        if not self.can_write():
            return False
        first = FIN_TEXT if text else FIN_BINARY
        if len(payloads) == 1:
            payload = payloads[0]
            self.transport.write(frame_header(first, len(payload)) + payload)
            return True
        parts: list[bytes] = []
        for payload in payloads:
            parts.append(frame_header(first, len(payload)))
            parts.append(payload)
        self.transport.write(b"".join(parts))
        return True

    def send_receive_event_to_app(self) -> None:
        # uvicorn pauses reading after each message until the app reads it; pretend reading
        # is paused so it does not, and pause only when the app falls behind.
        paused = self.read_paused
        self.read_paused = True
        super().send_receive_event_to_app()
        self.read_paused = paused
        if not paused and self.queue.qsize() >= self.max_unread:
            self.read_paused = True
            self.transport.pause_reading()
