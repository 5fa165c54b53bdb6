"""The cost of keeping supervisor dashboards live on a busy floor.

A real hub process with ``--agents`` agents online holding ``--conversations`` live chats;
visitors keep writing (``--rate`` messages a second in all) and ``--churn`` chats a second
close and reopen, so agents' loads and the queue keep changing. The hub's CPU share is
measured twice for ``--duration`` seconds: without dashboards, then with ``--dashboards``
supervisor sockets open. Prints one JSON line: the hub's CPU share both ways and their
difference, and per dashboard the bytes and frames a second it received.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from benchmarks._hub import PASSWORD, HubProcess, now  # noqa: E402
from chatserver.backends.store import Store  # noqa: E402
from chatserver.live.auth import hash_password  # noqa: E402

PROTO = ["livedesk.v1.json"]  # what the dashboard page speaks
SUPERVISOR = "boss@bench.livedesk"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


async def drain(ws: ClientConnection, counter: dict[str, int] | None = None) -> None:
    """Read everything, so no socket of ours is ever the slow consumer."""
    try:
        async for frame in ws:
            if counter is not None:
                counter["bytes"] += len(frame)
                counter["frames"] += 1
    except Exception:
        pass


async def run(
    agents: int, conversations: int, dashboards: int, duration: float, rate: float, churn: float
) -> dict[str, object]:
    cap = -(-conversations // agents)
    hub = HubProcess(agents=agents, cap=cap)
    emails = await hub.seed()
    store = Store(hub.url_db)
    try:
        await store.add_agent(SUPERVISOR, "Boss", hash_password(PASSWORD), role="supervisor", cap=1)
    finally:
        await store.stop()
    hub.start()
    assert hub.proc is not None
    pid = hub.proc.pid
    tasks: list[asyncio.Task[None]] = []
    try:
        http = httpx.AsyncClient(
            base_url=hub.base, timeout=60, limits=httpx.Limits(max_connections=50)
        )
        cookies = await asyncio.gather(*[hub.login(http, e) for e in emails])
        boss = await hub.login(http, SUPERVISOR)

        async def open_ws(
            path: str, headers: dict[str, str], protos: list[str]
        ) -> ClientConnection:
            return await connect(
                f"ws://127.0.0.1:{hub.port}{path}",
                subprotocols=protos,  # type: ignore[arg-type]
                origin=hub.base,  # type: ignore[arg-type]
                additional_headers=headers,
                max_size=None,
            )

        for cookie in cookies:
            ws = await open_ws("/ws/agent", {"Cookie": f"livedesk_session={cookie}"}, PROTO)
            tasks.append(asyncio.create_task(drain(ws)))

        visitors: list[ClientConnection] = []

        async def session() -> str:
            # An idle pooled connection the hub's keep-alive timer just closed: try again.
            for attempt in range(3):
                try:
                    return (await http.post("/api/visitor/session", json={})).json()["token"]
                except httpx.TransportError:
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")

        async def visitor() -> None:
            token = await session()
            ws = await open_ws("/ws/visitor", {}, [*PROTO, f"livedesk.token.{token}"])
            await ws.send(json.dumps({"type": "send", "text": "hello", "client_msg_id": "m0"}))
            visitors.append(ws)
            tasks.append(asyncio.create_task(drain(ws)))

        for start in range(0, conversations, 100):
            await asyncio.gather(
                *[visitor() for _ in range(start, min(conversations, start + 100))]
            )
        await asyncio.sleep(3)  # let the last assignments settle

        stop = asyncio.Event()

        async def traffic() -> None:
            """Messages at ``rate``; ``churn`` chats a second close and open anew."""
            step = 0.05
            while not stop.is_set():
                for _ in range(max(1, round(rate * step))):
                    ws = random.choice(visitors)
                    frame = {"type": "send", "text": "more", "client_msg_id": uuid.uuid4().hex[:16]}
                    await ws.send(json.dumps(frame))
                if random.random() < churn * step:
                    ws = random.choice(visitors)
                    await ws.send(json.dumps({"type": "close"}))
                    frame = {
                        "type": "send",
                        "text": "again",
                        "client_msg_id": uuid.uuid4().hex[:16],
                    }
                    await ws.send(json.dumps(frame))
                await asyncio.sleep(step)

        load = asyncio.create_task(traffic())

        async def measure() -> tuple[float, float]:
            c0, t0 = cpu_seconds(pid), now()
            await asyncio.sleep(duration)
            return cpu_seconds(pid) - c0, now() - t0

        cpu_without, wall_without = await measure()

        counters = [{"bytes": 0, "frames": 0} for _ in range(dashboards)]
        for counter in counters:
            ws = await open_ws("/ws/supervisor", {"Cookie": f"livedesk_session={boss}"}, PROTO)
            tasks.append(asyncio.create_task(drain(ws, counter)))
        await asyncio.sleep(2)  # past the first, full frame
        first_bytes = [c["bytes"] for c in counters]
        first_frames = [c["frames"] for c in counters]
        cpu_with, wall_with = await measure()
        stop.set()
        await load

        per_bytes = [
            (c["bytes"] - b) / wall_with for c, b in zip(counters, first_bytes, strict=True)
        ]
        per_frames = [
            (c["frames"] - f) / wall_with for c, f in zip(counters, first_frames, strict=True)
        ]
        board = (await http.get("/api/desk/board", cookies={"livedesk_session": boss})).json()
        await http.aclose()
        share_without = cpu_without / wall_without
        share_with = cpu_with / wall_with
        return {
            "benchmark": "dashboard_fanout",
            "agents": agents,
            "conversations": conversations,
            "live_agents_on_board": len(board["agents"]),
            "load_on_board": sum(a["load"] for a in board["agents"]),
            "dashboards": dashboards,
            "messages_per_s": rate,
            "churn_per_s": churn,
            "seconds": duration,
            "hub_cpu_share_without": round(share_without, 4),
            "hub_cpu_share_with": round(share_with, 4),
            "hub_cpu_share_for_dashboards": round(share_with - share_without, 4),
            "bytes_per_s_per_dashboard": round(sum(per_bytes) / len(per_bytes)),
            "frames_per_s_per_dashboard": round(sum(per_frames) / len(per_frames), 2),
            "full_frame_bytes": len(json.dumps(board, separators=(",", ":"))),
        }
    finally:
        for task in tasks:
            task.cancel()
        hub.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--dashboards", type=int, default=20)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument(
        "--rate", type=float, default=50.0, help="visitor messages a second, all told"
    )
    parser.add_argument(
        "--churn", type=float, default=2.0, help="chats closed and reopened a second"
    )
    args = parser.parse_args()
    result = asyncio.run(
        run(args.agents, args.conversations, args.dashboards, args.duration, args.rate, args.churn)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
