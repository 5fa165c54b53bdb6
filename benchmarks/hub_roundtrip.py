"""N visitor/agent conversations over real sockets against a real hub process.

Each visitor writes at a fixed rate (open loop, ``--rate`` per second) and every agent
answers every visitor message at once, so the hub carries ``pairs × rate × 2`` messages a
second. Prints one JSON line: pairs, offered and delivered messages/s (both directions,
every one stored), round-trip p50/p99 ms (visitor send → agent reply seen by the visitor),
server RSS MB, errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import msgpack  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from benchmarks._hub import HubProcess, now  # noqa: E402

PROTO = ["livedesk.v1.msgpack"]


class Sequencer:
    """What a real client does: shows each conversation's items once and in seq order,
    holds early ones back, and asks for a missed stretch once (``resume``)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: dict[str, int] = {}
        self.held: dict[str, dict[int, dict[str, Any]]] = {}
        self.asked: dict[str, int] = {}

    async def resume(self, conv_id: str) -> None:
        after = self.seen.get(conv_id, 0)
        if self.asked.get(conv_id) != after:
            self.asked[conv_id] = after
            frame = {"type": "resume", "conversation_id": conv_id, "after_seq": after}
            await self.ws.send(msgpack.packb(frame))

    async def accept(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        if frame["type"] not in ("message", "event"):
            return []
        conv_id, seq = frame["conversation_id"], frame["seq"]
        seen = self.seen.get(conv_id, 0)
        if seq <= seen:
            return []
        held = self.held.setdefault(conv_id, {})
        held[seq] = frame
        ready = []
        while seen + 1 in held:
            seen += 1
            ready.append(held.pop(seen))
        self.seen[conv_id] = seen
        if held:
            await self.resume(conv_id)
        return ready


async def run(
    pairs: int,
    duration: float,
    warmup: float,
    cap: int,
    ramp_s: float,
    rate: float,
    hub: Any = None,
) -> dict[str, object]:
    """``hub``: anything with seed/start/stop/login/rss_mb and the bases visitors and
    agents connect to (one process by default; benchmarks/multinode.py passes two)."""
    agents_needed = -(-pairs // cap)
    hub = hub or HubProcess(agents=agents_needed, cap=cap)
    agent_base = getattr(hub, "agent_base", hub.base)
    visitor_base = getattr(hub, "visitor_base", hub.base)
    emails = await hub.seed()
    hub.start()
    errors = 0
    latencies: list[float] = []
    assign_waits: list[float] = []  # a visitor's first text → the assignment seen by them
    counted = {"messages": 0}
    lost = {"unanswered": 0}
    measuring = asyncio.Event()
    stop = asyncio.Event()
    try:
        # One HTTP client for all: creating one per visitor costs the client more CPU than
        # the hub spends serving it.
        http = httpx.AsyncClient(
            base_url=agent_base, timeout=60, limits=httpx.Limits(max_connections=50)
        )
        visitor_http = httpx.AsyncClient(
            base_url=visitor_base, timeout=60, limits=httpx.Limits(max_connections=50)
        )
        t0 = now()
        cookies = await asyncio.gather(*[hub.login(http, e) for e in emails])
        print(f"logins: {now() - t0:.1f}s", file=sys.stderr)

        async def agent(cookie: str, ready: asyncio.Event) -> None:
            nonlocal errors
            async with connect(
                agent_base.replace("http", "ws", 1) + "/ws/agent",
                subprotocols=PROTO,
                origin=agent_base,
                additional_headers={"Cookie": f"livedesk_session={cookie}"},
                max_size=None,
            ) as ws:
                ready.set()
                ordered = Sequencer(ws)
                async for data in ws:
                    frame = msgpack.unpackb(data)
                    kind = frame["type"]
                    if kind == "assigned":
                        await ordered.resume(frame["conversation"]["conversation_id"])
                        continue
                    if kind == "error":
                        errors += 1
                    for item in await ordered.accept(frame):
                        await answer(ws, item)

        async def answer(ws: Any, frame: dict[str, Any]) -> None:
            """Agents answer every visitor message at once."""
            if frame["type"] == "message" and frame["author"] == "visitor":
                reply = {
                    "type": "send",
                    "conversation_id": frame["conversation_id"],
                    "text": "re:" + frame["text"],
                    "client_msg_id": uuid.uuid4().hex,
                }
                await ws.send(msgpack.packb(reply))

        async def visitor(i: int) -> None:
            nonlocal errors
            await asyncio.sleep(i * ramp_s / pairs)  # visitors arrive over the ramp, not at once
            token = (await visitor_http.post("/api/visitor/session", json={})).json()["token"]
            async with connect(
                visitor_base.replace("http", "ws", 1) + "/ws/visitor",
                subprotocols=[*PROTO, f"livedesk.token.{token}"],
                origin=visitor_base,
                max_size=None,
            ) as ws:
                sent_at: dict[str, float] = {}
                opened_at = [now()]

                async def read() -> None:
                    nonlocal errors
                    ordered = Sequencer(ws)
                    async for data in ws:
                        frame = msgpack.unpackb(data)
                        if frame["type"] == "error":
                            errors += 1
                        for item in await ordered.accept(frame):
                            if item["type"] == "event" and item["event"] == "assigned":
                                assign_waits.append((now() - opened_at[0]) * 1000)
                            if item["type"] != "message" or item["author"] != "agent":
                                continue
                            started = sent_at.pop(item["text"][3:], None)
                            if started is not None and measuring.is_set() and not stop.is_set():
                                latencies.append((now() - started) * 1000)
                                counted["messages"] += 2

                reader = asyncio.create_task(read())
                # Open loop: a fixed offered rate per visitor, phase-shifted so the hub sees
                # a steady stream rather than bursts.
                interval = 1.0 / rate
                await asyncio.sleep(random.random() * interval)
                n = 0
                opened_at[0] = now()  # the first text opens the conversation
                while not stop.is_set():
                    n += 1
                    text = f"v{i}-m{n}"
                    sent_at[text] = now()
                    frame = {"type": "send", "text": text, "client_msg_id": uuid.uuid4().hex}
                    await ws.send(msgpack.packb(frame))
                    await asyncio.sleep(interval)
                lost["unanswered"] += sum(1 for t in sent_at.values() if now() - t > 5)
                reader.cancel()

        readies = [asyncio.Event() for _ in cookies]
        agent_tasks = [
            asyncio.create_task(agent(c, r)) for c, r in zip(cookies, readies, strict=True)
        ]
        await asyncio.gather(*(r.wait() for r in readies))
        print(f"agents connected: {now() - t0:.1f}s", file=sys.stderr)
        visitor_tasks = [asyncio.create_task(visitor(i)) for i in range(pairs)]
        await asyncio.sleep(ramp_s + warmup)  # the benchmark's own clock: ramp, warm up, measure
        measuring.set()
        started = now()
        await asyncio.sleep(duration)
        stop.set()
        elapsed = now() - started
        server_rss = hub.rss_mb()
        scraped = (await http.get("/metrics")).text
        await http.aclose()
        await visitor_http.aclose()
        batches = _metric(scraped, "livedesk_commit_batches_total")
        items = _metric(scraped, "livedesk_commit_items_total")
        results = await asyncio.gather(*visitor_tasks, return_exceptions=True)
        errors += sum(isinstance(r, Exception) for r in results)
        failures = [repr(r) for r in results if isinstance(r, Exception)][:3]
        if failures:
            print("visitor failures:", failures, file=sys.stderr)
        for task in agent_tasks:
            task.cancel()
        await asyncio.gather(*agent_tasks, return_exceptions=True)
    finally:
        hub.stop()
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    return {
        "benchmark": "hub_roundtrip",
        "pairs": pairs,
        "agents": agents_needed,
        "cap": cap,
        "duration_s": round(elapsed, 2),
        "messages": counted["messages"],
        "messages_per_s": round(counted["messages"] / elapsed, 1),
        "roundtrips": len(latencies),
        "p50_ms": round(q[49], 2),
        "p99_ms": round(q[98], 2),
        "server_rss_mb": round(server_rss, 1),
        "mean_commit_batch": round(items / batches, 1) if batches else 0,
        "offered_messages_per_s": pairs * rate * 2,
        "unanswered_after_5s": lost["unanswered"],
        "assigned": len(assign_waits),
        "assign_p50_ms": round(statistics.median(assign_waits), 1) if assign_waits else None,
        "assign_max_ms": round(max(assign_waits), 1) if assign_waits else None,
        "errors": errors,
    }


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--cap", type=int, default=5)
    parser.add_argument(
        "--ramp", type=float, default=5.0, help="seconds over which visitors arrive"
    )
    parser.add_argument("--rate", type=float, default=2.0, help="messages per second per visitor")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(
        run(args.pairs, args.duration, args.warmup, args.cap, args.ramp, args.rate)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
