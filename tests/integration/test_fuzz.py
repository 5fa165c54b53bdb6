"""Hypothesis fuzzing of every client frame type over a real socket (one live server for the
module). After each example the socket still answers a ping, unless the server closed it
for abuse with the proper code; no frame the attacker gets names the victim's conversation
or carries its text; the victim's conversation still works at the end."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.integration.conftest import add_agents, make_settings
from tests.integration.test_hub_conversation import start_chat
from tests.live import OPEN_CLIENTS, LiveServer, visitor_session

SECRET = "victim-secret-5581"
TYPES = ["send", "typing", "seen", "resume", "close", "status", "rate", "ping", "x", ""]
ABUSE_CLOSES = {1008, 1009}  # flood, too big: the documented ways a socket may end


class World:
    """The module's server, a victim chat, and an event loop in a thread for the examples."""

    def __init__(self, tmp: Path) -> None:
        # Frames are under test, not limits: the one attacker token opens two sockets an example.
        self.settings = make_settings(
            tmp,
            rate_limit_per_s=100_000.0,
            rate_limit_burst=100_000,
            visitor_sockets_per_min_per_visitor=0,
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.run(add_agents(self.settings, ("ana@example.com", "agent", 10)))
        self.server = LiveServer(self.settings).start()
        _victim, self.agent, self.conv_id, _ = self.run(start_chat(self.server, SECRET))
        self.token = self.run(visitor_session(self.server))["token"]
        # These live on this loop: the suite's per-test cleanup (another loop) must not touch
        # them; close() does.
        self.clients = list(OPEN_CLIENTS)
        OPEN_CLIENTS.clear()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def close(self) -> None:
        async def close_all() -> None:
            for client in self.clients:
                await client.close()

        self.run(close_all())
        self.server.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("fuzz"))
    try:
        yield w
    finally:
        w.close()


def ids(conv_id: str) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.just(conv_id),  # the victim's real id: must be refused, not served
        st.sampled_from([0, "0e1", True, False, None, [], ["x"], {"a": 1}, -1, 2**64, 1.5]),
        st.text(max_size=80),
        st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
    )


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True),
    st.text(max_size=300),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = ["text", "client_msg_id", "conversation_id", "active", "preview", "seq", "after_seq",
          "status", "score", "comment"]  # fmt: skip


@st.composite
def frames(draw: st.DrawFn, conv_id: str) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": draw(st.one_of(st.sampled_from(TYPES), values))}
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=6, unique=True)):
        frame[name] = draw(ids(conv_id) if name == "conversation_id" else values)
    frame.update(draw(st.dictionaries(st.text(max_size=10), values, max_size=3)))
    return frame


# Any code point, lone surrogates included (what a JavaScript client that cuts a string
# mid-emoji sends; only JSON can carry them), NUL and the other controls too; and text
# sure to hold one of them.
UNSTORABLE = [chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"] + [
    "\ud800", "\udbff", "\udc00", "\udfff",
]  # fmt: skip
any_text = st.text(st.characters(exclude_categories=()), min_size=1, max_size=40)
holds_unstorable = st.tuples(
    st.text(max_size=10), st.sampled_from(UNSTORABLE), st.text(max_size=10)
).map("".join)


def unstorable_sends(
    text: st.SearchStrategy[str] = any_text,
) -> st.SearchStrategy[tuple[str, bytes | str]]:
    """A send, typing or rate frame whose text field may hold what no store can keep."""
    return st.builds(
        lambda kind, field, text: (
            "json",
            json.dumps({"type": kind, "client_msg_id": "fz", "active": True, "score": 3,
                        "text": "ok", field: text}),
        ),
        st.sampled_from(["send", "typing", "rate"]),
        st.sampled_from(["text", "preview", "comment"]),
        text,
    )  # fmt: skip


def encodings(conv_id: str) -> st.SearchStrategy[tuple[str, bytes | str]]:
    """(codec of the socket, raw frame): well-formed maps, and garbage of every kind."""
    packed = frames(conv_id).map(lambda f: ("msgpack", msgpack.packb(f, use_bin_type=True)))
    as_json = frames(conv_id).map(lambda f: ("json", json.dumps(f, default=repr)))
    return st.one_of(
        packed,
        packed,
        as_json,
        unstorable_sends(),
        st.tuples(st.just("msgpack"), st.binary(max_size=300)),
        st.tuples(st.just("json"), st.text(max_size=300)),
        st.tuples(st.just("msgpack"), st.text(max_size=50)),  # text frame on msgpack
        st.tuples(st.just("json"), st.binary(max_size=50)),  # binary frame on json
        st.tuples(st.sampled_from(["msgpack", "json"]), st.just(b"\x00" * 70_000)),  # too big
    )


