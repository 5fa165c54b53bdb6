"""Fan-out: server CPU per delivered frame, the hub next to a bare ``websockets`` server on
uvloop, in the same run, driven by the same clients in several processes.

A room is a conversation: one agent socket writing and ``--sockets - 1`` sockets reading
(a visitor's tabs and watchers). Chats have rooms of 2–6 sockets; ``--sockets 200`` is the
large case. Every room gets ``--rate`` agent texts a second for ``--duration`` seconds
(at least 10 s); each is stored by the hub, then fanned out to every reader of the room.
The bare server (``--bare-server``) parses each text, numbers it, acks it and writes the
hub's message frame to the room's readers with ``websockets.broadcast``. The server's CPU
seconds come from its own kernel counters over the measured window. Prints a JSON line per
server and a last one with the hub/bare ratio of CPU per delivered frame; a run where a
load generator used near a whole core is ``"valid": false``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import msgpack  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from benchmarks._hub import (  # noqa: E402
    PASSWORD,
    CpuWindow,
    Generators,
    HubProcess,
    OwnCpu,
    free_port,
    generators_valid,
    per_thousand,
    wait_for_port,
)

PROTO = "livedesk.v1.msgpack"
CAP = 5  # rooms per agent socket, on both servers


async def bare_server(port: int) -> None:
    """Rooms of readers; a writer's text is parsed, numbered, acked and broadcast."""
    import uvloop
    from websockets import broadcast
    from websockets.asyncio.server import serve

    uvloop.install()
    rooms: dict[str, set[Any]] = {}
    seqs: dict[str, int] = {}

    async def handler(ws: Any) -> None:
        path = ws.request.path
        if path == "/send":
            async for data in ws:
                frame = msgpack.unpackb(data)
                room = frame["conversation_id"]
                seq = seqs[room] = seqs.get(room, 0) + 1
                ack = {"type": "ack", "client_msg_id": frame["client_msg_id"]}
                ack.update(conversation_id=room, seq=seq, duplicate=False)
                broadcast((ws,), msgpack.packb(ack))
                body = {
                    "type": "message",
                    "conversation_id": room,
                    "seq": seq,
                    "author": "agent",
                    "ts": int(time.time() * 1000),
                    "author_name": "agent0",
                    "author_id": "1",
                    "text": frame["text"],
                    "client_msg_id": frame["client_msg_id"],
                }
                broadcast(rooms.get(room, ()), msgpack.packb(body))
            return
        room = path.rsplit("/", 1)[-1]
        rooms.setdefault(room, set()).add(ws)
        try:
            await ws.wait_closed()
        finally:
            rooms[room].discard(ws)

    async with serve(handler, "127.0.0.1", port, max_size=None, compression=None):
        await asyncio.Future()


