"""Faults with real processes: a slow consumer, kill -9 mid-load, a locked database, a
reconnect storm, and Redis restarted under a two-node load. Every acknowledged message
survives; every client resumes."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from chatserver.backends.store import Store
from chatserver.core.settings import Settings
from chatserver.live.auth import Tokens
from chatserver.testing.loadtest import PASSWORD, HubProcess, LoadTest
from tests.cluster_nodes import cluster, readyz, running, target, until_ready
from tests.integration.conftest import add_agents, make_settings
from tests.integration.test_hub_conversation import start_chat
from tests.integration.test_loadtest import assert_clean, load_running, open_ended
from tests.live import Client, LiveServer, connect_agent, connect_visitor, login_cookie
from tests.servers import RedisServer

MSGPACK = "livedesk.v1.msgpack"


def sequenced(frames: list[dict[str, Any]], conv_id: str) -> dict[int, dict[str, Any]]:
    """The conversation's items a client holds, by seq: what it received, and its own
    messages by their acks (the hub does not echo a message to the socket that sent it)."""
    return {
        f["seq"]: f
        for f in frames
        if f.get("conversation_id") == conv_id
        and (
            f.get("type") in ("message", "event")
            or (f.get("type") == "ack" and not f.get("duplicate"))
        )
    }


# ---------------------------------------------------------------------------- slow consumer


def frames_to_overflow(frame_bytes: int, queue: int) -> int:
    """Enough frames to fill the kernel's largest send buffer, our receive buffer and the
    server's queue, with room to spare: the overflow is then certain, not a matter of time."""
    try:
        wmem_max = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        wmem_max = 4 * 1024 * 1024
    return wmem_max // frame_bytes + queue + 40


def big_frames(tmp_path: Path, text_chars: int, queue: int, queue_bytes: int = 1 << 30) -> Settings:
    """Frames of ``text_chars`` characters allowed and sent as fast as the test likes, into
    a send queue of ``queue`` frames and ``queue_bytes`` bytes."""
    return make_settings(
        tmp_path,
        send_queue_frames=queue,
        send_queue_bytes=queue_bytes,
        max_text_chars=text_chars,
        max_frame_bytes=4 * text_chars,
        rate_limit_per_s=100_000.0,
        rate_limit_burst=100_000,
    )


async def test_slow_consumer_is_closed_with_4000_and_nobody_else_waits(tmp_path: Path) -> None:
    text_chars = 60_000
    queue = 8
    settings = big_frames(tmp_path, text_chars, queue)
    await add_agents(settings, ("ana@example.com", "agent", 5))
    server = LiveServer(settings).start()
    try:
        visitor, agent, conv_id, token = await start_chat(server, "hello")
        # A second tab of the same visitor, with a tiny receive buffer, that stops reading.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        slow = await connect(
            f"{server.ws_url}/ws/visitor",
            sock=sock,
            subprotocols=[MSGPACK, f"livedesk.token.{token}"],  # type: ignore[list-item]
            origin=server.url,  # type: ignore[arg-type]
            max_size=None,
            max_queue=1,
            ping_interval=None,  # we do not read, so we could not see a pong
        )
        slow_client = Client(slow, "msgpack")
        assert (await slow_client.recv_type("welcome"))["conversation"][
            "conversation_id"
        ] == conv_id
        total = frames_to_overflow(text_chars, queue)
        body = "x" * (text_chars - 16)
        acked: list[int] = []
        for i in range(total):
            ack = await agent.send_text(f"{i:08d} {body}", conversation_id=conv_id)
            acked.append(ack["seq"])
            # The healthy tab gets each one before the next is even sent.
            got = await visitor.recv_type("message", seq=ack["seq"])
            assert got["text"].startswith(f"{i:08d} ")
            visitor.inbox.clear()
            agent.inbox.clear()
        assert acked == list(range(acked[0], acked[0] + total))
        # Now the slow tab reads: what was buffered, then the close.
        seen: list[int] = []
        with pytest.raises(ConnectionClosed):
            for _ in range(total + 10):
                frame = await slow_client.recv(timeout=10)
                if frame.get("type") == "message":
                    seen.append(frame["seq"])
        assert slow.close_code == 4000
        assert len(seen) < total  # it was dropped, not fed forever
        assert seen == sorted(seen)
    finally:
        server.stop()


