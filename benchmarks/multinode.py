"""Two hub processes on Redis and PostgreSQL, visitors on one node and agents on the other,
next to one process on its embedded default and one process on Redis and PostgreSQL, under
the same load in the same run.

Every visitor message and agent reply crosses nodes through Redis. Prints one JSON line:
the single-node and cross-node figures (delivered messages/s, round-trip p50/p99 ms, how
long a new conversation took to be assigned, the hub processes' CPU seconds per 1,000
messages from their own counters, the load generators' CPU shares and whether the run is
valid — no generator near a full core — and RSS) and their ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from benchmarks._hub import HubProcess  # noqa: E402
from benchmarks.hub_roundtrip import run  # noqa: E402
from tests.servers import postgres_database, redis_server  # noqa: E402


class TwoNodes:
    """Node A serves the visitors, node B the agents; one Redis, one PostgreSQL. The shape
    ``hub_roundtrip.run`` drives: seed/start/stop/login/rss_mb and the two bases."""

    def __init__(self, database_url: str, redis_url: str, agents: int, cap: int) -> None:
        self.nodes = [
            HubProcess(agents, cap, database_url=database_url, redis_url=redis_url)
            for _ in range(2)
        ]

    @property
    def visitor_base(self) -> str:
        return self.nodes[0].base

    @property
    def agent_base(self) -> str:
        return self.nodes[1].base

    base = agent_base

    @property
    def url_db(self) -> str:
        return self.nodes[0].url_db

    async def seed(self) -> list[str]:
        return await self.nodes[0].seed()

    def start(self) -> None:
        for node in self.nodes:
            node.launch()
        for node in self.nodes:
            node.wait_listening()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    async def login(self, http: httpx.AsyncClient, email: str) -> str:
        return await self.nodes[1].login(http, email)

    def rss_mb(self) -> float:
        return sum(node.rss_mb() for node in self.nodes)

    @property
    def pids(self) -> list[int]:
        """Both nodes: the run's server CPU is theirs together."""
        return [node.pid for node in self.nodes if node.pid is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--rate", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    # Long enough for the arrival burst to be routed: the round trips are the steady state;
    # how fast the arrivals were assigned is reported on its own (assign_p50/max_ms).
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--ramp", type=float, default=5.0)
    parser.add_argument("--cap", type=int, default=5)
    parser.add_argument(
        "--setups",
        default=",".join(SETUPS),
        help="which of single_node, one_node_redis_postgres, two_nodes_cross to run (comma"
        " separated; the ratios need the setups they compare)",
    )
    args = parser.parse_args()
    chosen = [name for name in args.setups.split(",") if name]
    unknown = set(chosen) - set(SETUPS)
    if unknown:
        parser.error(f"unknown setups: {', '.join(sorted(unknown))}")
    load = (args.pairs, args.duration, args.warmup, args.cap, args.ramp, args.rate)
    results = {name: SETUPS[name](load, args.cap) for name in SETUPS if name in chosen}
    line: dict[str, Any] = {
        "benchmark": "multinode",
        "pairs": args.pairs,
        "offered_messages_per_s": next(iter(results.values()))["offered_messages_per_s"],
    }
    line |= {name: {k: result[k] for k in KEYS} for name, result in results.items()}
    cross = results.get("two_nodes_cross")
    single = results.get("single_node")
    backed = results.get("one_node_redis_postgres")
    if cross and single:
        line["throughput_ratio"] = _ratio(cross["messages_per_s"], single["messages_per_s"], 3)
        line["p50_ratio"] = _ratio(cross["p50_ms"], single["p50_ms"], 2)
    if cross and backed:
        line["p50_ratio_vs_one_node_same_backends"] = _ratio(cross["p50_ms"], backed["p50_ms"], 2)
    if backed and single:
        # One process on Redis and PostgreSQL against the embedded default, same load.
        line["postgres_p99_ratio"] = _ratio(backed["p99_ms"], single["p99_ms"], 2)
        line["postgres_p99_aim"] = "<= 1.5"
    print(json.dumps(line))


KEYS = (
    "messages_per_s",
    "p50_ms",
    "p99_ms",
    "assign_p50_ms",
    "assign_p99_ms",
    "assign_max_ms",
    "server_cpu_s_per_1000_msgs",
    "mean_commit_batch",
    "locked_commit_share",
    "one_trip_commit_share",
    "generator_cpu_shares",
    "valid",
    "machine_busy_cores",
    "server_rss_mb",
    "errors",
    "unanswered_after_5s",
)


def _ratio(a: float, b: float, digits: int) -> float | None:
    return round(a / b, digits) if b else None


def _agents(pairs: int, cap: int) -> int:
    return -(-pairs // cap)


def single_node(load: tuple[Any, ...], cap: int) -> dict[str, Any]:
    """One process on its embedded default (SQLite, in-process bus)."""
    return asyncio.run(run(*load, hub=HubProcess(agents=_agents(load[0], cap), cap=cap)))


def one_node_redis_postgres(load: tuple[Any, ...], cap: int) -> dict[str, Any]:
    """The two nodes' backends, one process: what crossing nodes costs, apart from what
    Redis and PostgreSQL cost."""
    with redis_server() as redis, postgres_database() as database_url:
        hub = HubProcess(_agents(load[0], cap), cap, database_url=database_url, redis_url=redis.url)
        return asyncio.run(run(*load, hub=hub))


def two_nodes_cross(load: tuple[Any, ...], cap: int) -> dict[str, Any]:
    with redis_server() as redis, postgres_database() as database_url:
        hub = TwoNodes(database_url, redis.url, _agents(load[0], cap), cap)
        return asyncio.run(run(*load, hub=hub))


SETUPS = {
    "single_node": single_node,
    "one_node_redis_postgres": one_node_redis_postgres,
    "two_nodes_cross": two_nodes_cross,
}


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    main()
