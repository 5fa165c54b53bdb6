"""Slow and hoarding clients (issue 13, item 3) and HTTPS hardening (item 8), against a real
server on a loopback port with real sockets. 127.0.0.2 plays the hostile client (Linux
routes all of 127/8 to loopback); 127.0.0.1 is the bystander or the trusted proxy."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.integration.conftest import AGENT_PASSWORD, make_settings, seed_agents
from tests.live import LiveServer, visitor_session

HOSTILE = "127.0.0.2"


@pytest.fixture
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    overrides = getattr(request, "param", {})
    settings = make_settings(tmp_path, **overrides)
    seed_agents(settings, ("ana@example.com", "agent", 5))
    server = LiveServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


async def open_from(host: str, port: int) -> socket.socket:
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    sock.bind((host, 0))
    await loop.sock_connect(sock, ("127.0.0.1", port))
    return sock


async def one_response(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """One whole HTTP response (head and a Content-Length body), however TCP splits it."""
    loop = asyncio.get_running_loop()
    got = b""
    async with asyncio.timeout(timeout):
        while b"\r\n\r\n" not in got:
            got += await loop.sock_recv(sock, 4096)
        head, _, body = got.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            body += await loop.sock_recv(sock, 4096)
    return got


async def closed_by_server(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sent until it closed the connection (bounded wait)."""
    loop = asyncio.get_running_loop()
    got = b""
    async with asyncio.timeout(timeout):
        while True:
            try:
                chunk = await loop.sock_recv(sock, 4096)
            except ConnectionResetError:
                return got
            if not chunk:
                return got
            got += chunk