async def test_resume_of_a_backlog_longer_than_the_send_queue_completes(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, send_queue_frames=8, rate_limit_per_s=100_000.0, rate_limit_burst=100_000
    )
    await add_agents(settings, ("ana@example.com", "agent", 5))
    server = LiveServer(settings).start()
    try:
        visitor, agent, conv_id, token = await start_chat(server, "hello")
        for i in range(30):
            await agent.send_text(f"answer {i}", conversation_id=conv_id)
            await visitor.recv_type("message", text=f"answer {i}")
        again, _ = await connect_visitor(server, token=token)
        await again.recv_type("welcome")
        await again.send({"type": "resume", "conversation_id": conv_id, "after_seq": 0})
        resumed = await again.recv_type("resumed")
        seqs = sorted(f["seq"] for f in again.drop("message") + again.drop("event"))
        assert seqs == list(range(1, resumed["conversation"]["last_seq"] + 1))
    finally:
        server.stop()


# ---------------------------------------------------------------------------- kill -9


async def test_kill_9_mid_load_loses_no_acknowledged_message_and_clients_resume(
    tmp_path: Path,
) -> None:
    hub = HubProcess(agents=1, cap=5, db_dir=str(tmp_path))
    await hub.seed()
    hub.start()
    there = target(hub)
    try:
        cookie = await login_cookie(there, "agent0@bench.livedesk", PASSWORD)
        agent = await connect_agent(there, cookie)
        await agent.recv_type("welcome")
        visitors: list[tuple[Client, str, str]] = []
        openings: dict[tuple[str, int], str] = {}
        for i in range(3):
            client, token = await connect_visitor(there)
            await client.recv_type("welcome")
            opening = await client.send_text(f"hello from {i}", client_msg_id=f"v{i}-hello")
            conv_id = opening["conversation_id"]
            await agent.recv_type("assigned")
            visitors.append((client, token, conv_id))
            openings[(conv_id, opening["seq"])] = opening["client_msg_id"]

        acked: dict[tuple[str, int], str] = dict(openings)  # (conversation, seq) -> cmid
        unacked: dict[str, tuple[str, str]] = {}  # client_msg_id -> (conversation, text)
        enough = asyncio.Event()

        async def write(client: Client, conv_id: str, who: str) -> None:
            for n in range(10_000):  # bounded; the kill ends it long before
                cmid = f"{who}-{n}"
                text = f"{who} says {n}"
                unacked[cmid] = (conv_id, text)
                frame = {"type": "send", "text": text, "client_msg_id": cmid}
                if who == "agent":
                    frame["conversation_id"] = conv_id
                try:
                    await client.send(frame)
                    ack = await client.recv_type("ack", client_msg_id=cmid)
                except (ConnectionClosed, TimeoutError):
                    return
                del unacked[cmid]
                acked[(ack["conversation_id"], ack["seq"])] = cmid
                if len(acked) >= 60:
                    enough.set()

        writers = [
            asyncio.create_task(write(c, conv, f"v{i}")) for i, (c, _, conv) in enumerate(visitors)
        ]
        writers.append(asyncio.create_task(write(agent, visitors[0][2], "agent")))
        await asyncio.wait_for(enough.wait(), 60)
        hub.kill()
        await asyncio.wait_for(asyncio.gather(*writers), 30)
        hub.start()

        # Every acknowledged message is in the database, once, in a gapless sequence.
        store = Store(hub.url_db)
        try:
            for _client, _token, conv_id in visitors:
                rows = await store.messages_after(conv_id, 0, 100_000)
                assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
                by_seq = {r["seq"]: r for r in rows}
                cmids = [r["client_msg_id"] for r in rows if r["client_msg_id"]]
                assert len(cmids) == len(set(cmids))
                for (conv, seq), cmid in acked.items():
                    if conv == conv_id:
                        assert by_seq[seq]["client_msg_id"] == cmid
        finally:
            await store.stop()

        # Every client reconnects, resumes from what it saw, and retries what was not acked.
        agent2 = await connect_agent(there, cookie)
        welcome = await agent2.recv_type("welcome")
        assert {c["conversation_id"] for c in welcome["conversations"]} == {
            conv for _, _, conv in visitors
        }
        for client, token, conv_id in visitors:
            live = sequenced(client.inbox, conv_id)
            last = max(live) if live else 0
            again, _ = await connect_visitor(there, token=token)
            assert (await again.recv_type("welcome"))["conversation"]["conversation_id"] == conv_id
            await again.send({"type": "resume", "conversation_id": conv_id, "after_seq": last})
            resumed = await again.recv_type("resumed")
            replayed = sequenced(again.inbox, conv_id)
            # The visitor's own messages it holds by their acks (they are not echoed back).
            own = {
                seq: {"client_msg_id": cmid}
                for (conv, seq), cmid in acked.items()
                if conv == conv_id and cmid.startswith("v")
            }
            assert set(live) | set(replayed) | set(own) == set(
                range(1, resumed["conversation"]["last_seq"] + 1)
            )
            for (conv, seq), cmid in acked.items():
                if conv == conv_id:
                    assert {**own, **live, **replayed}[seq].get("client_msg_id") == cmid
            for cmid, (conv, text) in list(unacked.items()):
                if conv == conv_id and not cmid.startswith("agent"):
                    ack = await again.send_text(text, client_msg_id=cmid)
                    assert ack["conversation_id"] == conv_id
            fresh = await again.send_text("after the crash")
            got = await agent2.recv_type("message", text="after the crash")
            assert got["seq"] == fresh["seq"]
        for cmid, (conv, text) in unacked.items():
            if cmid.startswith("agent"):
                await agent2.send_text(text, conversation_id=conv, client_msg_id=cmid)
        # The retried frames are stored once each, acknowledged or not before the crash.
        store = Store(hub.url_db)
        try:
            for _client, _token, conv_id in visitors:
                rows = await store.messages_after(conv_id, 0, 100_000)
                cmids = [r["client_msg_id"] for r in rows if r["client_msg_id"]]
                assert len(cmids) == len(set(cmids))
                for cmid, (conv, _text) in unacked.items():
                    if conv == conv_id:
                        assert cmid in cmids
        finally:
            await store.stop()
    finally:
        hub.cleanup()


