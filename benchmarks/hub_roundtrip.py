"""N visitor/agent conversations over real sockets against a real hub process, and the
same load against a bare ``websockets`` relay (``benchmarks/bare_relay.py``) in the same run.

Each visitor writes at a fixed rate (open loop, ``--rate`` per second) and every agent
answers every visitor message at once, so the server carries ``pairs × rate × 2`` messages
a second. The clients run in ``--generators`` processes; the server's CPU seconds come from
its own kernel counters over the measured window. Prints one JSON line per server and,
with ``--bare``, last, the hub/relay ratio of CPU per message for each of ``--rounds``
rounds and their median. A round is the relay's run, then the hub's, each with the
machine to itself; ``--side-by-side``: both carry the same load at the same time, each from
its own generators, over one measured window (so do this tree's hub and another tree's with
``--against``). A run whose load generator used near a whole core is ``"valid": false``: it
measured the client.

``--burst N``: an arrival burst alone. N visitors arrive over ``--ramp`` seconds, each
writes once (no steady traffic), and the figure is how long each waited from that first
text to the ``assigned`` event (``assign_p99_ms``; the aim is under 500 ms for 500 in 5 s).
The server's CPU is counted over the whole burst.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import msgpack  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from benchmarks._hub import (  # noqa: E402
    CpuWindow,
    Generators,
    HubProcess,
    OwnCpu,
    free_port,
    generators_valid,
    now,
    per_thousand,
    wait_for_port,
)

PROTO = ["livedesk.v1.msgpack"]


class Sequencer:
    """What a real client does: shows each conversation's items once and in seq order,
    holds early ones back, and asks for a missed stretch once (``resume``). Its own sends
    take their place from their ``ack`` (the server does not echo them back)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: dict[str, int] = {}
        self.held: dict[str, dict[int, dict[str, Any] | None]] = {}
        self.asked: dict[str, int] = {}

    async def resume(self, conv_id: str) -> None:
        after = self.seen.get(conv_id, 0)
        if self.asked.get(conv_id) != after:
            self.asked[conv_id] = after
            frame = {"type": "resume", "conversation_id": conv_id, "after_seq": after}
            await self.ws.send(msgpack.packb(frame))

    async def accept(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        kind = frame["type"]
        if kind not in ("message", "event", "ack"):
            return []
        conv_id, seq = frame["conversation_id"], frame["seq"]
        seen = self.seen.get(conv_id, 0)
        if seq <= seen:
            return []
        held = self.held.setdefault(conv_id, {})
        held[seq] = None if kind == "ack" else frame
        ready = []
        while seen + 1 in held:
            seen += 1
            item = held.pop(seen)
            if item is not None:
                ready.append(item)
        self.seen[conv_id] = seen
        if held:
            await self.resume(conv_id)
        return ready


class HubFrom(HubProcess):
    """A hub run from another source tree (``python -m`` puts the working directory
    first on the path, so the tree is both the directory and PYTHONPATH)."""

    name = "hub_against"

    def __init__(self, tree: str, **kwargs: Any) -> None:
        super().__init__(**kwargs, PYTHONPATH=tree)
        self.tree = tree

    def launch(self) -> None:
        # Before the layers, the CLI was one module (chatserver/cli.py), not a package.
        layered = (Path(self.tree) / "chatserver" / "cli").is_dir()
        cli = "chatserver.cli.main" if layered else "chatserver.cli"
        argv = [sys.executable, "-m", cli, "serve", "--port", str(self.port)]
        self.proc = subprocess.Popen(argv, env=self.env, stderr=self.stderr, cwd=self.tree)

    async def seed(self, supervisors: tuple[str, ...] = ()) -> list[str]:
        """Migrate and seed with the other tree's own code: its schema is its migrations'
        head, which this tree's store may not know (nor it this tree's)."""
        from chatserver.testing.loadtest import PASSWORD

        script = """
import asyncio, sys
layered, url, cap, password, *people = sys.argv[1:]
if layered == "yes":
    from chatserver.backends.db import upgrade
    from chatserver.backends.store import Store
    from chatserver.live.auth import hash_password
else:  # before the layers
    from chatserver.db import upgrade
    from chatserver.store import Store
    from chatserver.auth import hash_password
upgrade(url)
async def main():
    store = Store(url)
    hashed = hash_password(password)
    try:
        for email in people:
            if await store.get_agent_by_email(email) is None:
                await store.add_agent(email, email.split("@")[0], hashed, role="agent", cap=int(cap))
    finally:
        await store.stop()
asyncio.run(main())
"""
        # Chosen by the tree's shape, not by trying: this tree's editable install would
        # answer an import the other tree lacks.
        layered = "yes" if (Path(self.tree) / "chatserver" / "cli").is_dir() else "no"
        argv = [sys.executable, "-c", script, layered, self.url_db, str(self.cap), PASSWORD]
        argv += self.emails()
        env = {**os.environ, "PYTHONPATH": self.tree}
        await asyncio.to_thread(subprocess.run, argv, env=env, cwd=self.tree, check=True)
        return self.emails()


class BareRelay:
    """``bare_relay.py`` in its own process, in the shape ``run`` drives."""

    bare = True

    def __init__(self, echo: bool) -> None:
        self.port = free_port()
        self.echo = echo
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []

    async def seed(self) -> list[str]:
        return []

    def start(self) -> None:
        script = Path(__file__).with_name("bare_relay.py")
        argv = [sys.executable, str(script), "--port", str(self.port)]
        self.proc = subprocess.Popen(argv + (["--echo"] if self.echo else []))
        wait_for_port(self.port, 30, self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(15)
            self.proc = None


async def generate(spec: dict[str, Any], barrier: Any) -> dict[str, Any]:
    """One load generator: its agents and visitors; returns what it measured."""
    agent_base, visitor_base = spec["agent_base"], spec["visitor_base"]
    bare: bool = spec["bare"]
    rate, ramp_s, n_total = spec["rate"], spec["ramp_s"], spec["pairs"]
    burst: bool = spec.get("burst", False)
    errors = 0
    latencies: list[float] = []
    assign_waits: list[float] = []  # a visitor's first text → the assignment seen by them
    counted = {"messages": 0}
    lost = {"unanswered": 0}
    measuring = asyncio.Event()
    stop = asyncio.Event()
    # One HTTP client for all: creating one per visitor costs more than the server spends.
    http = httpx.AsyncClient(base_url=agent_base, timeout=60)
    visitor_http = httpx.AsyncClient(base_url=visitor_base, timeout=60)

    logins = asyncio.Semaphore(2)

    async def login(email: str) -> str:
        if bare:
            return ""
        for _ in range(50):  # the hub lets few logins wait at once; it answers 503 beyond
            async with logins:
                r = await http.post("/login", json={"email": email, "password": spec["password"]})
            if r.status_code != 503:
                break
            await asyncio.sleep(0.2)
        r.raise_for_status()
        return str(r.cookies["livedesk_session"])

    async def agent(cookie: str, ready: asyncio.Event) -> None:
        nonlocal errors
        async with connect(
            agent_base.replace("http", "ws", 1) + "/ws/agent",
            subprotocols=PROTO,  # type: ignore[arg-type]
            origin=agent_base,  # type: ignore[arg-type]
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
                    if item["type"] == "message" and item["author"] == "visitor":
                        reply = {
                            "type": "send",
                            "conversation_id": item["conversation_id"],
                            "text": "re:" + item["text"],
                            "client_msg_id": uuid.uuid4().hex,
                        }
                        await ws.send(msgpack.packb(reply))

    async def visitor(i: int, start: float) -> None:
        nonlocal errors
        await asyncio.sleep(max(0.0, start + i * ramp_s / n_total - now()))
        if bare:
            token = "x"
        else:
            token = (await visitor_http.post("/api/visitor/session", json={})).json()["token"]
        async with connect(
            visitor_base.replace("http", "ws", 1) + "/ws/visitor",
            subprotocols=[*PROTO, f"livedesk.token.{token}"],  # type: ignore[list-item]
            origin=visitor_base,  # type: ignore[arg-type]
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
            # Open loop: a fixed offered rate per visitor, phase-shifted so the server sees
            # a steady stream rather than bursts.
            interval = 1.0 / rate
            await asyncio.sleep(random.random() * interval)
            n = 0
            opened_at[0] = now()  # the first text opens the conversation
            while not stop.is_set():
                if burst and n:  # one text each: the burst is of arrivals, not of traffic
                    await stop.wait()
                    break
                n += 1
                text = f"v{i}-m{n}"
                sent_at[text] = now()
                frame = {"type": "send", "text": text, "client_msg_id": uuid.uuid4().hex}
                await ws.send(msgpack.packb(frame))
                await asyncio.sleep(interval)
            lost["unanswered"] += sum(1 for t in sent_at.values() if now() - t > 5)
            reader.cancel()

    cookies = await asyncio.gather(*[login(e) for e in spec["emails"]])
    readies = [asyncio.Event() for _ in cookies]
    agent_tasks = [asyncio.create_task(agent(c, r)) for c, r in zip(cookies, readies, strict=True)]
    await asyncio.gather(*(r.wait() for r in readies))
    await asyncio.to_thread(barrier.wait, 300)  # every generator's agents are in
    start = now()
    visitor_tasks = [asyncio.create_task(visitor(i, start)) for i in spec["visitors"]]
    own = OwnCpu()
    if burst:  # the burst is what is measured: from its first arrival
        own.start()
        measuring.set()
    await asyncio.sleep(ramp_s + spec["warmup"])
    if not burst:
        own.start()
        measuring.set()
    await asyncio.sleep(spec["duration"])
    stop.set()
    share = own.share()
    results = await asyncio.gather(*visitor_tasks, return_exceptions=True)
    errors += sum(isinstance(r, Exception) for r in results)
    failures = [repr(r) for r in results if isinstance(r, Exception)][:3]
    for task in agent_tasks:
        task.cancel()
    await asyncio.gather(*agent_tasks, return_exceptions=True)
    await http.aclose()
    await visitor_http.aclose()
    return {
        "server": spec.get("server", 0),
        "latencies": latencies,
        "assign_waits": assign_waits,
        "messages": counted["messages"],
        "unanswered": lost["unanswered"],
        "errors": errors,
        "failures": failures,
        "cpu_share": share,
    }


async def run(
    pairs: int,
    duration: float,
    warmup: float,
    cap: int,
    ramp_s: float,
    rate: float,
    hub: Any = None,
    generators: int = 2,
    burst: bool = False,
) -> dict[str, object]:
    """``hub``: anything with seed/start/stop, ``pids`` (or ``pid``) and the bases visitors
    and agents connect to (one hub process by default; ``multinode`` passes two nodes,
    ``--bare`` the relay)."""
    load = (pairs, duration, warmup, cap, ramp_s, rate)
    return (await run_side_by_side(load, [hub], generators, burst))[0]


async def run_side_by_side(
    load: tuple[Any, ...], servers: list[Any], generators: int = 2, burst: bool = False
) -> list[dict[str, object]]:
    """The same load on each of ``servers`` at the same time, each server with its own
    ``generators`` processes, every generator starting the timed part on one barrier and
    every server's CPU counted over one window: one result per server. Servers measured
    one after the other meet different moments of a shared host (their CPU per message
    moved by a third between rounds of the same code); side by side, the host's moments
    fall on both alike and their ratio moves far less. But the servers also take the CPUs
    from each other, and that costs the hub more than the relay: at 500 pairs the ratio
    read about a tenth higher side by side than one after the other, so the aim's figure
    is the median of rounds run one after the other. Side by side serves where both
    servers are hubs (``--against``): there the cost falls on both alike."""
    from chatserver.testing.loadtest import PASSWORD

    pairs, duration, warmup, cap, ramp_s, rate = load
    agents_needed = -(-pairs // cap)
    servers = [hub or HubProcess(agents=agents_needed, cap=cap) for hub in servers]
    n = max(1, generators)
    specs: list[dict[str, Any]] = []
    started: list[Any] = []
    try:
        for index, hub in enumerate(servers):
            bare = getattr(hub, "bare", False)
            emails = await hub.seed()
            started.append(hub)
            hub.start()
            if bare:
                emails = [f"bare{i}" for i in range(agents_needed)]
            specs += [
                {
                    "server": index,
                    "agent_base": getattr(hub, "agent_base", hub.base),
                    "visitor_base": getattr(hub, "visitor_base", hub.base),
                    "bare": bare,
                    "password": PASSWORD,
                    "emails": emails[g::n],
                    "visitors": list(range(pairs))[g::n],
                    "pairs": pairs,
                    "rate": rate,
                    "ramp_s": ramp_s,
                    "warmup": warmup,
                    "duration": duration,
                    "burst": burst,
                }
                for g in range(n)
            ]
        gens = Generators(generate, specs)
        try:
            await gens.sync()
            if not burst:
                await asyncio.sleep(ramp_s + warmup)
                for hub in servers:
                    await analyze_postgres(getattr(hub, "url_db", None))
            windows = [CpuWindow(list(getattr(hub, "pids", None) or [hub.pid])) for hub in servers]
            for window in windows:
                window.start()
            await asyncio.sleep(duration + (ramp_s + warmup if burst else 0))
            for window in windows:
                window.stop()
            got = await gens.results()
            commits = [await _commit_metrics(hub) for hub in servers]
        finally:
            gens.kill()
    finally:
        for hub in started:
            hub.stop()
    return [
        _result(load, hub, window, [r for r in got if r["server"] == index], commit, burst)
        for index, (hub, window, commit) in enumerate(zip(servers, windows, commits, strict=True))
    ]


async def _commit_metrics(hub: Any) -> dict[str, float]:
    """The group commit's counters from the hub's /metrics (none from the relay)."""
    if getattr(hub, "bare", False):
        return {}
    async with httpx.AsyncClient(base_url=getattr(hub, "agent_base", hub.base), timeout=30) as http:
        scraped = (await http.get("/metrics")).text
    names = ("batches", "items", "locked", "one_trip")
    return {name: _metric(scraped, f"livedesk_commit_{name}_total") for name in names}


def _result(
    load: tuple[Any, ...],
    hub: Any,
    window: CpuWindow,
    got: list[dict[str, Any]],
    commit: dict[str, float],
    burst: bool,
) -> dict[str, object]:
    pairs, _duration, _warmup, cap, _ramp_s, rate = load
    bare = getattr(hub, "bare", False)
    batches, items = commit.get("batches", 0.0), commit.get("items", 0.0)
    locked, one_trip = commit.get("locked", 0.0), commit.get("one_trip", 0.0)
    latencies = sorted(x for r in got for x in r["latencies"])
    assign_waits = [x for r in got for x in r["assign_waits"]]
    messages = sum(r["messages"] for r in got)
    errors = sum(r["errors"] for r in got)
    failures = [f for r in got for f in r["failures"]][:3]
    if failures:
        print("visitor failures:", failures, file=sys.stderr)
    shares = [round(r["cpu_share"], 3) for r in got]
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    return {
        "benchmark": "hub_roundtrip_burst" if burst else "hub_roundtrip",
        "server": "bare_relay" if bare else getattr(hub, "name", "hub"),
        "pairs": pairs,
        "agents": -(-pairs // cap),
        "cap": cap,
        "duration_s": round(window.wall_s, 2),
        "messages": messages,
        "messages_per_s": round(messages / window.wall_s, 1),
        "roundtrips": len(latencies),
        "p50_ms": round(q[49], 2),
        "p99_ms": round(q[98], 2),
        "server_cpu_s": round(window.cpu_s, 3),
        "server_cpu_share": round(window.share, 3),
        "server_cpu_s_per_1000_msgs": per_thousand(window.cpu_s, messages),
        "server_rss_mb": round(window.rss_kb / 1024, 1),
        "machine_busy_cores": round(window.machine_busy_cores, 2),
        "machine_cores": os.cpu_count(),
        "generator_cpu_shares": shares,
        "valid": generators_valid(shares),
        "mean_commit_batch": round(items / batches, 1) if batches else 0,
        # PostgreSQL: batches written the locked way (a conversation changed since they
        # read it, or they may owe a debit or a mail); with two nodes, the agents' node.
        "locked_commit_share": round(locked / batches, 3) if batches else 0,
        # PostgreSQL: batches written in one round trip, planned from what the node wrote last.
        "one_trip_commit_share": round(one_trip / batches, 3) if batches else 0,
        "offered_messages_per_s": None if burst else pairs * rate * 2,  # burst: one text each
        "unanswered_after_5s": sum(r["unanswered"] for r in got),
        "assigned": len(assign_waits),
        "assign_p50_ms": round(statistics.median(assign_waits), 1) if assign_waits else None,
        "assign_p99_ms": _p99(assign_waits),
        "assign_max_ms": round(max(assign_waits), 1) if assign_waits else None,
        "errors": errors,
    }


def compare_workers(load: tuple[Any, ...], workers: int, rounds: int, generators: int) -> None:
    """One worker and ``workers`` workers, each on a fresh PostgreSQL database and Redis."""
    from tests.servers import postgres_database, redis_server

    agents = -(-load[0] // load[3])
    delivered: dict[int, list[float]] = {1: [], workers: []}
    cpu: dict[int, list[object]] = {1: [], workers: []}
    for _ in range(rounds):
        for n in (1, workers):
            with redis_server() as redis, postgres_database() as database_url:
                hub = HubProcess(
                    agents, load[3], database_url=database_url, redis_url=redis.url, workers=n
                )
                result = asyncio.run(run(*load, hub=hub, generators=generators))
            result["workers"] = n
            print(json.dumps(result), flush=True)
            delivered[n].append(result["messages_per_s"])  # type: ignore[arg-type]
            cpu[n].append(result["server_cpu_s_per_1000_msgs"])
    line = {
        "benchmark": "hub_roundtrip_workers",
        "pairs": load[0],
        "offered_messages_per_s": load[0] * load[5] * 2,
        "messages_per_s": {str(n): v for n, v in delivered.items()},
        "server_cpu_s_per_1000_msgs": {str(n): v for n, v in cpu.items()},
    }
    print(json.dumps(line))


def _p99(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    return round(statistics.quantiles(values, n=100)[98], 1)


async def analyze_postgres(database_url: str | None) -> None:
    """Gather PostgreSQL's statistics before the measured window, as autovacuum does in a
    desk that has run for a minute (this database is seconds old). Without them, each
    connection's prepared statements keep the plans chosen while the tables were empty:
    the batch's probe read all of ``messages`` (a hash join), 2 to 6 ms a batch and
    growing, and the run measured a database no running desk has."""
    if not database_url or not database_url.startswith("postgresql"):
        return
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


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
    parser.add_argument("--generators", type=int, default=2, help="load-generator processes")
    parser.add_argument(
        "--burst",
        type=int,
        default=0,
        help="an arrival burst of N visitors over --ramp s, one text each: assign_p99_ms",
    )
    parser.add_argument("--bare", action="store_true", help="also run the bare relay; A/B")
    parser.add_argument("--rounds", type=int, default=1, help="with --bare: relay/hub pairs")
    parser.add_argument("--echo", action="store_true", help="the bare relay echoes to senders")
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="with --bare or --against: both servers loaded at the same time, not in turn",
    )
    parser.add_argument(
        "--against",
        help="a source tree (e.g. `git archive` of an older commit): its hub runs too, "
        "alternating with this one, and the CPU-per-message ratio this/that is printed",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="compare `serve --workers N` with one worker, both on Redis+PostgreSQL, "
        "alternating --rounds times (raise --rate to find the throughput)",
    )
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if args.burst:
        args.pairs = args.burst
    load = (args.pairs, args.duration, args.warmup, args.cap, args.ramp, args.rate)
    mode = {"generators": args.generators, "burst": bool(args.burst)}
    if args.workers:
        compare_workers(load, args.workers, args.rounds, args.generators)
        return
    ratios = []
    for _ in range(0 if args.against else args.rounds if args.bare else 1):
        bare_result = None
        if args.bare and args.side_by_side:
            relay = BareRelay(args.echo)
            bare_result, result = asyncio.run(run_side_by_side(load, [relay, None], **mode))
        else:
            if args.bare:
                bare_result = asyncio.run(run(*load, hub=BareRelay(args.echo), **mode))
            result = asyncio.run(run(*load, **mode))
        for printed in (bare_result, result):
            if printed is not None:
                print(json.dumps(printed), flush=True)
        if bare_result is not None:
            a, b = result["server_cpu_s_per_1000_msgs"], bare_result["server_cpu_s_per_1000_msgs"]
            if a and b:
                ratios.append(round(a / b, 2))  # type: ignore[operator]
    if args.against:
        agents = -(-args.pairs // args.cap)
        versus = []
        for _ in range(args.rounds):
            old = HubFrom(args.against, agents=agents, cap=args.cap)
            if args.side_by_side:
                that, this = asyncio.run(run_side_by_side(load, [old, None], **mode))
            else:
                that = asyncio.run(run(*load, hub=old, **mode))
                this = asyncio.run(run(*load, **mode))
            print(json.dumps(that), flush=True)
            print(json.dumps(this), flush=True)
            a, b = this["server_cpu_s_per_1000_msgs"], that["server_cpu_s_per_1000_msgs"]
            if a and b:
                versus.append(round(a / b, 2))  # type: ignore[operator]
        line = {"benchmark": "hub_roundtrip_vs_against", "against": args.against}
        line |= {"pairs": args.pairs, "cpu_per_msg_ratio": versus}
        print(json.dumps(line | {"side_by_side": args.side_by_side}))
    if args.bare:
        print(
            json.dumps(
                {
                    "benchmark": "hub_roundtrip_vs_bare",
                    "pairs": args.pairs,
                    "rate": args.rate,
                    "cpu_per_msg_ratio": ratios,
                    "median": round(statistics.median(ratios), 2) if ratios else None,
                    "measured": "side by side" if args.side_by_side else "one after the other",
                    "aim": "<= 3",
                }
            )
        )


if __name__ == "__main__":
    main()
