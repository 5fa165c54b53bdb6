"""``livedesk serve --workers 2``: two hub processes on one port (SO_REUSEPORT) meeting on
Redis, sharing one PostgreSQL store. Real processes, loopback only."""

from __future__ import annotations

import pytest

from chatserver.testing.loadtest import HubProcess, listens_on, serving_pid
from tests.cluster_nodes import agent_email, agent_on, running, until_subscribed, visitor_on
from tests.servers import RedisServer

MAX_VISITORS = 64  # the kernel picks a worker per connection; 64 all on one: 2**-64


async def test_two_workers_serve_one_port_and_a_chat_crosses_them(
    postgres_url: str, redis_srv: RedisServer
) -> None:
    redis_srv.restart()
    pool = HubProcess(1, 5, database_url=postgres_url, redis_url=redis_srv.url, workers=2)
    await pool.seed()
    async with running(pool):
        workers = pool.worker_pids()
        assert len(workers) == 2 and pool.proc is not None
        assert all(listens_on(pid, pool.port) for pid in workers)
        assert not listens_on(pool.proc.pid, pool.port)  # the pool itself serves nothing
        agent, _ = await agent_on(pool, agent_email(0))
        agent_worker = serving_pid(workers, pool.port, agent.ws.local_address[1])
        assert agent_worker in workers
        for _ in range(MAX_VISITORS):
            visitor, _ = await visitor_on(pool)
            visitor_worker = serving_pid(workers, pool.port, visitor.ws.local_address[1])
            if visitor_worker != agent_worker:
                break
            await visitor.close()
        else:
            pytest.fail(f"{MAX_VISITORS} visitors all landed on the agent's worker")
        assert visitor_worker in workers
        first = await visitor.send_text("hello from the other worker")
        conv_id = first["conversation_id"]
        assigned = await agent.recv_type("assigned", timeout=30)
        assert assigned["conversation"]["conversation_id"] == conv_id
        await visitor.recv_type("event", event="assigned", timeout=10)
        assert pool.redis_url is not None
        await until_subscribed(pool.redis_url, conv_id, 2)  # both workers follow it
        second = await visitor.send_text("still here")
        seen = await agent.recv_type("message", author="visitor", timeout=10)
        assert (seen["seq"], seen["text"]) == (second["seq"], "still here")
        ack = await agent.send_text("hello back across", conversation_id=conv_id)
        reply = await visitor.recv_type("message", author="agent", timeout=10)
        assert (reply["seq"], reply["text"]) == (ack["seq"], "hello back across")


def test_workers_without_redis_are_refused(tmp_path: pytest.TempPathFactory) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "chatserver.cli.main", "serve", "--workers", "2", "--port", "0"],
        env={"PATH": "", "LIVEDESK_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "LIVEDESK_REDIS_URL" in result.stderr
