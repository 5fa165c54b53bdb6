"""How many idle visitor sockets one hub process holds, and the memory per connection.

Visitors are written straight into the hub's database and their tokens signed with its key
(10,000 HTTP sessions would measure the session endpoint, not the sockets); the sockets are
opened in batches, each one waits for its ``welcome``.

Tens of thousands of sockets from one machine: the clients run in ``--clients`` processes
(one client process's memory and CPU would be the limit otherwise), and spread their
sockets over source addresses 127.0.0.2, 127.0.0.3, ... (one source address has about
28,000 ephemeral ports towards one destination). The open-file limit is raised for us and
the hub (it inherits it), past the hard limit where we may (root). Those addresses are
ordinary clients to the hub, so the per-address connection cap is lifted, as the load
test's per-address socket rates are.

The figure is the hub process's own RSS growth per socket (``/proc``), not the clients'.
Prints one JSON line: sockets held, refused, RSS before/after, MB and KB per connection,
seconds to open them, whether a ping on a held socket still answers at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import resource
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgpack
from websockets.asyncio.client import connect

from benchmarks._hub import Generators, HubProcess, now, rss_mb
from chatserver.core.settings import Settings
from chatserver.live.auth import Tokens

PROTO = "livedesk.v1.msgpack"
PER_SOURCE_ADDRESS = 10_000  # well under the ~28,000 ephemeral ports of one address
PHASE_TIMEOUT_S = 1800.0
PER_PROCESS_SPARE_FDS = 3000  # the hub's own files, and room for an uneven share


def raise_fd_limit(wanted: int) -> int:
    """The soft limit to ``wanted``; the hard one too where we may (root), else up to it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            pass
    target = wanted if hard == resource.RLIM_INFINITY else min(hard, max(soft, wanted))
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def seed_visitors(db: str, secret: str, count: int) -> list[str]:
    tokens = Tokens(Settings(secret_key=secret))
    ts = int(time.time() * 1000)
    ids = [tokens.new_visitor_id() for _ in range(count)]
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO visitors (id, site, created_ms, last_seen_ms) VALUES (?, ?, ?, ?)",
            [(v, "default", ts, ts) for v in ids],
        )
    return [tokens.issue_visitor_token(v, "default") for v in ids]


async def _phase(barrier: Any) -> None:
    await asyncio.to_thread(barrier.wait, PHASE_TIMEOUT_S)


