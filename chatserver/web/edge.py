"""What every request and socket passes first: a cap on what one client address holds open
at once, a deadline for request bodies, and HSTS on HTTPS. Plain ASGI, so that websocket
scopes pass through with uvicorn's own ``receive`` (``connection.server_transport`` needs it).

The client address is ``scope["client"]``: uvicorn rewrites it from X-Forwarded-For only for
peers in ``trusted_proxies``, so behind a proxy the cap is per visitor, not per proxy. A
trusted proxy's own address is never capped or limited: it stands for many clients (and,
by default, loopback is trusted, so local load tests are not throttled as one client)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable
from typing import Any

from starlette import types as asgi
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware

from chatserver.core.ratelimit import KeyedLimiter
from chatserver.core.settings import Settings

log = logging.getLogger("livedesk.edge")

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


class AddressCounter:
    """How many connections each address holds; ``acquire`` refuses beyond ``cap``
    (0: no cap). Used from one event loop only."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._open: dict[str, int] = {}

    def acquire(self, host: str) -> bool:
        held = self._open.get(host, 0)
        if self.cap and held >= self.cap:
            return False
        self._open[host] = held + 1
        return True

    def release(self, host: str) -> None:
        held = self._open.get(host, 0) - 1
        if held > 0:
            self._open[host] = held
        else:
            self._open.pop(host, None)

    def held(self, host: str) -> int:
        return self._open.get(host, 0)


def trusted_matcher(proxies: list[str]) -> Callable[[str], bool]:
    """A test for "this peer is one of our proxies" (addresses, CIDRs, or ``*``)."""
    if "*" in proxies:
        return lambda host: True
    networks = []
    for entry in proxies:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            log.warning("trusted_proxies: %r is not an address or network; ignored", entry)

    def trusted(host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False  # a unix socket path, or a forwarded value that is not an address
        return any(address in net for net in networks)

    return trusted


def client_host(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


class Limits:
    """One app's per-address and per-visitor limits on anonymous writes."""

    def __init__(self, settings: Settings) -> None:
        self.trusted = trusted_matcher(settings.edge.trusted_proxies)
        s = settings
        self.sessions = (
            KeyedLimiter(s.edge.visitor_sessions_per_min_per_address),
            KeyedLimiter(s.edge.visitor_sessions_per_min_per_visitor),
        )
        self.offline = (
            KeyedLimiter(s.edge.offline_messages_per_min_per_address),
            KeyedLimiter(s.edge.offline_messages_per_min_per_visitor),
        )
        self.sockets = (
            KeyedLimiter(s.edge.visitor_sockets_per_min_per_address),
            KeyedLimiter(s.edge.visitor_sockets_per_min_per_visitor),
        )

    def address(self, scope: Scope) -> str | None:
        """The client address limits apply to: None for a trusted proxy's own."""
        host = client_host(scope)
        return None if host is None or self.trusted(host) else host

    def check(
        self, pair: tuple[KeyedLimiter, KeyedLimiter], scope: Scope, visitor: str | None
    ) -> int:
        """0 when allowed, else the seconds to wait (a Retry-After)."""
        by_address, by_visitor = pair
        host = self.address(scope)
        if host is not None and not by_address.allow(host):
            return by_address.retry_after(host)
        if visitor is not None and not by_visitor.allow(visitor):
            return by_visitor.retry_after(visitor)
        return 0


class EdgeMiddleware:
    def __init__(self, app: Any, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.counter = AddressCounter(settings.edge.max_connections_per_address)
        self.trusted = trusted_matcher(settings.edge.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = client_host(scope)
        if host is not None and self.trusted(host):
            host = None
        if host is not None and not self.counter.acquire(host):
            log.warning("%s from %s refused: %d open", kind, host, self.counter.held(host))
            await _refuse(scope, send)
            return
        try:
            if kind == "http":
                await self._http(scope, receive, send)
            else:
                await self.app(scope, receive, send)
        finally:
            if host is not None:
                self.counter.release(host)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.edge.body_timeout_s
        body_done = False
        timed_out = False
        hsts = self.settings.security.hsts_max_age_s if scope.get("scheme") == "https" else 0

        async def timed_receive() -> Any:
            nonlocal body_done, timed_out
            if body_done:
                return await receive()  # after the body: waiting for a disconnect is fine
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                raise HTTPException(408, "the request body came too slowly") from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def edge_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and (hsts or timed_out):
                headers = list(message.get("headers", []))
                if hsts:
                    headers.append((b"strict-transport-security", f"max-age={hsts}".encode()))
                if timed_out:
                    # The rest of the body may still be on its way: do not read it as a request.
                    headers.append((b"connection", b"close"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, timed_receive, edge_send)


async def _refuse(scope: Scope, send: Send) -> None:
    body = b"too many connections from your address"
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"retry-after", b"5"),
        (b"connection", b"close"),
    ]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    elif "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": 429, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})


class LiveCORS(CORSMiddleware):
    """CORS for the widget's origins as the settings say now (admins edit them in the
    browser): the list is read per request from the app's current settings."""

    def __init__(self, app: Any, initial: Settings, **options: Any) -> None:
        super().__init__(app, allow_origins=[], **options)
        self._initial = initial

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        state = getattr(scope.get("app"), "state", None)
        settings = getattr(state, "settings", None) or self._initial
        self._origins = {o.rstrip("/") for o in settings.security.allowed_origins}
        await super().__call__(scope, receive, send)

    def is_allowed_origin(self, origin: str) -> bool:
        origins: set[str] = getattr(self, "_origins", set())
        return "*" in origins or origin.rstrip("/") in origins
