"""Redis capacity ledger throughput: reserve + release per second on a real redis-server.

Starts its own redis-server on a free port unless ``--url`` is given. The baseline is a
plain ``INCR`` round trip with the same client and concurrency in the same run, so the ratio
says what the Lua script costs beyond the network round trip itself.

Run: python benchmarks/capacity_redis.py [--url redis://...] [--ops 40000] [--concurrency 32]
Prints ONE JSON line, last.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from redis.asyncio import Redis  # noqa: E402

from chatserver.backends.capacity_redis import RedisCapacityLedger  # noqa: E402
from tests.servers import redis_server  # noqa: E402


async def rate(ops: int, concurrency: int, one: Callable[[int], Awaitable[object]]) -> float:
    """Operations per second with ``concurrency`` tasks each running its share in turn."""
    share = ops // concurrency

    async def worker(w: int) -> None:
        for i in range(share):
            await one(w * share + i)

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return share * concurrency / (time.perf_counter() - started)


async def run(url: str, ops: int, concurrency: int, agents: int) -> dict[str, object]:
    client = Redis.from_url(url, max_connections=concurrency)
    try:
        await client.flushdb()
        ledger = RedisCapacityLedger(client, "bench")

        async def incr(i: int) -> object:
            return await client.incr("livedesk:bench:incr")

        async def reserve_release(i: int) -> object:
            agent = f"agent{i % agents}"
            conv = f"conv{i}"
            await ledger.reserve(agent, conv, 5)
            return await ledger.release(agent, conv)

        unbatched = RedisCapacityLedger(client, "bench-unbatched", auto_pipeline=False)

        async def reserve_release_unbatched(i: int) -> object:
            agent = f"agent{i % agents}"
            conv = f"conv{i}"
            await unbatched.reserve(agent, conv, 5)
            return await unbatched.release(agent, conv)

        await rate(2000, concurrency, incr)  # warm connections and the script cache
        await rate(2000, concurrency, reserve_release)
        incr_per_s = await rate(ops, concurrency, incr)
        # Each item is two ledger operations (a reserve and a release).
        pairs_per_s = await rate(ops // 2, concurrency, reserve_release)
        ledger_ops_per_s = 2 * pairs_per_s
        unbatched_ops_per_s = 2 * await rate(ops // 4, concurrency, reserve_release_unbatched)
        return {
            "benchmark": "capacity_redis",
            "concurrency": concurrency,
            "agents": agents,
            "ledger_ops_per_s": round(ledger_ops_per_s),
            "reserve_release_pairs_per_s": round(pairs_per_s),
            "ledger_ops_per_s_no_autopipeline": round(unbatched_ops_per_s),
            "incr_per_s": round(incr_per_s),
            "ratio_vs_incr": round(ledger_ops_per_s / incr_per_s, 3),
        }
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=None)
    parser.add_argument("--ops", type=int, default=40_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop  # the hub serves on uvloop (uvicorn[standard])

        uvloop.install()

    with contextlib.ExitStack() as stack:
        # Without --url: a redis-server of the run's own (the tests' helper starts it).
        url = args.url or stack.enter_context(redis_server()).url
        result = asyncio.run(run(url, args.ops, args.concurrency, args.agents))
    result["own_server"] = args.url is None
    result["loop"] = args.loop
    print(json.dumps(result))


if __name__ == "__main__":
    main()