# ---------------------------------------------------------------------------- locked database


async def test_briefly_locked_database_delays_sends_and_loses_none(server: LiveServer) -> None:
    visitor, agent, conv_id, _ = await start_chat(server, "before the lock")
    path = server.settings.server.database_url.removeprefix("sqlite:///")
    lock = sqlite3.connect(path, isolation_level=None, timeout=5)
    count = "SELECT count(*) FROM messages WHERE conversation_id = ?"
    lock.execute("BEGIN EXCLUSIVE")
    before = lock.execute(count, (conv_id,)).fetchone()[0]
    try:
        cmids = [uuid.uuid4().hex for _ in range(5)]
        for i, cmid in enumerate(cmids):
            await visitor.send(
                {"type": "send", "text": f"during the lock {i}", "client_msg_id": cmid}
            )
        # The hub is not frozen: another socket is served while the writer waits.
        await agent.send({"type": "ping"})
        await agent.recv_type("pong")
        assert lock.execute(count, (conv_id,)).fetchone()[0] == before  # nothing got past
    finally:
        lock.execute("COMMIT")
        lock.close()
    acks = [await visitor.recv_type("ack", client_msg_id=c, timeout=30) for c in cmids]
    seqs = [a["seq"] for a in acks]
    assert seqs == list(range(seqs[0], seqs[0] + 5)) and seqs[0] > before
    for i in range(5):
        got = await agent.recv_type("message", text=f"during the lock {i}")
        assert got["seq"] == seqs[i]


