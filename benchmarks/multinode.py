"""Two hub processes on Redis and PostgreSQL, visitors on one node and agents on the other,
next to one process on its embedded default, under the same load in the same run.

Every visitor message and agent reply crosses nodes through Redis. Prints one JSON line:
the single-node and cross-node figures (delivered messages/s, round-trip p50/p99 ms, RSS)
and their ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from benchmarks._hub import HubProcess  # noqa: E402
from benchmarks.hub_roundtrip import run  # noqa: E402
from chatserver.auth import hash_password  # noqa: E402
from chatserver.db import upgrade  # noqa: E402
from chatserver.loadtest import rss_mb  # noqa: E402
from chatserver.store import Store  # noqa: E402
from tests.servers import free_port, postgres_database, redis_server, wait_for_port  # noqa: E402

PASSWORD = "bench-password"


class TwoNodes:
    """Node A serves the visitors, node B the agents; one Redis, one PostgreSQL."""

    def __init__(self, database_url: str, redis_url: str, agents: int, cap: int) -> None:
        self.database_url = database_url
        self.agents = agents
        self.cap = cap
        self.ports = (free_port(), free_port())
        self.env = {
            **os.environ,
            "LIVEDESK_DATABASE_URL": database_url,
            "LIVEDESK_REDIS_URL": redis_url,
            "LIVEDESK_SECRET_KEY": "bench-secret",
            "LIVEDESK_RATE_LIMIT_PER_S": "100000",
            "LIVEDESK_RATE_LIMIT_BURST": "100000",
            "LIVEDESK_LOG_LEVEL": "warning",
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def visitor_base(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"

    @property
    def agent_base(self) -> str:
        return f"http://127.0.0.1:{self.ports[1]}"

    base = agent_base

    async def seed(self) -> list[str]:
        await asyncio.to_thread(upgrade, self.database_url)
        store = Store(self.database_url)
        hashed = hash_password(PASSWORD)
        emails = [f"agent{i}@bench.livedesk" for i in range(self.agents)]
        try:
            for email in emails:
                await store.add_agent(email, email.split("@")[0], hashed, cap=self.cap)
        finally:
            await store.stop()
        return emails

    def start(self) -> None:
        for port in self.ports:
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "chatserver.cli", "serve", "--port", str(port)],
                    env=self.env,
                )
            )
        for port in self.ports:
            wait_for_port(port, 30)

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
            proc.wait(15)
        self.procs = []

    async def login(self, http: httpx.AsyncClient, email: str) -> str:
        r = await http.post("/login", json={"email": email, "password": PASSWORD})
        r.raise_for_status()
        return str(r.cookies["livedesk_session"])

    def rss_mb(self) -> float:
        return sum(rss_mb(p.pid) for p in self.procs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--rate", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--ramp", type=float, default=5.0)
    parser.add_argument("--cap", type=int, default=5)
    args = parser.parse_args()
    agents = -(-args.pairs // args.cap)
    load = (args.pairs, args.duration, args.warmup, args.cap, args.ramp, args.rate)
    single: dict[str, Any] = asyncio.run(run(*load, hub=HubProcess(agents=agents, cap=args.cap)))
    with redis_server() as redis, postgres_database() as database_url:
        cross: dict[str, Any] = asyncio.run(
            run(*load, hub=TwoNodes(database_url, redis.url, agents, args.cap))
        )
    keys = ("messages_per_s", "p50_ms", "p99_ms", "server_rss_mb", "errors", "unanswered_after_5s")
    print(
        json.dumps(
            {
                "benchmark": "multinode",
                "pairs": args.pairs,
                "offered_messages_per_s": single["offered_messages_per_s"],
                "single_node": {k: single[k] for k in keys},
                "two_nodes_cross": {k: cross[k] for k in keys},
                "throughput_ratio": round(cross["messages_per_s"] / single["messages_per_s"], 3)
                if single["messages_per_s"]
                else None,
                "p50_ratio": round(cross["p50_ms"] / single["p50_ms"], 2)
                if single["p50_ms"]
                else None,
            }
        )
    )


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    main()
