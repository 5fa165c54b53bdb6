"""The two websocket endpoints called straight from the edge, past Starlette's middleware
and router.

An ASGI call stays on the stack for as long as its socket is open: every layer between
the server and the endpoint is a coroutine frame (with its closures) an idle socket keeps
for its life. For a websocket, CORS passes it through, the exception layer only turns a
``WebSocketException`` (never raised here) into a close, and the router only finds the
endpoint, so together they were about 7 KB of each idle socket's memory
(benchmarks/connections.py). The edge (per-address cap) stays in front; every other path,
and any other websocket path, goes the usual way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette._utils import get_route_path
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from chatserver.web.http_body import STORE_ERROR_HANDLERS

SocketEndpoint = Callable[[WebSocket], Awaitable[None]]
# What the exception layer answered for a websocket: nothing sent, so the server refuses
# the handshake (500) or closes the socket; kept so, without a traceback in the log.
QUIET_ERRORS = tuple(STORE_ERROR_HANDLERS)


class SocketShortcut:
    def __init__(self, app: Any, endpoints: dict[str, SocketEndpoint]) -> None:
        self.app = app
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            endpoint = self.endpoints.get(get_route_path(scope))
            if endpoint is not None:
                scope["endpoint"] = endpoint
                scope.setdefault("path_params", {})
                try:
                    await endpoint(WebSocket(scope, receive=receive, send=send))
                except QUIET_ERRORS:
                    pass
                return
        await self.app(scope, receive, send)
