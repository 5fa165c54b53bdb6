"""Two hub processes on one Redis and one PostgreSQL: one routing leader, a shared capacity
ledger, frames crossing nodes. Real processes, real servers, loopback only."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import sqlalchemy as sa

from chatserver.demo import add_agent
from chatserver.settings import Settings
from chatserver.store import Store
from tests.live import Client, connect_agent, connect_visitor
from tests.servers import RedisServer, free_port, wait_for_port

PASSWORD = "cluster-password"
SECRET = "cluster-secret-shared-by-every-node"


class Node:
    """``livedesk serve`` in its own process."""

    def __init__(self, database_url: str, redis_url: str) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "LIVEDESK_DATABASE_URL": database_url,
            "LIVEDESK_REDIS_URL": redis_url,
            "LIVEDESK_SECRET_KEY": SECRET,
            "LIVEDESK_RATE_LIMIT_PER_S": "1000",
            "LIVEDESK_RATE_LIMIT_BURST": "1000",
            "LIVEDESK_LOG_LEVEL": "warning",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def settings(self) -> Settings:
        return Settings(secret_key=SECRET)

    def start(self) -> Node:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chatserver.cli", "serve", "--port", str(self.port)],
            env=self.env,
        )
        wait_for_port(self.port, 30)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)
            self.proc = None


@pytest.fixture
def cluster_db(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture
def nodes(cluster_db: str, redis_srv: RedisServer) -> Iterator[tuple[Node, Node]]:
    async def seed() -> None:
        settings = Settings(database_url=cluster_db, secret_key=SECRET)
        for i in range(10):
            await add_agent(
                settings, email=f"agent{i}@example.com", name=f"Agent {i}", password=PASSWORD, cap=5
            )

    asyncio.run(seed())
    # A fresh Redis state per test: the leader lease and leases of earlier tests are gone.
    redis_srv.restart()
    a = Node(cluster_db, redis_srv.url).start()
    b = Node(cluster_db, redis_srv.url).start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


async def login(node: Node, email: str) -> str:
    async with httpx.AsyncClient(base_url=node.url, timeout=30) as http:
        response = await http.post("/login", json={"email": email, "password": PASSWORD})
        response.raise_for_status()
        return response.cookies["livedesk_session"]


async def agent_on(node: Node, email: str) -> Client:
    agent = await connect_agent(node, await login(node, email))  # type: ignore[arg-type]
    await agent.recv_type("welcome")
    return agent


async def counts(database_url: str) -> dict[str, int]:
    store = Store(database_url)
    try:
        rows = await store.read(
            lambda c: list(
                c.execute(sa.text("SELECT state, count(*) AS n FROM conversations GROUP BY state"))
            )
        )
    finally:
        await store.stop()
    return {r.state: r.n for r in rows}


async def per_agent(database_url: str) -> dict[int, int]:
    store = Store(database_url)
    try:
        rows = await store.read(
            lambda c: list(
                c.execute(
                    sa.text(
                        "SELECT agent_id, count(*) AS n FROM conversations "
                        "WHERE state = 'active' GROUP BY agent_id"
                    )
                )
            )
        )
    finally:
        await store.stop()
    return {r.agent_id: r.n for r in rows}


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    opened: list[Client] = []
    yield opened
    await asyncio.gather(*(c.close() for c in opened), return_exceptions=True)


async def test_two_nodes_fill_ten_agents_of_cap_five_exactly_and_a_close_pulls_the_next(
    nodes: tuple[Node, Node], cluster_db: str, clients: list[Client]
) -> None:
    a, b = nodes
    agents = [await agent_on((a, b)[i % 2], f"agent{i}@example.com") for i in range(10)]
    clients.extend(agents)

    async def visitor(i: int) -> tuple[Client, str]:
        client, _ = await connect_visitor((a, b)[i % 2], codec="msgpack")  # type: ignore[arg-type]
        clients.append(client)
        await client.recv_type("welcome", timeout=30)
        ack = await client.send_text(f"visitor {i} needs help")
        return client, ack["conversation_id"]

    visitors = await asyncio.gather(*(visitor(i) for i in range(200)))

    async def assigned_to(agent: Client, n: int) -> list[str]:
        return [
            (await agent.recv_type("assigned", timeout=60))["conversation"]["conversation_id"]
            for _ in range(n)
        ]

    held = await asyncio.gather(*(assigned_to(agent, 5) for agent in agents))
    assert len({c for chats in held for c in chats}) == 50
    waiting = [v for v, conv in visitors if conv not in {c for chats in held for c in chats}]
    assert len(waiting) == 150
    await asyncio.gather(*(v.recv_type("queue", timeout=60) for v in waiting))
    states = await counts(cluster_db)
    assert (states.get("active"), states.get("bot")) == (50, 150)
    assert max((await per_agent(cluster_db)).values()) == 5

    # Agent 3 (on node b) closes one: exactly one waiting conversation takes its slot.
    await agents[3].send({"type": "close", "conversation_id": held[3][0]})
    nxt = await agents[3].recv_type("assigned", timeout=30)
    assert nxt["conversation"]["conversation_id"] not in {c for chats in held for c in chats}
    states = await counts(cluster_db)
    assert (states.get("active"), states.get("bot"), states.get("closed")) == (50, 149, 1)
    assert max((await per_agent(cluster_db)).values()) == 5


async def test_visitor_on_one_node_and_agent_on_the_other_talk_both_ways(
    nodes: tuple[Node, Node], clients: list[Client]
) -> None:
    a, b = nodes
    agent = await agent_on(b, "agent0@example.com")
    visitor, _ = await connect_visitor(a)  # type: ignore[arg-type]
    clients.extend([agent, visitor])
    await visitor.recv_type("welcome")
    conv_id = (await visitor.send_text("hello from node a"))["conversation_id"]
    assert (await agent.recv_type("assigned", timeout=30))["conversation"][
        "conversation_id"
    ] == conv_id
    await visitor.send({"type": "typing", "active": True})
    assert (await agent.recv_type("typing", timeout=10))["who"] == "visitor"
    ack = await agent.send_text("hello from node b", conversation_id=conv_id)
    reply = await visitor.recv_type("message", author="agent", timeout=10)
    assert (reply["text"], reply["seq"]) == ("hello from node b", ack["seq"])
    await visitor.send({"type": "seen", "conversation_id": conv_id, "seq": ack["seq"]})
    assert (await agent.recv_type("seen", timeout=10))["seq"] == ack["seq"]


async def ready(node: Node) -> None:
    """Wait (bounded) until the node says it is ready: store and bus both up."""
    async with httpx.AsyncClient(base_url=node.url, timeout=5) as http:
        for _ in range(300):
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)  # polling another process's HTTP state: no event to await
    raise AssertionError(f"node on {node.port} never became ready")


async def test_node_killed_mid_chat_the_agent_resumes_on_the_other_and_nothing_is_lost(
    nodes: tuple[Node, Node], clients: list[Client]
) -> None:
    a, b = nodes
    agent = await agent_on(b, "agent0@example.com")
    visitor, _ = await connect_visitor(a)  # type: ignore[arg-type]
    clients.extend([agent, visitor])
    await visitor.recv_type("welcome")
    conv_id = (await visitor.send_text("first"))["conversation_id"]
    await agent.recv_type("assigned", timeout=30)
    await agent.send({"type": "resume", "conversation_id": conv_id, "after_seq": 0})
    await agent.recv_type("resumed", timeout=10)
    seen = max(f["seq"] for f in agent.drop("message") + agent.drop("event"))
    assert b.proc is not None
    b.proc.kill()  # kill -9: no goodbye
    b.proc.wait(15)
    b.proc = None
    acked = [await visitor.send_text(f"while node b is dead {i}") for i in range(3)]
    again = await agent_on(a, "agent0@example.com")
    clients.append(again)
    await again.send({"type": "resume", "conversation_id": conv_id, "after_seq": seen})
    await again.recv_type("resumed", timeout=10)
    got = [f for f in again.drop("message") if f["author"] == "visitor"]
    assert [f["seq"] for f in got] == [x["seq"] for x in acked]
    reply = await again.send_text("back on node a", conversation_id=conv_id)
    assert (await visitor.recv_type("message", author="agent", timeout=10))["seq"] == reply["seq"]


async def test_redis_restart_mid_chat_loses_and_doubles_nothing(
    nodes: tuple[Node, Node], redis_srv: RedisServer, clients: list[Client]
) -> None:
    a, b = nodes
    agent = await agent_on(b, "agent1@example.com")
    visitor, _ = await connect_visitor(a)  # type: ignore[arg-type]
    clients.extend([agent, visitor])
    await visitor.recv_type("welcome")
    conv_id = (await visitor.send_text("before the restart"))["conversation_id"]
    await agent.recv_type("assigned", timeout=30)
    redis_srv.restart()
    # While the bus reconnects, a message is stored and acked; live delivery may miss it.
    during = await visitor.send_text("during the restart")
    await ready(a)
    await ready(b)
    after = await visitor.send_text("after the restart")
    assert after["seq"] == during["seq"] + 1
    # The agent catches up by seq: everything once, in order.
    await agent.send({"type": "resume", "conversation_id": conv_id, "after_seq": 0})
    await agent.recv_type("resumed", timeout=10)
    texts = {}
    for frame in agent.drop("message"):
        texts.setdefault(frame["seq"], set()).add(frame["text"])
    assert all(len(v) == 1 for v in texts.values())
    ordered = [next(iter(texts[s])) for s in sorted(texts)]
    assert [t for t in ordered if "restart" in t] == [
        "before the restart",
        "during the restart",
        "after the restart",
    ]
    reply = await agent.send_text("still here", conversation_id=conv_id)
    assert (await visitor.recv_type("message", author="agent", timeout=15))["seq"] == reply["seq"]


async def test_supervisor_on_either_node_sees_the_whole_desk(
    nodes: tuple[Node, Node], clients: list[Client]
) -> None:
    from websockets.asyncio.client import connect

    a, b = nodes
    await asyncio.gather(
        add_agent(
            Settings(database_url=a.env["LIVEDESK_DATABASE_URL"], secret_key=SECRET),
            email="sam@example.com",
            name="Sam",
            password=PASSWORD,
            role="supervisor",
        )
    )
    agent = await agent_on(b, "agent2@example.com")
    visitor, _ = await connect_visitor(a)  # type: ignore[arg-type]
    clients.extend([agent, visitor])
    await visitor.recv_type("welcome")
    conv_id = (await visitor.send_text("watch me"))["conversation_id"]
    await agent.recv_type("assigned", timeout=30)
    cookie = await login(a, "sam@example.com")
    for node in (a, b):
        ws = await connect(
            f"{node.ws_url}/ws/supervisor",
            subprotocols=["livedesk.v1.json"],  # type: ignore[list-item]
            origin=node.url,  # type: ignore[arg-type]
            additional_headers={"Cookie": f"livedesk_session={cookie}"},
        )
        board = Client(ws, "json")
        clients.append(board)
        # Whichever node routes, each board shows agent 2 holding the chat (bounded wait).
        frame = await board.recv_until(
            lambda f: any(conv_id in row.get("chats", []) for row in f.get("agents", [])),
            timeout=15,
        )
        assert frame["type"] == "board"
