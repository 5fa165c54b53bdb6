"""Web Push over a real push service on loopback: an offer made while the agent's console
is not in front of them reaches their browser's subscription as an RFC 8291 encrypted
request signed with the server's VAPID key, which the test decrypts with the
subscription's own private key; while a console is focused the offer rings there and
nothing is pushed. A visitor's burst of messages in the agent's chat is one push."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chatserver.backends import push_queries as pq
from chatserver.backends.store import Store
from chatserver.services import webpush
from chatserver.services.webpush import WebPush
from tests.integration.conftest import Backend, add_agents, seed_agents
from tests.integration.test_desk_api import Session, login, online
from tests.live import LiveServer, connect_visitor

pytestmark = pytest.mark.conformance


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass
class Pushed:
    path: str
    headers: dict[str, str]
    body: bytes


class PushService:
    """A push service's receiving end on loopback: each POST is kept for the test."""

    def __init__(self) -> None:
        self.received: queue.Queue[Pushed] = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                received.put(
                    Pushed(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                self.send_response(201)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    async def next(self) -> Pushed:
        return await asyncio.to_thread(self.received.get, True, 30)


@pytest.fixture
def push_service() -> Iterator[PushService]:
    service = PushService()
    service.thread.start()
    try:
        yield service
    finally:
        service.server.shutdown()
        service.server.server_close()


def ana_desk(backend: Backend, **overrides: object) -> Iterator[LiveServer]:
    """A desk with Ana (cap 5) whose push endpoints may be plain http (the loopback push
    service)."""
    settings = backend.settings(push_insecure_endpoints=True, **overrides)
    seed_agents(settings, ("ana@example.com", "agent", 5))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def desk(backend: Backend) -> Iterator[LiveServer]:
    yield from ana_desk(backend, auto_accept=False)


class Browser:
    """What a browser keeps for one push subscription: its ECDH key pair and auth secret."""

    def __init__(self, endpoint: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        public = self.key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        self.subscription = {
            "endpoint": endpoint,
            "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)},
        }

    def decrypt(self, body: bytes) -> dict:
        plain = http_ece.decrypt(
            body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"
        )
        return json.loads(plain)


async def delete(session: Session, path: str, body: dict) -> httpx.Response:
    headers = {**session.headers, "x-csrf-token": session.csrf}
    async with httpx.AsyncClient(base_url=session.server.url) as http:
        return await http.request("DELETE", path, json=body, headers=headers)


async def visitor_writes(server: LiveServer, text: str) -> str:
    client, _ = await connect_visitor(server, codec="json")
    await client.recv_type("welcome")
    return str((await client.send_text(text))["conversation_id"])


async def test_an_offer_to_an_agent_without_a_focused_console_is_pushed_encrypted(
    desk: LiveServer, push_service: PushService
) -> None:
    ana = await login(desk, "ana@example.com")
    public_key = (await ana.get("/api/push/key")).json()["public_key"]
    browser = Browser(push_service.url + "/push/ana-1")
    assert (await ana.post("/api/push/subscription", browser.subscription)).status_code == 204
    agent = await online(desk, ana)

    conv_id = await visitor_writes(desk, "Where is my parcel?")
    await agent.recv_type("offer", conversation_id=conv_id)
    pushed = await push_service.next()
    assert pushed.path == "/push/ana-1"
    assert pushed.headers["content-encoding"] == "aes128gcm"
    assert int(pushed.headers["ttl"]) > 0
    # Signed with the key the console subscribed with (VAPID, RFC 8292).
    assert pushed.headers["authorization"].startswith("vapid t=")
    assert f"k={public_key}" in pushed.headers["authorization"]
    assert browser.decrypt(pushed.body) == {"type": "offer", "conversation_id": conv_id}
    # The key pair is made once: the same on the next read.
    assert (await ana.get("/api/push/key")).json()["public_key"] == public_key


async def test_a_focused_console_hears_the_offer_itself_and_nothing_is_pushed(
    desk: LiveServer, push_service: PushService
) -> None:
    ana = await login(desk, "ana@example.com")
    browser = Browser(push_service.url + "/push/ana-2")
    assert (await ana.post("/api/push/subscription", browser.subscription)).status_code == 204
    agent = await online(desk, ana)
    assert (await ana.post("/api/push/focus", {"focused": True})).status_code == 204
    first = await visitor_writes(desk, "first")
    await agent.recv_type("offer", conversation_id=first)
    await agent.send({"type": "accept", "conversation_id": first})
    await agent.recv_type("assigned")

    # The console goes to the background: the next offer is pushed, and it is the first
    # request the push service sees (the focused offer was never sent).
    assert (await ana.post("/api/push/focus", {"focused": False})).status_code == 204
    second = await visitor_writes(desk, "second")
    await agent.recv_type("offer", conversation_id=second)
    assert browser.decrypt((await push_service.next()).body)["conversation_id"] == second

    # Unsubscribed: the browser's endpoint is forgotten.
    assert (await delete(ana, "/api/push/subscription", browser.subscription)).status_code == 204


@pytest.fixture
def batching_desk(backend: Backend) -> Iterator[LiveServer]:
    # A batch long enough to hold a burst sent ack by ack on a busy machine.
    yield from ana_desk(backend, auto_accept=False, push_message_batch_s=2.0)


async def test_a_burst_of_visitor_messages_in_an_unfocused_agents_chat_is_one_push(
    batching_desk: LiveServer, push_service: PushService
) -> None:
    desk = batching_desk
    ana = await login(desk, "ana@example.com")
    browser = Browser(push_service.url + "/push/ana-3")
    assert (await ana.post("/api/push/subscription", browser.subscription)).status_code == 204
    agent = await online(desk, ana)
    visitor, _ = await connect_visitor(desk, codec="json")
    await visitor.recv_type("welcome")
    conv_id = str((await visitor.send_text("hello?"))["conversation_id"])
    await agent.recv_type("offer", conversation_id=conv_id)
    await agent.send({"type": "accept", "conversation_id": conv_id})
    await agent.recv_type("assigned")
    assert browser.decrypt((await push_service.next()).body)["type"] == "offer"

    for text in ("are you there?", "my parcel is late", "order 1234"):
        await visitor.send_text(text, conversation_id=conv_id)
    burst = await push_service.next()
    assert burst.path == "/push/ana-3"
    assert burst.headers["authorization"].startswith("vapid t=")
    assert browser.decrypt(burst.body) == {
        "type": "messages",
        "conversation_id": conv_id,
        "count": 3,
    }

    # The batch was pushed and closed: the next message opens a new one.
    await visitor.send_text("hello again", conversation_id=conv_id)
    again = browser.decrypt((await push_service.next()).body)
    assert again == {"type": "messages", "conversation_id": conv_id, "count": 1}


async def test_push_endpoints_must_be_https_unless_allowed_and_the_choice_follows_the_agent(
    backend: Backend,
) -> None:
    settings = backend.settings()
    await add_agents(settings, ("ana@example.com", "agent", 5))
    live = LiveServer(settings).start()
    try:
        ana = await login(live, "ana@example.com")
        plain = Browser("http://127.0.0.1:9/push")
        refused = await ana.post("/api/push/subscription", plain.subscription)
        assert refused.status_code == 400
        assert (await ana.get("/api/push/preference")).json() == {"desktop": None}
        assert (await ana.post("/api/push/preference", {"desktop": True})).status_code == 200
        # Another browser (a new login) reads the same choice.
        again = await login(live, "ana@example.com")
        assert (await again.get("/api/push/preference")).json() == {"desktop": True}
    finally:
        live.stop()


async def test_which_agents_have_a_subscription_is_cached_and_read_again_after_its_time(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = backend.settings(push_insecure_endpoints=True)
    await add_agents(settings, ("ana@example.com", "agent", 5), ("bo@example.com", "agent", 5))
    store, other_node = Store(settings.server.database_url), Store(settings.server.database_url)
    try:
        ids = {a.email: a.id for a in await store.list_agents() if a.id is not None}
        ana, bo = ids["ana@example.com"], ids["bo@example.com"]
        push = WebPush(store, settings)
        assert push.may_push_to(ana)  # nothing read yet: ask the store
        await push.subscribers_read()
        assert not push.may_push_to(ana) and not push.may_push_to(bo)

        await other_node.write(lambda c: pq.subscribe(c, ana, "http://p/ana", "k", "a", 1))
        assert not push.may_push_to(ana)  # another node's change waits for the next read
        monkeypatch.setattr(webpush, "SUBSCRIBERS_TTL_S", 0.0)
        push.may_push_to(ana)
        await push.subscribers_read()
        assert push.may_push_to(ana) and not push.may_push_to(bo)

        monkeypatch.setattr(webpush, "SUBSCRIBERS_TTL_S", 3600.0)
        push.subscriptions_changed(bo, subscribed=True)  # this node's own: at once
        assert push.may_push_to(bo)
        await push.subscribers_read()
        await push.stop()
    finally:
        await store.stop()
        await other_node.stop()


@pytest.fixture
def auto_desk(backend: Backend) -> Iterator[LiveServer]:
    yield from ana_desk(backend, auto_accept=True, push_message_batch_s=2.0)


async def test_the_words_that_open_a_chat_assigned_at_once_are_pushed_as_its_offer_only(
    auto_desk: LiveServer, push_service: PushService
) -> None:
    ana = await login(auto_desk, "ana@example.com")
    browser = Browser(push_service.url + "/push/ana-4")
    assert (await ana.post("/api/push/subscription", browser.subscription)).status_code == 204
    agent = await online(auto_desk, ana)
    visitor, _ = await connect_visitor(auto_desk, codec="json")
    await visitor.recv_type("welcome")
    conv_id = str((await visitor.send_text("hello?"))["conversation_id"])
    await agent.recv_type("assigned")
    assert browser.decrypt((await push_service.next()).body)["type"] == "offer"

    # The next message opens the chat's first batch: the opening words were not in one.
    await visitor.send_text("anyone?", conversation_id=conv_id)
    pushed = browser.decrypt((await push_service.next()).body)
    assert pushed == {"type": "messages", "conversation_id": conv_id, "count": 1}