async def test_database_locked_past_the_busy_timeout_gives_retryable_unavailable(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, db_busy_timeout_s=0.5)
    await add_agents(settings, ("ana@example.com", "agent", 5))
    server = LiveServer(settings).start()
    lock = None
    try:
        visitor, _ = await connect_visitor(server)
        await visitor.recv_type("welcome")
        before = await visitor.send_text("before the lock")
        path = settings.server.database_url.removeprefix("sqlite:///")
        lock = sqlite3.connect(path, isolation_level=None, timeout=5)
        lock.execute("BEGIN EXCLUSIVE")
        frame = {"type": "send", "text": "during", "client_msg_id": "retry-me"}
        await visitor.send(frame)
        error = await visitor.recv_type("error", timeout=5)
        assert (error["code"], error["retryable"], error.get("ref")) == (
            "unavailable",
            True,
            "retry-me",
        )
        lock.execute("COMMIT")
        lock.close()
        lock = None
        await visitor.send(frame)
        ack = await visitor.recv_type("ack", client_msg_id="retry-me", timeout=30)
        # Stored once, after what came before (the bot may have spoken in between).
        assert ack["seq"] > before["seq"] and ack["duplicate"] is False
        await visitor.send(
            {"type": "resume", "conversation_id": ack["conversation_id"], "after_seq": 0}
        )
        await visitor.recv_type("resumed")
        replayed = [f for f in visitor.drop("message") if f.get("client_msg_id") == "retry-me"]
        assert {f["seq"] for f in replayed} == {ack["seq"]}
    finally:
        if lock is not None:
            lock.execute("COMMIT")
            lock.close()
        server.stop()


# ---------------------------------------------------------------------------- reconnect storm


def seed_visitors(db_path: str, secret: str, count: int) -> list[str]:
    """``count`` visitors straight into the database, and their signed tokens (what
    ``POST /api/visitor/session`` would have given them, minus 1,000 HTTP round trips)."""
    tokens = Tokens(make_settings(Path(db_path).parent, secret_key=secret))
    now = int(time.time() * 1000)
    ids = [tokens.new_visitor_id() for _ in range(count)]
    with sqlite3.connect(db_path) as db:
        db.executemany(
            "INSERT INTO visitors (id, site, created_ms, last_seen_ms) VALUES (?, ?, ?, ?)",
            [(v, "default", now, now) for v in ids],
        )
    return [tokens.issue_visitor_token(v, "default") for v in ids]


async def test_reconnect_storm_of_1000_visitors_is_served(tmp_path: Path) -> None:
    count = 1000
    hub = HubProcess(agents=1, cap=5, db_dir=str(tmp_path))
    await hub.seed()
    tokens = seed_visitors(f"{tmp_path}/hub.db", hub.env["LIVEDESK_SECRET_KEY"], count)
    hub.start()
    there = target(hub)
    try:
        # Ten of them are mid-conversation when their sockets drop.
        chats = []
        for token in tokens[:10]:
            client, _ = await connect_visitor(there, token=token)
            await client.recv_type("welcome")
            chats.append(await client.send_text("still there?"))
            await client.close()

        async def open_one(token: str) -> Any:
            return await connect(
                f"{hub.ws_base}/ws/visitor",
                subprotocols=[MSGPACK, f"livedesk.token.{token}"],  # type: ignore[list-item]
                origin=hub.base,  # type: ignore[arg-type]
                open_timeout=120,
                ping_interval=None,
            )

        async def welcome_and_pong(ws: Any) -> dict[str, Any]:
            client = Client(ws, "msgpack")
            welcome = await client.recv_type("welcome", timeout=120)
            await client.send({"type": "ping"})
            await client.recv_type("pong", timeout=120)
            return welcome

        # All at once: no backoff, no spreading, the worst case.
        storm = await asyncio.gather(*(open_one(t) for t in tokens), return_exceptions=True)
        refused = [r for r in storm if isinstance(r, BaseException)]
        assert not refused, refused[:3]
        welcomes = await asyncio.gather(*(welcome_and_pong(ws) for ws in storm))
        assert len(welcomes) == count
        for ws, welcome, ack in zip(storm[:10], welcomes[:10], chats, strict=True):
            assert welcome["conversation"]["conversation_id"] == ack["conversation_id"]
            client = Client(ws, "msgpack")
            await client.send(
                {"type": "resume", "conversation_id": ack["conversation_id"], "after_seq": 0}
            )
            await client.recv_type("resumed", timeout=60)
            texts = [f["text"] for f in client.drop("message") if f.get("author") == "visitor"]
            assert texts == ["still there?"]
        assert all(w["conversation"] is None for w in welcomes[10:])
        await asyncio.gather(*(ws.close() for ws in storm), return_exceptions=True)
    finally:
        hub.cleanup()


