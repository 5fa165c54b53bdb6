"""Bus fan-out between two nodes: RedisBus A → Redis → RedisBus B, next to InMemoryBus.

Both RedisBus "nodes" run in this one process and event loop (the hub wiring for real
multi-process runs is ``benchmarks/multinode.py``'s job), so the figures are a floor of
what two processes would do: publisher and subscriber share one CPU's worth of Python.
Frames are chat-sized (~120 bytes of msgpack). Latency is publish() → B's handler.

- saturated: publish ``--frames`` as fast as the loop allows (yielding every 200), then
  frames/s = frames B received / time until the last arrived, and their latency;
- paced: ``--rate`` frames/s for ``--paced-frames`` frames: latency under normal load.

Starts its own redis-server on a free port unless ``--url`` is given.
Run: python benchmarks/redis_bus.py [--url redis://...] [--frames 50000] [--rate 2000]
Prints ONE JSON line, last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chatserver.backends.bus import InMemoryBus  # noqa: E402
from chatserver.backends.bus_redis import RedisBus  # noqa: E402
from chatserver.core.protocol import OutFrame  # noqa: E402
from chatserver.core.settings import Settings  # noqa: E402
from tests.servers import RedisServer  # noqa: E402

CHANNEL = "conv:bench"
TEXT = "Hello, I have a question about my order #12345"
STOP_S = Settings().cluster.bus_stop_timeout_s


def frame(seq: int) -> OutFrame:
    return OutFrame(
        {
            "type": "message",
            "conversation_id": "c0123456789",
            "seq": seq,
            "author": "visitor",
            "ts": 1_790_000_000_000 + seq,
            "text": TEXT,
            "t_ns": time.perf_counter_ns(),
        }
    )


class Sink:
    def __init__(self, expect: int) -> None:
        self.latencies_ns: list[int] = []
        self.expect = expect
        self.done = asyncio.Event()
        self.last_ns = 0

    def __call__(self, channel: str, out: OutFrame) -> None:
        now = time.perf_counter_ns()
        self.latencies_ns.append(now - out.body["t_ns"])
        self.last_ns = now
        if len(self.latencies_ns) >= self.expect:
            self.done.set()


def pct_ms(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6, 3)


def in_memory(frames: int) -> dict[str, Any]:
    sink = Sink(frames)
    bus = InMemoryBus(sink)
    bus.subscribe(CHANNEL)
    started = time.perf_counter_ns()
    cpu_started = time.process_time()
    for seq in range(frames):
        bus.publish(CHANNEL, frame(seq))
    elapsed_s = (time.perf_counter_ns() - started) / 1e9
    cpu_s = time.process_time() - cpu_started
    return {
        "frames_per_s": round(frames / elapsed_s),
        "cpu_us_per_frame": round(cpu_s / frames * 1e6, 2),
        "p50_ms": pct_ms(sink.latencies_ns, 0.5),
        "p99_ms": pct_ms(sink.latencies_ns, 0.99),
    }


async def two_nodes(url: str, sink: Sink) -> tuple[RedisBus, RedisBus]:
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    node_a = RedisBus(
        url, lambda c, f: None, "bench-a", stop_timeout_s=STOP_S, prefix=prefix, queue_max=1_000_000
    )
    node_b = RedisBus(url, sink, "bench-b", stop_timeout_s=STOP_S, prefix=prefix)
    for bus in (node_a, node_b):
        await bus.start()
        await bus.wait_healthy(10)
    node_b.subscribe(CHANNEL)
    await node_b.wait_subscribed(10)
    return node_a, node_b


async def saturated(url: str, frames: int) -> dict[str, Any]:
    sink = Sink(frames)
    node_a, node_b = await two_nodes(url, sink)
    try:
        started = time.perf_counter_ns()
        cpu_started = time.process_time()
        for seq in range(frames):
            node_a.publish(CHANNEL, frame(seq))
            if seq % 200 == 199:
                await asyncio.sleep(0)  # a hub yields between frames too
        try:
            async with asyncio.timeout(120):
                await sink.done.wait()
        except TimeoutError:
            pass  # report what arrived; "lost" says how much did not
        cpu_s = time.process_time() - cpu_started
        got = len(sink.latencies_ns)
        elapsed_s = (sink.last_ns - started) / 1e9
        return {
            "frames_per_s": round(got / elapsed_s) if got else 0,
            "p50_ms": pct_ms(sink.latencies_ns, 0.5) if got else None,
            "p99_ms": pct_ms(sink.latencies_ns, 0.99) if got else None,
            # CPU of this process (both nodes, not Redis) per frame: steadier than wall
            # time on a shared machine.
            "cpu_us_per_frame": round(cpu_s / max(got, 1) * 1e6, 1),
            "lost": frames - got,
            "overflow": node_a.stats.overflow,
        }
    finally:
        await node_a.stop()
        await node_b.stop()


async def paced(url: str, frames: int, rate: int) -> dict[str, Any]:
    sink = Sink(frames)
    node_a, node_b = await two_nodes(url, sink)
    try:
        tick_s = 0.005
        per_tick = max(1, round(rate * tick_s))
        started = time.perf_counter()
        sent = 0
        while sent < frames:
            for _ in range(min(per_tick, frames - sent)):
                node_a.publish(CHANNEL, frame(sent))
                sent += 1
            ahead = started + sent / rate - time.perf_counter()
            await asyncio.sleep(max(0.0, ahead))
        async with asyncio.timeout(60):
            await sink.done.wait()
        return {
            "offered_frames_per_s": rate,
            "p50_ms": pct_ms(sink.latencies_ns, 0.5),
            "p99_ms": pct_ms(sink.latencies_ns, 0.99),
            "mean_ms": round(statistics.fmean(sink.latencies_ns) / 1e6, 3),
        }
    finally:
        await node_a.stop()
        await node_b.stop()


async def run(url: str, frames: int, paced_frames: int, rate: int) -> dict[str, Any]:
    await saturated(url, 2000)  # warm up connections and code paths
    return {
        "benchmark": "redis_bus",
        "frame_bytes": len(frame(0).encoded("msgpack")),
        "in_memory": in_memory(frames),
        "redis_saturated": await saturated(url, frames),
        "redis_paced": await paced(url, paced_frames, rate),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=None)
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--paced-frames", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=2_000)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop  # the hub serves on uvloop (uvicorn[standard])

        uvloop.install()
    server: RedisServer | None = None
    url = args.url
    if url is None:
        binary = shutil.which("redis-server")
        if binary is None:
            sys.exit("redis-server not found; pass --url")
        server = RedisServer(binary)
        server.start()
        url = server.url
    try:
        result = asyncio.run(run(url, args.frames, args.paced_frames, args.rate))
        result["own_server"] = server is not None
        result["loop"] = args.loop
        result["same_process"] = True
    finally:
        if server is not None:
            server.stop()
            shutil.rmtree(server.dir, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
