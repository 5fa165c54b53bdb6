"""How uvicorn runs the app, in one place for ``livedesk serve`` and the tests' live server:
its options, an HTTP protocol that bounds slow and hoarding clients at the socket, and the
open-file limit.

uvicorn bounds nothing before a request's headers are complete (its keep-alive timer runs
only between requests, and any byte cancels it), so a client trickling headers holds its
connection, and its descriptor, for ever; nor, with httptools, how large the headers may
grow. ``GuardedHttp`` closes a connection whose request headers are not complete
``header_timeout_s`` after it opened or after its previous response (408), or grow past
``max_header_bytes`` (431), and closes at once a connection from an address that already holds
``max_connections_per_address`` (trusted proxies excepted: they carry everyone; behind
one, ``edge.EdgeMiddleware`` caps per forwarded address)."""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from chatserver.core.settings import Settings
from chatserver.web.edge import AddressCounter, trusted_matcher
from chatserver.web.ws_protocol import LivedeskWebSocket

log = logging.getLogger("livedesk.serving")
TIMEOUT_408 = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
TOO_LARGE_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-length: 0\r\nconnection: close\r\n\r\n"
)


class GuardedHttp(HttpToolsProtocol):
    # Set on the subclass ``guarded_http`` makes for one server.
    header_timeout_s: float = 10.0
    max_header_bytes: int = 64 * 1024
    counter: AddressCounter = AddressCounter(0)
    trusted: Callable[[str], bool] = staticmethod(lambda host: False)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._slot: str | None = None
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        host = self.client[0] if self.client else None
        if host is not None and not self.trusted(host):
            if not self.counter.acquire(host):
                log.warning("connection from %s closed: it holds %d", host, self.counter.held(host))
                transport.close()
                return
            self._slot = host
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._header_bytes = 0
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        self._refuse(TIMEOUT_408)

    def _refuse(self, answer: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        # httptools buffers a request line and headers without bound: count what arrives
        # while headers are awaited (the armed timer says so), up to their blank line.
        if self._header_timer is not None:
            end = data.find(b"\r\n\r\n")
            self._header_bytes += len(data) if end < 0 else end
            if self._header_bytes > self.max_header_bytes:
                self._disarm()
                self._refuse(TOO_LARGE_431)
                return
        super().data_received(data)

    def _release(self) -> None:
        if self._slot is not None:
            self.counter.release(self._slot)
            self._slot = None

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        queued = bool(self.pipeline)
        super().on_response_complete()
        if not queued and not self.transport.is_closing():
            self._arm()  # the next request's headers get the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._release()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        # The transport now calls the websocket protocol: it gives the slot back.
        ws_protocol = self.transport.get_protocol()
        slot, self._slot = self._slot, None
        if slot is None or ws_protocol is self:
            return
        lost = ws_protocol.connection_lost
        counter = self.counter

        def connection_lost(exc: Exception | None) -> None:
            counter.release(slot)
            lost(exc)

        ws_protocol.connection_lost = connection_lost  # type: ignore[method-assign]


def guarded_http(settings: Settings) -> type[GuardedHttp]:
    """A ``GuardedHttp`` for one server, with its own per-address count."""
    return type(
        "LivedeskHttp",
        (GuardedHttp,),
        {
            "header_timeout_s": settings.edge.header_timeout_s,
            "max_header_bytes": settings.edge.max_header_bytes,
            "counter": AddressCounter(settings.edge.max_connections_per_address),
            "trusted": staticmethod(trusted_matcher(settings.edge.trusted_proxies)),
        },
    )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config`` (besides app, host, port)."""
    return {
        "http": guarded_http(settings),
        "ws": LivedeskWebSocket,
        "ws_max_size": settings.limits.max_frame_bytes * 2,
        "ws_per_message_deflate": False,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.edge.trusted_proxies,
        "lifespan": "on",
    }


def raise_fd_limit() -> tuple[int, int]:
    """Raise the open-file soft limit to the hard limit (a common default soft limit of
    1,024 is a few hundred visitors). Returns the (soft, hard) limits now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:  # an unlimited hard limit the kernel caps lower
            log.warning("could not raise the open-file limit from %d: %s", soft, exc)
    return resource.getrlimit(resource.RLIMIT_NOFILE)