async def generate(spec: dict[str, Any], barrier: Any) -> dict[str, Any]:
    """One load generator: its writers (agents) and its rooms' readers."""
    base, bare, readers = spec["base"], spec["bare"], spec["sockets"] - 1
    ws_base = base.replace("http", "ws", 1)
    text = "x" * spec["size"]
    interval = 1.0 / spec["rate"]
    counted = {"frames": 0}
    measuring = asyncio.Event()
    stop = asyncio.Event()
    sockets: list[Any] = []
    http = httpx.AsyncClient(base_url=base, timeout=60)

    async def write(ws: Any, conv_id: str) -> None:
        """Open loop: ``rate`` texts a second into one room."""
        while not stop.is_set():
            frame = {
                "type": "send",
                "conversation_id": conv_id,
                "text": text,
                "client_msg_id": uuid.uuid4().hex,
            }
            await ws.send(msgpack.packb(frame))
            await asyncio.sleep(interval)

    async def writer(cookie: str, rooms: list[str]) -> None:
        headers = {"Cookie": f"livedesk_session={cookie}"} if cookie else {}
        path = "/send" if bare else "/ws/agent"
        async with connect(
            ws_base + path,
            subprotocols=None if bare else [PROTO],  # type: ignore[list-item]
            origin=None if bare else base,  # type: ignore[arg-type]
            additional_headers=headers,
            max_size=None,
            compression=None,
        ) as ws:
            sockets.append(ws)
            connected.append(ws)
            if len(connected) == expected[0]:
                all_in.set()
            tasks = [asyncio.create_task(write(ws, room)) for room in rooms]
            async for data in ws:  # the hub's `assigned`: a room for this agent
                frame = msgpack.unpackb(data)
                if frame["type"] == "assigned":
                    room = frame["conversation"]["conversation_id"]
                    tasks.append(asyncio.create_task(write(ws, room)))
            for task in tasks:
                task.cancel()

    async def read(ws: Any) -> None:
        async for data in ws:
            if measuring.is_set() and not stop.is_set() and b"xxxxxxxx" in data:
                counted["frames"] += 1

    async def tab(path: str, token: str | None) -> Any:
        protos = [PROTO, f"livedesk.token.{token}"] if token else None
        ws = await connect(
            ws_base + path,
            subprotocols=protos,  # type: ignore[arg-type]
            origin=None if bare else base,  # type: ignore[arg-type]
            max_size=None,
            compression=None,
        )
        sockets.append(ws)
        return ws

    async def room(i: int) -> list[Any]:
        if bare:
            tabs = [await tab(f"/listen/r{i}", None) for _ in range(readers)]
            return [asyncio.create_task(read(ws)) for ws in tabs]
        token = (await http.post("/api/visitor/session", json={})).json()["token"]
        first = await tab("/ws/visitor", token)
        await first.send(msgpack.packb({"type": "send", "text": "hi", "client_msg_id": "hi"}))
        tabs = [first] + [await tab("/ws/visitor", token) for _ in range(readers - 1)]
        return [asyncio.create_task(read(ws)) for ws in tabs]

    async def login(email: str) -> str:
        for _ in range(50):  # the hub lets few logins wait at once; it answers 503 beyond
            r = await http.post("/login", json={"email": email, "password": PASSWORD})
            if r.status_code != 503:
                break
            await asyncio.sleep(0.2)
        r.raise_for_status()
        return str(r.cookies["livedesk_session"])

    writers = []
    connected: list[Any] = []
    all_in = asyncio.Event()
    expected = [-(-len(spec["rooms"]) // CAP) if bare else len(spec["emails"])]
    if not expected[0]:
        all_in.set()
    if bare:
        mine = [f"r{i}" for i in spec["rooms"]]
        for k in range(0, len(mine), CAP):
            writers.append(asyncio.create_task(writer("", mine[k : k + CAP])))
    else:
        for email in spec["emails"]:
            writers.append(asyncio.create_task(writer(await login(email), [])))
    await asyncio.wait_for(all_in.wait(), 120)
    await asyncio.to_thread(barrier.wait, 300)  # every generator's writers are in
    readers_tasks = [t for i in spec["rooms"] for t in await room(i)]
    await asyncio.sleep(max(0.0, spec["settle"] - 0.0))
    own = OwnCpu()
    own.start()
    measuring.set()
    await asyncio.sleep(spec["duration"])
    stop.set()
    share = own.share()
    for task in writers + readers_tasks:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    await http.aclose()
    return {"frames": counted["frames"], "cpu_share": share}


class BareServer:
    bare = True

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [sys.executable, __file__, "--bare-server", str(self.port)]
        self.proc = subprocess.Popen(argv)
        wait_for_port(self.port, 30, self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


async def run(server: str, args: argparse.Namespace) -> dict[str, Any]:
    agents = -(-args.rooms // CAP)
    target: Any = BareServer() if server == "bare" else HubProcess(agents=agents, cap=CAP)
    emails: list[str] = [] if server == "bare" else await target.seed()
    target.start()
    pid = target.proc.pid
    n = max(1, min(args.generators, args.rooms))
    specs = [
        {
            "base": target.base,
            "bare": server == "bare",
            "emails": emails[g::n],
            "rooms": list(range(args.rooms))[g::n],
            "sockets": args.sockets,
            "rate": args.rate,
            "size": args.size,
            "settle": args.settle,
            "duration": args.duration,
        }
        for g in range(n)
    ]
    gens = Generators(generate, specs)
    try:
        await gens.sync()
        # Rooms open after the barrier; the window starts once every generator has settled.
        await asyncio.sleep(args.settle + _setup_s(args))
        window = CpuWindow([pid])
        window.start()
        await asyncio.sleep(args.duration - 2 * _setup_s(args))
        window.stop()
        got = await gens.results()
    finally:
        gens.kill()
        target.stop()
        if server == "hub":
            target.cleanup()
    frames = sum(r["frames"] for r in got)
    frames_in_window = frames * window.wall_s / args.duration
    shares = [round(r["cpu_share"], 3) for r in got]
    return {
        "benchmark": "fanout_vs_bare",
        "server": server,
        "rooms": args.rooms,
        "sockets_per_room": args.sockets,
        "rate_per_room": args.rate,
        "offered_frames_per_s": args.rooms * (args.sockets - 1) * args.rate,
        "delivered_frames_per_s": round(frames / args.duration),
        "server_cpu_s": round(window.cpu_s, 3),
        "server_cpu_share": round(window.share, 3),
        "server_cpu_s_per_1000_frames": per_thousand(window.cpu_s, round(frames_in_window)),
        "server_rss_mb": round(window.rss_kb / 1024, 1),
        "machine_busy_cores": round(window.machine_busy_cores, 2),
        "machine_cores": os.cpu_count(),
        "generator_cpu_shares": shares,
        "valid": generators_valid(shares),
    }


def _setup_s(args: argparse.Namespace) -> float:
    """Slack at both ends of the window for generators that settled a little later."""
    return min(1.0, args.duration / 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--sockets", type=int, default=4, help="sockets per room, writer too")
    parser.add_argument("--rate", type=float, default=5.0, help="texts a second per room")
    parser.add_argument("--duration", type=float, default=12.0)
    parser.add_argument("--settle", type=float, default=4.0, help="seconds before measuring")
    parser.add_argument("--size", type=int, default=100, help="characters of text per message")
    parser.add_argument("--generators", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="bare/hub pairs, alternating")
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        asyncio.run(bare_server(args.bare_server))
        return
    if args.duration < 10:
        parser.error("--duration: at least 10 s")
    import uvloop

    uvloop.install()
    ratios = []
    for _ in range(args.rounds):
        bare = asyncio.run(run("bare", args))
        print(json.dumps(bare), flush=True)
        hub = asyncio.run(run("hub", args))
        print(json.dumps(hub), flush=True)
        a, b = hub["server_cpu_s_per_1000_frames"], bare["server_cpu_s_per_1000_frames"]
        if a and b:
            ratios.append(round(a / b, 2))
    print(
        json.dumps(
            {
                "benchmark": "fanout_vs_bare_ratio",
                "rooms": args.rooms,
                "sockets_per_room": args.sockets,
                "cpu_per_frame_ratio": ratios,
            }
        )
    )


if __name__ == "__main__":
    main()