async def one_example(world: World, codec: str, raw: bytes | str) -> None:
    server = world.server
    proto = "livedesk.v1.json" if codec == "json" else "livedesk.v1.msgpack"
    ws = await connect(
        f"{server.ws_url}/ws/visitor",
        subprotocols=[proto, f"livedesk.token.{world.token}"],  # type: ignore[list-item]
        origin=server.url,  # type: ignore[arg-type]
        max_size=None,
    )
    got: list[Any] = []

    def decode(data: bytes | str) -> Any:
        return json.loads(data) if codec == "json" else msgpack.unpackb(data, raw=False)

    try:
        got.append(decode(await asyncio.wait_for(ws.recv(), 10)))  # welcome
        await ws.send(raw)
        ping = json.dumps({"type": "ping"}) if codec == "json" else msgpack.packb({"type": "ping"})
        try:
            await ws.send(ping)
            while True:
                frame = decode(await asyncio.wait_for(ws.recv(), 10))
                got.append(frame)
                if isinstance(frame, dict) and frame.get("type") == "pong":
                    break
        except ConnectionClosed:
            assert ws.close_code in ABUSE_CLOSES, (ws.close_code, raw[:200])
        text = repr(got)
        assert SECRET not in text and world.conv_id not in text, got
        for frame in got:
            assert isinstance(frame, dict) and isinstance(frame.get("type"), str)
            if frame["type"] == "error":
                assert frame["code"] != "unavailable"  # bad input is never a server fault
    finally:
        await ws.close()
        # Whatever the attacker opened, it closes: the next example starts clean.
        await close_own_conversation(world, codec)


async def close_own_conversation(world: World, codec: str) -> None:
    ws = await connect(
        f"{world.server.ws_url}/ws/visitor",
        subprotocols=["livedesk.v1.msgpack", f"livedesk.token.{world.token}"],  # type: ignore[list-item]
        origin=world.server.url,  # type: ignore[arg-type]
    )
    try:
        welcome = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 10))
        if welcome.get("conversation"):
            await ws.send(msgpack.packb({"type": "close"}))
            while True:
                frame = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 10))
                if frame.get("type") == "event" and frame.get("event") == "closed":
                    break
                if frame.get("type") == "error":
                    break
    finally:
        await ws.close()


def test_fuzzed_frames_never_crash_leak_or_wedge_the_socket(world: World) -> None:
    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(example=encodings(world.conv_id))
    def check(example: tuple[str, bytes | str]) -> None:
        world.run(one_example(world, *example))

    check()

    async def victim_still_served() -> None:
        agent = world.agent
        await agent.send({"type": "ping"})
        await agent.recv_type("pong")
        await agent.send({"type": "resume", "conversation_id": world.conv_id, "after_seq": 0})
        resumed = await agent.recv_type("resumed")
        assert resumed["conversation"]["state"] == "active"
        first = await agent.recv_type("message", conversation_id=world.conv_id, seq=1)
        assert first["text"] == SECRET

    world.run(victim_still_served())


def test_fuzzed_unstorable_text_is_always_invalid_field(world: World) -> None:
    """Whatever the frame and field, text no store can keep is refused before anything is
    stored or published: `invalid_field`, never an ack, never `unavailable`."""

    async def one(raw: bytes | str) -> None:
        ws = await connect(
            f"{world.server.ws_url}/ws/visitor",
            subprotocols=["livedesk.v1.json", f"livedesk.token.{world.token}"],  # type: ignore[list-item]
            origin=world.server.url,  # type: ignore[arg-type]
        )
        try:
            await asyncio.wait_for(ws.recv(), 10)  # welcome
            await ws.send(raw)
            answer: dict[str, Any] = {}
            while answer.get("type") not in ("error", "ack"):  # nothing else answers a frame
                answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert (answer["type"], answer.get("code")) == ("error", "invalid_field"), raw
        finally:
            await ws.close()
            await close_own_conversation(world, "json")

    @settings(max_examples=40, deadline=None, database=None)
    @given(example=unstorable_sends(holds_unstorable))
    def check(example: tuple[str, bytes | str]) -> None:
        world.run(one(example[1]))

    check()