async def hold(spec: dict[str, Any], barrier: Any) -> dict[str, Any]:
    """One client process: open its sockets, hold them while the parent reads the hub's
    RSS, check that one still answers a ping, close them."""
    sources: list[str] = spec["sources"]
    sockets: list[Any] = []
    refused: dict[str, int] = {}

    async def open_one(i: int, token: str) -> Any:
        ws = await connect(
            f"{spec['ws_base']}/ws/visitor",
            subprotocols=[PROTO, f"livedesk.token.{token}"],  # type: ignore[list-item]
            origin=spec["base"],
            open_timeout=300,
            ping_interval=None,  # idle means idle: no client pings
            max_queue=4,
            local_addr=(sources[i % len(sources)], 0),
        )
        msgpack.unpackb(await ws.recv())  # welcome
        return ws

    await _phase(barrier)  # everyone ready, the baseline read
    tokens: list[str] = spec["tokens"]
    batch: int = spec["batch"]
    for start in range(0, len(tokens), batch):
        opened = await asyncio.gather(
            *(open_one(start + i, t) for i, t in enumerate(tokens[start : start + batch])),
            return_exceptions=True,
        )
        for item in opened:
            if isinstance(item, BaseException):
                why = type(item).__name__ + ": " + str(item)[:80]
                refused[why] = refused.get(why, 0) + 1
            else:
                sockets.append(item)
    await _phase(barrier)  # all open
    await _phase(barrier)  # the parent has read the hub's RSS
    alive = False
    if sockets:
        probe = sockets[len(sockets) // 2]
        await probe.send(msgpack.packb({"type": "ping"}))
        alive = msgpack.unpackb(await asyncio.wait_for(probe.recv(), 60))["type"] == "pong"
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {"held": len(sockets), "refused": refused, "ping_answered": alive}


def hub_rss_mb(hub: HubProcess) -> float:
    """The hub's resident memory: its one process, or the sum of its pool's workers."""
    return sum(rss_mb(pid) for pid in hub.worker_pids()) if hub.workers > 1 else hub.rss_mb()


async def run(count: int, batch: int, clients: int, processes: int = 0) -> dict[str, object]:
    limit = raise_fd_limit(count + 4096)  # the hub's (it inherits it) and each client's
    # Where one process may not hold them all (a hard open-file limit we may not raise), a
    # pool of hub processes on one port does, each holding its share.
    workers = processes or max(1, math.ceil(count / (limit - PER_PROCESS_SPARE_FDS)))
    with contextlib.ExitStack() as stack:
        redis_url = None
        if workers > 1:
            from tests.servers import redis_server

            redis_url = stack.enter_context(redis_server()).url
        hub = HubProcess(
            agents=1,
            cap=5,
            workers=workers,
            redis_url=redis_url,
            LIVEDESK_MAX_CONNECTIONS_PER_ADDRESS="0",
        )
        result = await _measure(hub, count, batch, clients)
    return {**result, "fd_limit": limit, "hub_processes": workers}


async def _measure(hub: HubProcess, count: int, batch: int, clients: int) -> dict[str, Any]:
    await hub.seed()
    tokens = seed_visitors(f"{hub.dir}/hub.db", hub.env["LIVEDESK_SECRET_KEY"], count)
    hub.start()
    per_client = math.ceil(count / clients)
    specs = []
    for c in range(clients):
        mine = tokens[c * per_client : (c + 1) * per_client]
        # Each client its own source addresses: no two processes compete for one's ports.
        n = max(1, math.ceil(len(mine) / PER_SOURCE_ADDRESS))
        first = 2 + c * n
        specs.append(
            {
                "ws_base": hub.ws_base,
                "base": hub.base,
                "tokens": mine,
                "batch": max(1, batch // clients),
                "sources": [f"127.0.0.{a}" for a in range(first, first + n)],
            }
        )
    gens = Generators(hold, specs)
    try:
        await gens.sync(PHASE_TIMEOUT_S)  # the clients are up
        await asyncio.sleep(1.0)  # let the fresh process settle before the baseline reading
        rss_before = hub_rss_mb(hub)
        t0 = now()
        opening = asyncio.create_task(gens.sync(PHASE_TIMEOUT_S))
        while not opening.done():
            await asyncio.wait({opening}, timeout=10)
            print(f"hub rss {hub_rss_mb(hub):.0f} MB", file=sys.stderr)
        await opening
        open_s = now() - t0
        await asyncio.sleep(2.0)  # idle: let the hub's allocator settle before reading RSS
        rss_after = hub_rss_mb(hub)
        await gens.sync(PHASE_TIMEOUT_S)
        results = await gens.results(PHASE_TIMEOUT_S)
    finally:
        gens.kill()
        hub.cleanup()
    held = sum(r["held"] for r in results)
    refused: dict[str, int] = {}
    for r in results:
        for why, n in r["refused"].items():
            refused[why] = refused.get(why, 0) + n
    per = (rss_after - rss_before) / held if held else float("nan")
    return {
        "benchmark": "connections",
        "requested": count,
        "held": held,
        "errors": sum(refused.values()),
        "refused": refused,
        "clients": clients,
        "open_s": round(open_s, 1),
        "rss_before_mb": round(rss_before, 1),
        "rss_after_mb": round(rss_after, 1),
        "mb_per_1000": round(per * 1000, 2),
        "kb_per_connection": round(per * 1024, 1),
        "ping_answered": all(r["ping_answered"] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500, help="sockets opening at once")
    parser.add_argument(
        "--clients", type=int, default=0, help="client processes (default: one per 12,500)"
    )
    parser.add_argument(
        "--hub-processes",
        type=int,
        default=0,
        help="hub processes (a pool on one port); default: one, or as many as the "
        "open-file limit needs",
    )
    args = parser.parse_args()
    clients = args.clients or max(1, math.ceil(args.count / 12_500))
    print(json.dumps(asyncio.run(run(args.count, args.batch, clients, args.hub_processes))))


if __name__ == "__main__":
    main()
