"""A real hub on a loopback port (uvicorn in a thread) and real websocket clients."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import msgpack
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.typing import Origin, Subprotocol
from websockets.uri import parse_uri

from chatserver.core.settings import Settings
from chatserver.web.app import create_app
from chatserver.web.serving import uvicorn_options
from tests.servers import free_port

DEFAULT_TIMEOUT = 10.0
# Every client a test opened; the integration conftest closes them after each test.
OPEN_CLIENTS: list[Client] = []


class _SignallingServer(uvicorn.Server):
    """uvicorn's server, telling another thread the moment it listens."""

    def __init__(self, config: uvicorn.Config, started: threading.Event) -> None:
        super().__init__(config)
        self.started_event = started

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.started_event.set()


class LiveServer:
    """The whole app under uvicorn (websockets-sansio, as `livedesk serve` runs it)."""

    def __init__(self, settings: Settings, port: int | None = None) -> None:
        self.settings = settings
        self.port = port or free_port()
        self.app = create_app(settings)
        self._thread: threading.Thread | None = None
        self._server: _SignallingServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            **uvicorn_options(self.settings),
        )
        started = threading.Event()
        self._server = server = _SignallingServer(config, started)

        def run() -> None:
            try:
                asyncio.run(server.serve())
            except SystemExit:
                pass  # uvicorn's way of saying the app's startup failed; start() reports it
            finally:
                started.set()  # startup failed: let start() see it now, not after 30 s

        self._thread = threading.Thread(target=run, name=f"livedesk-{self.port}", daemon=True)
        self._thread.start()
        if not started.wait(30) or not server.started:
            raise RuntimeError("server did not start")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(20)
        self._server = None
        self._thread = None


class Client:
    """A websocket client speaking the livedesk protocol (msgpack or JSON)."""

    def __init__(self, ws: ClientConnection, codec: str) -> None:
        self.ws = ws
        self.codec = codec
        self.inbox: list[dict[str, Any]] = []
        OPEN_CLIENTS.append(self)

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(self.encode(frame))

    def encode(self, frame: dict[str, Any]) -> bytes | str:
        if self.codec == "json":
            return json.dumps(frame)
        return msgpack.packb(frame, use_bin_type=True)

    async def recv(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        if self.inbox:
            return self.inbox.pop(0)
        data = await asyncio.wait_for(self.ws.recv(), timeout)
        if self.codec == "json":
            return json.loads(data)
        return msgpack.unpackb(data, raw=False)

    async def recv_until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = DEFAULT_TIMEOUT
    ) -> dict[str, Any]:
        """The first frame matching ``predicate``; frames before it are kept, in order."""
        skipped: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                frame = await self.recv(max(0.01, deadline - loop.time()))
                if predicate(frame):
                    return frame
                skipped.append(frame)
        finally:
            self.inbox[:0] = skipped

    async def recv_type(
        self, kind: str, timeout: float = DEFAULT_TIMEOUT, **match: Any
    ) -> dict[str, Any]:
        return await self.recv_until(
            lambda f: f.get("type") == kind and all(f.get(k) == v for k, v in match.items()),
            timeout,
        )

    def drop(self, kind: str) -> list[dict[str, Any]]:
        taken = [f for f in self.inbox if f.get("type") == kind]
        self.inbox = [f for f in self.inbox if f.get("type") != kind]
        return taken

    async def send_text(
        self, text: str, conversation_id: str | None = None, client_msg_id: str | None = None
    ) -> dict[str, Any]:
        """Send a message and wait for its ack."""
        cid = client_msg_id or uuid.uuid4().hex
        frame: dict[str, Any] = {"type": "send", "text": text, "client_msg_id": cid}
        if conversation_id is not None:
            frame["conversation_id"] = conversation_id
        await self.send(frame)
        return await self.recv_type("ack", client_msg_id=cid)

    async def close(self) -> None:
        await self.ws.close()


def _subprotocols(codec: str) -> list[str]:
    return ["livedesk.v1.json" if codec == "json" else "livedesk.v1.msgpack"]


async def raw_visitor_socket(
    port: int, ws_base: str, origin: str, token: str, rcvbuf: int
) -> tuple[socket.socket, ClientProtocol]:
    """A visitor's websocket on a plain non-blocking socket whose receive buffer is
    ``rcvbuf`` (set before connecting: it is the window the server sees), with the
    handshake request sent and nothing read yet: for a tab that will stop reading."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    proto = ClientProtocol(
        parse_uri(f"{ws_base}/ws/visitor"),
        origin=Origin(origin),
        subprotocols=[
            Subprotocol(p) for p in (*_subprotocols("msgpack"), f"livedesk.token.{token}")
        ],
        max_size=None,
    )
    proto.send_request(proto.connect())
    await loop.sock_sendall(sock, b"".join(proto.data_to_send()))
    return sock, proto


async def visitor_session(server: LiveServer, **body: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post("/api/visitor/session", json=body)
        response.raise_for_status()
        return response.json()


async def connect_visitor(
    server: LiveServer,
    token: str | None = None,
    codec: str = "msgpack",
    origin: str | None = None,
    team: str | None = None,
    **body: Any,
) -> tuple[Client, str]:
    if token is None:
        token = (await visitor_session(server, **body))["token"]
    query = f"?team={team}" if team else ""  # the embed tag's data-team
    ws = await connect(
        f"{server.ws_url}/ws/visitor{query}",
        subprotocols=[*_subprotocols(codec), f"livedesk.token.{token}"],  # type: ignore[list-item]
        origin=origin or server.url,  # type: ignore[arg-type]
        max_size=None,
    )
    return Client(ws, codec), token


async def login_cookie(server: LiveServer, email: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post("/login", json={"email": email, "password": password})
        response.raise_for_status()
        return response.cookies[server.settings.security.session_cookie]


async def desk_headers(server: LiveServer, email: str, password: str) -> dict[str, str]:
    """A logged-in agent's cookie and CSRF token, as the console's writes carry them."""
    cookie = await login_cookie(server, email, password)
    headers = {"cookie": f"{server.settings.security.session_cookie}={cookie}"}
    async with httpx.AsyncClient(base_url=server.url) as http:
        me = await http.get("/api/me", headers=headers)
        me.raise_for_status()
    return {**headers, "x-csrf-token": me.json()["csrf"]}


async def connect_agent(
    server: LiveServer, cookie: str, codec: str = "msgpack", origin: str | None = None
) -> Client:
    ws = await connect(
        f"{server.ws_url}/ws/agent",
        subprotocols=_subprotocols(codec),  # type: ignore[arg-type]
        origin=origin or server.url,  # type: ignore[arg-type]
        additional_headers={"Cookie": f"{server.settings.security.session_cookie}={cookie}"},
        max_size=None,
    )
    return Client(ws, codec)