@pytest.mark.parametrize(
    "live", [{"max_connections_per_address": 20, "header_timeout_s": 60.0}], indirect=True
)
async def test_healthz_answers_while_one_address_hogs_connections(live: LiveServer) -> None:
    socks = [await open_from(HOSTILE, live.port) for _ in range(60)]
    try:
        # Each hostile connection trickles the start of a request and stops.
        loop = asyncio.get_running_loop()
        for sock in socks:
            await loop.sock_sendall(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        # The 40 beyond the cap are closed at once; the first 20 are held.
        closed = await asyncio.gather(*(closed_by_server(s) for s in socks[20:]))
        assert closed == [b""] * 40
        async with httpx.AsyncClient(base_url=live.url, timeout=5) as http:
            assert (await http.get("/healthz")).text == "ok"
        # A held one still works once it finishes its request.
        await loop.sock_sendall(socks[0], b"\r\n")
        assert (await one_response(socks[0])).startswith(b"HTTP/1.1 200")
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.parametrize("live", [{"header_timeout_s": 0.5}], indirect=True)
async def test_a_client_trickling_headers_is_cut_off_after_the_header_timeout(
    live: LiveServer,
) -> None:
    sock = await open_from(HOSTILE, live.port)
    try:
        await asyncio.get_running_loop().sock_sendall(sock, b"GET /healthz HTTP/1.1\r\nHo")
        assert (await closed_by_server(sock, 5)).startswith(b"HTTP/1.1 408")
    finally:
        sock.close()


@pytest.mark.parametrize("live", [{"header_timeout_s": 0.5}], indirect=True)
async def test_the_header_timeout_also_bounds_the_next_request_on_a_kept_alive_connection(
    live: LiveServer,
) -> None:
    sock = await open_from(HOSTILE, live.port)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_sendall(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await one_response(sock)).startswith(b"HTTP/1.1 200")
        # Any byte cancels uvicorn's own keep-alive timer; ours still runs.
        await loop.sock_sendall(sock, b"G")
        assert (await closed_by_server(sock, 5)).startswith(b"HTTP/1.1 408")
    finally:
        sock.close()


async def test_headers_past_the_size_limit_get_431_and_a_close(live: LiveServer) -> None:
    sock = await open_from(HOSTILE, live.port)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_sendall(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        pad = b"X-Pad: " + b"a" * 1000 + b"\r\n"
        with contextlib.suppress(ConnectionError):  # the server may close mid-send
            for _ in range(80):  # 80 KB: past the default 64 KiB
                await asyncio.wait_for(loop.sock_sendall(sock, pad), 5)
        assert (await closed_by_server(sock, 5)).startswith(b"HTTP/1.1 431")
    finally:
        sock.close()


@pytest.mark.parametrize("live", [{"body_timeout_s": 0.5}], indirect=True)
async def test_a_body_that_comes_too_slowly_gets_408(live: LiveServer) -> None:
    sock = await open_from(HOSTILE, live.port)
    try:
        await asyncio.get_running_loop().sock_sendall(
            sock,
            b"POST /api/visitor/session HTTP/1.1\r\nHost: x\r\n"
            b"content-type: application/json\r\ncontent-length: 100\r\n\r\n{",
        )
        answer = await closed_by_server(sock, 5)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
        assert b"connection: close" in answer.lower()
    finally:
        sock.close()


@pytest.mark.parametrize(
    "live", [{"max_connections_per_address": 2, "trusted_proxies": ["127.0.0.1"]}], indirect=True
)
async def test_sockets_count_against_the_forwarded_address_only_from_a_trusted_proxy(
    live: LiveServer,
) -> None:
    token = (await visitor_session(live))["token"]

    async def visitor_socket(forwarded_for: str, sock: socket.socket | None = None) -> object:
        return await connect(
            f"{live.ws_url}/ws/visitor",
            subprotocols=["livedesk.v1.json", f"livedesk.token.{token}"],  # type: ignore[list-item]
            origin=live.url,  # type: ignore[arg-type]
            additional_headers={"X-Forwarded-For": forwarded_for},
            sock=sock,
        )

    held = [await visitor_socket("203.0.113.9") for _ in range(2)]
    with pytest.raises(InvalidStatus) as refused:
        await visitor_socket("203.0.113.9")
    assert refused.value.response.status_code == 429
    assert refused.value.response.headers["retry-after"]
    held.append(await visitor_socket("203.0.113.10"))  # another client behind the proxy
    # From a peer that is not a trusted proxy the header is ignored: the peer is the client.
    untrusted = [
        await visitor_socket("203.0.113.9", await open_from(HOSTILE, live.port)) for _ in range(2)
    ]
    for ws in (*held, *untrusted):
        await ws.close()  # type: ignore[attr-defined]
    # Closed sockets give their places back, at the proxy's forwarded address and at the
    # socket (an upgraded connection's place is released by the websocket protocol).
    again = [await visitor_socket("203.0.113.9")]
    again += [
        await visitor_socket("203.0.113.9", await open_from(HOSTILE, live.port)) for _ in range(2)
    ]
    for ws in again:
        await ws.close()  # type: ignore[attr-defined]


def test_serve_raises_the_open_file_soft_limit_to_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard <= 256:
        pytest.skip("the hard limit leaves nothing to raise")

    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    code = (
        "import resource; from chatserver.web.serving import raise_fd_limit;"
        "before = resource.getrlimit(resource.RLIMIT_NOFILE)[0];"
        "print(before, raise_fd_limit()[0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], preexec_fn=lower, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["256", str(hard)]


# ---------------------------------------------------------------------------- HTTPS (item 8)


async def login(http: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    body = {"email": "ana@example.com", "password": AGENT_PASSWORD}
    return await http.post("/login", json=body, headers=headers)


async def test_over_https_the_cookie_is_secure_and_hsts_is_sent(live: LiveServer) -> None:
    # 127.0.0.1 is a trusted proxy by default: its X-Forwarded-Proto is believed.
    https = {"x-forwarded-proto": "https"}
    async with httpx.AsyncClient(base_url=live.url) as http:
        response = await login(http, https)
        assert response.status_code == 200
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("__Host-livedesk_session=")
        assert "secure" in cookie.lower()
        assert response.headers["strict-transport-security"] == f"max-age={180 * 24 * 3600}"
        # The Secure cookie works over the same HTTPS.
        name, value = cookie.split(";")[0].split("=", 1)
        me = await http.get("/api/me", headers={**https, "cookie": f"{name}={value}"})
        assert me.status_code == 200

        plain = await login(http, {})
        assert "secure" not in plain.headers["set-cookie"].lower()
        assert "strict-transport-security" not in plain.headers


@pytest.mark.parametrize("live", [{"trusted_proxies": []}], indirect=True)
async def test_a_forwarded_proto_from_an_untrusted_peer_changes_nothing(live: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live.url) as http:
        response = await login(http, {"x-forwarded-proto": "https"})
    assert "secure" not in response.headers["set-cookie"].lower()
    assert "strict-transport-security" not in response.headers


def test_cookie_is_secure_when_the_public_url_is_https(tmp_path: Path) -> None:
    from chatserver.live.auth import session_cookie_kwargs, session_cookie_name

    settings = make_settings(tmp_path, public_url="https://desk.example")
    assert session_cookie_kwargs(settings)["secure"] is True
    assert session_cookie_name(settings) == "__Host-livedesk_session"
    forced_off = make_settings(tmp_path, public_url="https://desk.example", cookie_secure=False)
    assert session_cookie_kwargs(forced_off)["secure"] is False
