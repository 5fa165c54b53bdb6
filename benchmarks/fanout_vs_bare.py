"""Fan-out: the hub next to a bare ``websockets`` broadcast server, same run, same clients.

The hub's shape: one conversation open in ``--sockets`` tabs of one visitor (every tab joins
the conversation's room); the agent writes ``--messages`` texts without waiting for acks;
each is stored, then fanned out to every tab. The bare server (``websockets.asyncio.server``
+ ``websockets.broadcast``, in its own process like the hub) relays each frame a sender
writes to the same number of sockets, with frames of the same size. Delivered messages/s =
sockets × messages / (first send → last frame received by the last socket). Prints one
JSON line with both rates and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import msgpack
from websockets.asyncio.client import connect

from benchmarks._hub import HubProcess, free_port, now, wait_for_port

PROTO = "livedesk.v1.msgpack"


async def bare_server(port: int) -> None:
    """Relay every frame from a sender to every other socket: the library's own fan-out."""
    from websockets import broadcast
    from websockets.asyncio.server import serve

    listeners: set = set()

    async def handler(ws) -> None:  # type: ignore[no-untyped-def]
        if ws.request.path == "/send":
            async for data in ws:
                broadcast(listeners, data)
            return
        listeners.add(ws)
        try:
            await ws.wait_closed()
        finally:
            listeners.discard(ws)

    async with serve(handler, "127.0.0.1", port, max_size=None, compression=None):
        await asyncio.Future()


async def collect(sockets: list, messages: int, is_hit) -> None:  # type: ignore[no-untyped-def]
    async def one(ws) -> None:  # type: ignore[no-untyped-def]
        got = 0
        while got < messages:
            if is_hit(await ws.recv()):
                got += 1

    await asyncio.gather(*(one(ws) for ws in sockets))


async def run_hub(sockets: int, messages: int, size: int) -> tuple[float, int]:
    hub = HubProcess(agents=1, cap=5)
    await hub.seed()
    hub.start()
    tabs = []
    try:
        async with httpx.AsyncClient(base_url=hub.base) as http:
            cookie = await hub.login(http, hub.emails()[0])
            token = (await http.post("/api/visitor/session", json={})).json()["token"]
        agent = await connect(
            f"{hub.ws_base}/ws/agent",
            subprotocols=[PROTO],  # type: ignore[list-item]
            origin=hub.base,  # type: ignore[arg-type]
            additional_headers={"Cookie": f"livedesk_session={cookie}"},
            max_size=None,
        )

        async def tab():  # type: ignore[no-untyped-def]
            ws = await connect(
                f"{hub.ws_base}/ws/visitor",
                subprotocols=[PROTO, f"livedesk.token.{token}"],  # type: ignore[list-item]
                origin=hub.base,  # type: ignore[arg-type]
                max_size=None,
                ping_interval=None,
            )
            msgpack.unpackb(await ws.recv())  # welcome
            return ws

        first = await tab()
        await first.send(msgpack.packb({"type": "send", "text": "hi", "client_msg_id": "hi"}))
        conv_id = None
        while conv_id is None:
            frame = msgpack.unpackb(await agent.recv())
            if frame["type"] == "assigned":
                conv_id = frame["conversation"]["conversation_id"]
        tabs = [first] + list(await asyncio.gather(*(tab() for _ in range(sockets - 1))))
        # Drain what the first tab got so far (its own message, the events, the bot).
        text = "x" * size

        def is_hit(data: bytes) -> bool:
            return b"agent" in data and b"xxxxxxxx" in data

        waiter = asyncio.create_task(collect(tabs, messages, is_hit))
        t0 = now()
        for i in range(messages):
            await agent.send(
                msgpack.packb(
                    {
                        "type": "send",
                        "conversation_id": conv_id,
                        "text": text,
                        "client_msg_id": f"m{i}-{uuid.uuid4().hex[:8]}",
                    }
                )
            )
        await asyncio.wait_for(waiter, 300)
        elapsed = now() - t0
        # The size of one hub frame, for the bare server to send the same.
        probe = msgpack.packb(
            {
                "type": "message",
                "conversation_id": conv_id,
                "seq": 10,
                "author": "agent",
                "author_name": "agent0",
                "author_id": "1",
                "text": text,
                "client_msg_id": "m1-abcdefgh",
                "ts": 1795370000000,
            }
        )
        await agent.close()
        return elapsed, len(probe)
    finally:
        await asyncio.gather(*(ws.close() for ws in tabs), return_exceptions=True)
        hub.cleanup()


async def run_bare(sockets: int, messages: int, frame_bytes: int) -> float:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--bare-server", str(port)])  # noqa: ASYNC220
    clients = []
    try:
        wait_for_port(port, 30, proc)
        base = f"ws://127.0.0.1:{port}"
        clients = list(
            await asyncio.gather(
                *(
                    connect(f"{base}/listen", max_size=None, ping_interval=None, compression=None)
                    for _ in range(sockets)
                )
            )
        )
        sender = await connect(f"{base}/send", max_size=None, compression=None)
        payload = b"\xff" + b"x" * (frame_bytes - 1)
        await asyncio.sleep(0.5)  # the server registers the last listeners
        waiter = asyncio.create_task(collect(clients, messages, lambda data: True))
        t0 = now()
        for _ in range(messages):
            await sender.send(payload)
        await asyncio.wait_for(waiter, 300)
        elapsed = now() - t0
        await sender.close()
        return elapsed
    finally:
        await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)
        proc.terminate()
        proc.wait(10)


async def run(sockets: int, messages: int, size: int) -> dict[str, object]:
    hub_s, frame_bytes = await run_hub(sockets, messages, size)
    bare_s = await run_bare(sockets, messages, frame_bytes)
    delivered = sockets * messages
    hub_rate = delivered / hub_s
    bare_rate = delivered / bare_s
    return {
        "benchmark": "fanout_vs_bare",
        "sockets": sockets,
        "messages": messages,
        "frame_bytes": frame_bytes,
        "delivered": delivered,
        "hub_delivered_per_s": round(hub_rate),
        "bare_delivered_per_s": round(bare_rate),
        "hub_s": round(hub_s, 2),
        "bare_s": round(bare_s, 2),
        "ratio": round(hub_rate / bare_rate, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--size", type=int, default=100, help="characters of text per message")
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        asyncio.run(bare_server(args.bare_server))
        return
    print(json.dumps(asyncio.run(run(args.sockets, args.messages, args.size))))


if __name__ == "__main__":
    main()