# ---------------------------------------------------------------------------- Redis restart


async def test_redis_restart_mid_load_on_two_nodes_loses_and_doubles_nothing(
    postgres_url: str, redis_srv: RedisServer
) -> None:
    """Visitors on node a, agents on node b, every text crossing Redis both ways; Redis goes
    away and comes back while they write. What was acknowledged arrives once (live, or by
    resume on the gap the outage left), and every conversation goes on afterwards."""
    pairs, agents, cap = 24, 6, 4  # a seat for every visitor
    redis_srv.restart()  # empty: no leader lease or leases of an earlier test
    a, b = cluster(postgres_url, redis_srv.url, 2, agents=agents, cap=cap)
    await a.seed()
    async with running(a, b):
        run = LoadTest(open_ended(a.base, pairs, agents, cap, agent_url=b.base))
        acked = run.acked

        def texts(author: str, skip: frozenset[tuple[str, int]] = frozenset()) -> dict[str, int]:
            per: dict[str, int] = {}
            for key, (who, _) in list(acked.items()):
                if who == author and key not in skip:
                    per[key[0]] = per.get(key[0], 0) + 1
            return per

        async with load_running(run) as task:
            # Every pair is talking: each conversation has an agent's answer acknowledged.
            await asyncio.wait_for(run.reached(lambda: len(texts("agent")) == pairs), 30)

            redis_srv.stop()
            await asyncio.gather(until_ready(a, 503), until_ready(b, 503))
            # The store still takes texts while the bus is down: more are acknowledged.
            before = len(acked)
            await asyncio.wait_for(run.reached(lambda: len(acked) >= before + pairs), 30)
            redis_srv.start()
            await asyncio.gather(until_ready(a), until_ready(b))
            back = frozenset(acked)

            # Every conversation goes on: new texts both ways in each, after the outage.
            def going_on() -> bool:
                visitors, answers = texts("visitor", back), texts("agent", back)
                return len(visitors) == len(answers) == pairs and min(answers.values()) >= 2

            await asyncio.wait_for(run.reached(going_on), 30)
            run.finish()
            result = await asyncio.wait_for(task, 60)
        statuses = [await readyz(a), await readyz(b)]
    assert statuses == [200, 200]
    assert_clean(result)  # nothing lost, doubled or past a cap, no errors
    report = json.dumps(result)  # in full: pytest would abbreviate the dict
    assert result["max_held"] <= cap, report
    assert result["conversations"] == result["closed"] == result["assigned"] == pairs, report
    # Frames published while Redis was down were recovered: by the hub's own catch-up when
    # the bus came back (it replays from the store what each socket was not sent), or by a
    # client that noticed the gap first and resumed; either way none is lost or doubled
    # (assert_clean above), and every conversation went on both ways after the outage.
