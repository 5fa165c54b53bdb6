"""How many idle visitor sockets one hub process holds, and the memory per connection.

Visitors are written straight into the hub's database and their tokens signed with its key
(10,000 HTTP sessions would measure the session endpoint, not the sockets); the sockets are
opened in batches, each one waits for its ``welcome``. Prints one JSON line: sockets held,
RSS before/after, MB and KB per connection, seconds to open them, whether a ping still
answers at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgpack
from websockets.asyncio.client import connect

from benchmarks._hub import HubProcess, now
from chatserver.core.settings import Settings
from chatserver.live.auth import Tokens

PROTO = "livedesk.v1.msgpack"


def raise_fd_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, wanted)) if hard != resource.RLIM_INFINITY else wanted
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


async def run(count: int, batch: int) -> dict[str, object]:
    limit = raise_fd_limit(2 * count + 1000)  # ours and the hub's (it inherits the limit)
    hub = HubProcess(agents=1, cap=5)
    await hub.seed()
    tokens = seed_visitors(f"{hub.dir}/hub.db", hub.env["LIVEDESK_SECRET_KEY"], count)
    hub.start()
    sockets = []
    errors = 0
    try:
        await asyncio.sleep(1.0)  # let the fresh process settle before the baseline reading
        rss_before = hub.rss_mb()

        async def open_one(token: str):  # type: ignore[no-untyped-def]
            ws = await connect(
                f"{hub.ws_base}/ws/visitor",
                subprotocols=[PROTO, f"livedesk.token.{token}"],  # type: ignore[list-item]
                origin=hub.base,  # type: ignore[arg-type]
                open_timeout=120,
                ping_interval=None,  # idle means idle: no client pings
                max_queue=4,
            )
            msgpack.unpackb(await ws.recv())  # welcome
            return ws

        t0 = now()
        for start in range(0, count, batch):
            opened = await asyncio.gather(
                *(open_one(t) for t in tokens[start : start + batch]), return_exceptions=True
            )
            for item in opened:
                if isinstance(item, BaseException):
                    errors += 1
                else:
                    sockets.append(item)
            print(f"{len(sockets)} open, rss {hub.rss_mb():.0f} MB", file=sys.stderr)
        open_s = now() - t0
        await asyncio.sleep(2.0)  # idle: let the hub's allocator settle before reading RSS
        rss_after = hub.rss_mb()
        probe = sockets[len(sockets) // 2]
        await probe.send(msgpack.packb({"type": "ping"}))
        alive = msgpack.unpackb(await asyncio.wait_for(probe.recv(), 30))["type"] == "pong"
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        hub.cleanup()
    held = len(sockets)
    per = (rss_after - rss_before) / held if held else float("nan")
    return {
        "benchmark": "connections",
        "requested": count,
        "held": held,
        "errors": errors,
        "fd_limit": limit,
        "open_s": round(open_s, 1),
        "rss_before_mb": round(rss_before, 1),
        "rss_after_mb": round(rss_after, 1),
        "mb_per_1000": round(per * 1000, 2),
        "kb_per_connection": round(per * 1024, 1),
        "ping_answered": alive,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.count, args.batch))))


if __name__ == "__main__":
    main()
