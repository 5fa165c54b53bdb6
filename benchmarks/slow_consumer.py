"""Slow consumers (sockets that stop reading) against a real hub process: what they cost the
server, how soon they are dropped, and whether anyone else notices.

For the whole run, ``--pairs`` healthy conversations go on (each visitor writes ``--rate``
messages a second, an agent answers each at once) and ``--busy`` visitors (one per slow tab
by default) flood their own conversations with ``--text-chars`` messages at ``--flood-rate``
a second. Then:

* *before*: ``--phase`` seconds of only that;
* *slow*: ``--waves`` waves, ``--phase`` seconds apart (*between*), of ``--slow`` extra
  tabs of the busy visitors, each in its own conversation, arriving over ``--stagger``
  seconds. Each is a raw
  socket with a tiny receive buffer that reads its handshake byte by byte and then never
  reads again, so the bytes pile up in the kernel's buffers (the client's receive buffer,
  the server's send buffer), in uvicorn's transport buffer (websockets-sansio pauses
  ``send`` above its high-water mark) and in the hub's per-socket send queue. A wave ends
  when all its tabs have been dropped, or after ``--slow-max`` seconds. A second wave
  showing the same peak as the first is what "bounded" looks like: nothing kept, nothing
  growing with time;
* *after*: ``--phase`` seconds more of the healthy and busy traffic.

A slow tab counts as *dropped* when the hub has let go of its socket: the client sees a
reset, or ``ss`` shows the hub's end no longer ESTAB/CLOSE-WAIT (what the kernel still
holds for an orphaned socket is the kernel's). At the end every slow tab reads what is left
for it: a reset, or a close frame and its code.

Prints one JSON line, last: server RSS before, per wave (peak, growth per slow consumer,
at the wave's end) and after, an RSS series; the server-side kernel send queue held for a
slow socket; seconds from a slow tab's arrival to its drop; the healthy round trips' p50/p99 (and their
send→ack, one commit) before, during, between and after the waves, and the p99 ratio of
with slow tabs to without (before, between and after together); what the hub
logged (queue overflows, stalled sends, aborts); how late the hub answered a health check
and how late the benchmark's own loop woke (to tell the machine's noise from the hub's);
errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import statistics
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import msgpack
from websockets.asyncio.client import connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State
from websockets.typing import Subprotocol

from benchmarks._hub import HubProcess, now
from benchmarks.hub_roundtrip import Sequencer
from chatserver.core.settings import KNOBS
from tests.live import raw_visitor_socket

PROTO = "livedesk.v1.msgpack"
TCP_CLOSE = 7  # tcpi_state when the peer reset the connection


@dataclass
class Slow:
    """One tab that stopped reading."""

    sock: socket.socket
    proto: ClientProtocol
    port: int
    opened: float
    dropped: float | None = None
    how: str = ""  # "released" (the hub let go of the socket) or "reset" (RST seen)
    queued_max: int = 0  # the most the server's kernel send queue held for it
    wave: int = 0


@dataclass
class Run:
    phase: str = "setup"
    latencies: dict[str, list[float]] = field(
        default_factory=lambda: {"before": [], "slow": [], "between": [], "after": []}
    )
    wave: int = -1
    ack_ms: dict[str, list[float]] = field(default_factory=dict)  # send → ack: one commit
    t0: float = field(default_factory=now)
    timeline: list[tuple[float, float]] = field(default_factory=list)
    rss: list[tuple[float, str, int, float]] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    own_lag_ms: dict[str, float] = field(default_factory=dict)
    health_ms: dict[str, float] = field(default_factory=dict)
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


@contextlib.contextmanager
def closed_is_error(r: Run, who: str) -> Iterator[None]:
    """A healthy socket the hub closed is an error of the run, not a crash of the script."""
    try:
        yield
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        r.error(f"{who}_closed:{code}")
        print(f"{who} closed in phase {r.phase}: {exc}", file=sys.stderr)


# ---------------------------------------------------------------------------- the slow tab


async def open_slow(hub: HubProcess, token: str, rcvbuf: int) -> Slow:
    loop = asyncio.get_running_loop()
    sock, proto = await raw_visitor_socket(hub.port, hub.ws_base, hub.base, token, rcvbuf)
    head = b""
    while not head.endswith(b"\r\n\r\n"):  # the handshake only, not one byte of a frame
        byte = await asyncio.wait_for(loop.sock_recv(sock, 1), 30)
        if not byte or len(head) > 16_384:
            raise ConnectionError("no websocket handshake")
        head += byte
    proto.receive_data(head)
    if proto.state is not State.OPEN:
        raise ConnectionError(f"handshake refused: {head[:60]!r}")
    return Slow(sock, proto, sock.getsockname()[1], now())


async def drain(sock: socket.socket) -> None:
    """``--control``: the tab reads (and throws away) everything, as a healthy one would."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(OSError):
        while await loop.sock_recv(sock, 1 << 16):
            pass


def tcp_state(sock: socket.socket) -> int:
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
    except OSError:
        return TCP_CLOSE


async def read_leftovers(slow: Slow, limit_s: float) -> str:
    """Finally read what was left for a slow tab: did the hub say 4000 before letting go?"""
    loop = asyncio.get_running_loop()
    deadline = now() + limit_s
    while now() < deadline:
        try:
            data = await asyncio.wait_for(loop.sock_recv(slow.sock, 1 << 20), deadline - now())
        except TimeoutError:
            return "still_open"
        except ConnectionResetError:
            return "reset"
        if not data:
            slow.proto.receive_eof()
        else:
            slow.proto.receive_data(data)
        for event in slow.proto.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
                close = Close.parse(event.data) if event.data else None
                return f"close_{close.code}" if close else "close_none"
        slow.proto.data_to_send()  # answers to pings we will never send: discard
        if not data:
            return "eof_without_close"
    return "still_open"


# ---------------------------------------------------------------------------- the hub's side


SS_LINE = re.compile(r"^(\S+)\s.*:(\d+)\s+\S+:(\d+)\s*$")
SKMEM_W = re.compile(r"skmem:\(.*?,w(\d+),")
HELD = ("ESTAB", "CLOSE-WAIT")  # the hub has not closed its end (nor has the kernel)


async def server_sockets(port: int) -> dict[int, tuple[bool, int]]:
    """The hub's accepted sockets by peer port, from ``ss``: (the hub still holds it open,
    bytes in its kernel send queue). Once the hub closes a socket it is gone (a reset) or
    an orphan in FIN-WAIT (the kernel's, no longer the hub's)."""
    proc = await asyncio.create_subprocess_exec(
        "ss",
        "-Htnm",
        "state",
        "all",
        "sport",
        "=",
        f":{port}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await proc.communicate()
    found: dict[int, tuple[bool, int]] = {}
    peer: int | None = None
    held = False
    for line in out.decode().splitlines():
        if not line.startswith((" ", "\t")):
            m = SS_LINE.match(line.strip())
            peer = int(m.group(3)) if m else None
            held = bool(m and m.group(1) in HELD)
            continue
        w = SKMEM_W.search(line)
        if peer is not None:
            found[peer] = (held, int(w.group(1)) if w else 0)
    return found


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


# ---------------------------------------------------------------------------- the benchmark


async def run(args: argparse.Namespace) -> dict[str, Any]:
    env = {}
    if args.queue:
        env["LIVEDESK_SEND_QUEUE_FRAMES"] = str(args.queue)
    if args.queue_bytes:
        env["LIVEDESK_SEND_QUEUE_BYTES"] = str(args.queue_bytes)
    agents = -(-(args.pairs + args.busy) // args.cap) + 1
    hub = HubProcess(agents=agents, cap=args.cap, **env)
    hub_log = Path(hub.dir) / "hub.log"
    hub.stderr = hub_log.open("wb")  # the hub's warnings say why each socket was dropped
    emails = await hub.seed()
    hub.start()
    assert hub.pid is not None
    pid = hub.pid
    r = Run()
    slows: list[Slow] = []
    tasks: list[asyncio.Task[Any]] = []
    traffic: list[asyncio.Task[Any]] = []
    leftovers: list[str] = []
    marks: dict[str, float] = {}
    rss_at: dict[str, float] = {}
    ws_kw: dict[str, Any] = {"origin": hub.base, "max_size": None, "open_timeout": 60}
    try:
        http = httpx.AsyncClient(base_url=hub.base, timeout=60)
        cookies = await asyncio.gather(*[hub.login(http, e) for e in emails])

        async def agent(cookie: str, ready: asyncio.Event) -> None:
            async with connect(
                f"{hub.ws_base}/ws/agent",
                subprotocols=[Subprotocol(PROTO)],
                additional_headers={"Cookie": f"livedesk_session={cookie}"},
                **ws_kw,
            ) as ws:
                ready.set()
                ordered = Sequencer(ws)
                answered: set[str] = set()
                async for data in ws:
                    frame = msgpack.unpackb(data)
                    if frame["type"] == "assigned":
                        await ordered.resume(frame["conversation"]["conversation_id"])
                        continue
                    if frame["type"] == "error":
                        r.error(f"agent:{frame.get('code')}")
                    for item in await ordered.accept(frame):
                        if item["type"] != "message" or item["author"] != "visitor":
                            continue
                        text, conv_id = item.get("text") or "", item["conversation_id"]
                        # Healthy messages are answered at once; a flood once (else the
                        # router's first-reply timeout would hand it to another agent).
                        if text.startswith("v") or conv_id not in answered:
                            answered.add(conv_id)
                            reply = {
                                "type": "send",
                                "conversation_id": conv_id,
                                "text": "re:" + text[:40],
                                "client_msg_id": uuid.uuid4().hex,
                            }
                            await ws.send(msgpack.packb(reply))

        async def visitor_token() -> str:
            return str((await http.post("/api/visitor/session", json={})).json()["token"])

        async def healthy(i: int) -> None:
            await asyncio.sleep(i * args.ramp / max(1, args.pairs))  # arrive over the ramp
            token = await visitor_token()
            async with connect(
                f"{hub.ws_base}/ws/visitor",
                subprotocols=[Subprotocol(PROTO), Subprotocol(f"livedesk.token.{token}")],
                **ws_kw,
            ) as ws:
                sent_at: dict[str, tuple[float, str]] = {}
                acks_at: dict[str, tuple[float, str]] = {}

                async def read() -> None:
                    with closed_is_error(r, "healthy"):
                        async for data in ws:
                            frame = msgpack.unpackb(data)
                            if frame["type"] == "error":
                                r.error(f"visitor:{frame.get('code')}")
                            if frame["type"] == "ack":
                                asked = acks_at.pop(frame["client_msg_id"], None)
                                if asked is not None and asked[1] in r.latencies:
                                    r.ack_ms.setdefault(asked[1], []).append(
                                        (now() - asked[0]) * 1000
                                    )
                            if frame["type"] == "message" and frame["author"] == "agent":
                                started = sent_at.pop(frame["text"][3:], None)
                                if started is not None and started[1] in r.latencies:
                                    ms = (now() - started[0]) * 1000
                                    r.latencies[started[1]].append(ms)
                                    r.timeline.append((now(), ms))

                reader = asyncio.create_task(read())
                interval = 1.0 / args.rate
                await asyncio.sleep((i % 97) / 97 * interval)  # phase-shifted, not in bursts
                n = 0
                while not r.stop.is_set():
                    n += 1
                    text = f"v{i}-m{n}"
                    sent_at[text] = (now(), r.phase)
                    frame = {"type": "send", "text": text, "client_msg_id": uuid.uuid4().hex}
                    acks_at[frame["client_msg_id"]] = sent_at[text]
                    await ws.send(msgpack.packb(frame))
                    await asyncio.sleep(interval)
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

        busy_tokens: list[str] = []

        async def busy(i: int, started: asyncio.Event) -> None:
            token = await visitor_token()
            body = args.flood_char * (args.text_chars - 24)
            async with connect(
                f"{hub.ws_base}/ws/visitor",
                subprotocols=[Subprotocol(PROTO), Subprotocol(f"livedesk.token.{token}")],
                **ws_kw,
            ) as ws:

                async def read() -> None:
                    with closed_is_error(r, "busy"):
                        async for data in ws:  # a healthy tab of a busy visitor: reads all
                            frame = msgpack.unpackb(data)
                            if frame["type"] == "ack":
                                acks[0] += 1
                                acked.set()
                                if not started.is_set():
                                    busy_tokens.append(token)
                                    started.set()
                            if frame["type"] == "error":
                                r.error(f"busy:{frame.get('code')}")

                acked = asyncio.Event()
                acks = [0]
                reader = asyncio.create_task(read())
                interval = 1.0 / args.flood_rate
                n = 0
                while not r.stop.is_set():
                    n += 1
                    frame = {
                        "type": "send",
                        "text": f"F{i}-{n:010d} {body}",
                        "client_msg_id": uuid.uuid4().hex,
                    }
                    await ws.send(msgpack.packb(frame))
                    while n - acks[0] > 10:  # never far past what the hub takes in
                        acked.clear()
                        await asyncio.wait_for(acked.wait(), 30)
                    await asyncio.sleep(interval)
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

        async def sample() -> None:
            """RSS and the hub's open files every quarter second; how late our own loop
            wakes (so a stall of the benchmark is not blamed on the hub)."""
            while not r.stop.is_set():
                r.rss.append((now() - r.t0, r.phase, r.wave, hub.rss_mb()))
                r.fds.append(fd_count(pid))
                asleep = now()
                await asyncio.sleep(0.25)
                late = (now() - asleep - 0.25) * 1000
                r.own_lag_ms[r.phase] = max(r.own_lag_ms.get(r.phase, 0.0), late)

        async def probe() -> None:
            """The hub's responsiveness: an HTTP health check twice a second."""
            async with httpx.AsyncClient(base_url=hub.base, timeout=60) as probe_http:
                while not r.stop.is_set():
                    asked = now()
                    await probe_http.get("/healthz")
                    ms = (now() - asked) * 1000
                    r.health_ms[r.phase] = max(r.health_ms.get(r.phase, 0.0), ms)
                    await asyncio.sleep(0.5)

        async def watch_slow() -> None:
            """When did the hub let go of each slow tab (or reset it)?"""
            while not r.stop.is_set():
                held = await server_sockets(hub.port)
                t = now()
                for s in slows:
                    if s.dropped is not None:
                        continue
                    owned, queued = held.get(s.port, (False, 0))
                    s.queued_max = max(s.queued_max, queued)
                    if tcp_state(s.sock) == TCP_CLOSE:
                        s.dropped, s.how = t, "reset"
                    elif not owned:
                        s.dropped, s.how = t, "released"
                await asyncio.sleep(0.5)

        readies = [asyncio.Event() for _ in cookies]
        tasks += [asyncio.create_task(agent(c, e)) for c, e in zip(cookies, readies, strict=True)]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in readies)), 60)
        starts = [asyncio.Event() for _ in range(args.busy)]
        traffic = [asyncio.create_task(busy(i, e)) for i, e in enumerate(starts)]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in starts)), 60)
        traffic += [asyncio.create_task(healthy(i)) for i in range(args.pairs)]
        tasks += [asyncio.create_task(f()) for f in (sample, watch_slow, probe)]
        await asyncio.sleep(args.ramp + args.warmup)

        r.phase = "before"
        marks["before"] = now()
        await asyncio.sleep(args.phase)
        rss_at["before"] = hub.rss_mb()

        r.phase = "slow"
        marks["slow"] = now()
        for wave in range(args.waves):
            if wave:  # a rest without slow tabs, between waves, to compare with
                r.phase = "between"
                await asyncio.sleep(args.phase)
                r.phase = "slow"
            r.wave = wave
            opened = len(slows)
            for k in range(args.slow):  # each into its own busy conversation
                try:
                    token = busy_tokens[k % len(busy_tokens)]
                    slow = await open_slow(hub, token, args.rcvbuf)
                    slow.wave = wave
                    slows.append(slow)
                    if args.control:  # the same tab, reading: what a wave costs anyway
                        tasks.append(asyncio.create_task(drain(slow.sock)))
                except (OSError, TimeoutError) as exc:
                    r.error(f"slow_open:{type(exc).__name__}")
                await asyncio.sleep(args.stagger / max(1, args.slow))
            deadline = now() + args.slow_max
            this = slows[opened:]
            while now() < deadline and any(s.dropped is None for s in this):  # noqa: ASYNC110
                await asyncio.sleep(0.25)  # the benchmark's own clock: poll for the drops
            rss_at[f"wave{wave}_end"] = hub.rss_mb()
            print(
                f"wave {wave}: {sum(s.dropped is not None for s in this)}/{len(this)} dropped,"
                f" rss {hub.rss_mb():.0f} MB",
                file=sys.stderr,
            )

        r.phase = "after"
        marks["after"] = now()
        await asyncio.sleep(args.phase)
        rss_at["after"] = hub.rss_mb()
        fds_after = fd_count(pid)
        marks["end"] = now()
        r.stop.set()
        r.phase = "end"
        # Visitors finish their last send and close; then the rest is cancelled.
        await asyncio.wait(traffic, timeout=30)
        await http.aclose()
        if not args.control:
            leftovers = list(
                await asyncio.gather(*(read_leftovers(s, args.leftover_s) for s in slows))
            )
        for task in tasks + traffic:
            task.cancel()
        results = await asyncio.gather(*tasks, *traffic, return_exceptions=True)
        for res in results:
            if isinstance(res, Exception) and not isinstance(res, asyncio.CancelledError):
                r.error(f"task:{type(res).__name__}")
    finally:
        for s in slows:
            s.sock.close()
        hub.stop()
        hub.stderr.close()
        logged = hub_log.read_text(errors="replace")
        worst = [ln for ln in logged.splitlines() if "ERROR" in ln or "Error" in ln]
        print("\n".join(worst[:20]), file=sys.stderr)
        hub.cleanup()

    def pct(values: list[float], q: int) -> float | None:
        if len(values) < 2:
            return None
        return round(statistics.quantiles(sorted(values), n=100)[q - 1], 2)

    before_rss = rss_at["before"]
    p99 = {k: pct(v, 99) for k, v in r.latencies.items()}
    without = [ms for k in ("before", "between", "after") for ms in r.latencies[k]]
    without_p99 = pct(without, 99)
    p50 = {k: pct(v, 50) for k, v in r.latencies.items()}
    counted: dict[str, int] = {}
    for what in leftovers:
        counted[what] = counted.get(what, 0) + 1
    waves = []
    for wave in range(args.waves):
        these = [s for s in slows if s.wave == wave]
        drop_s = [round(s.dropped - s.opened, 2) for s in these if s.dropped is not None]
        rss = [mb for _, phase, w, mb in r.rss if phase == "slow" and w == wave]
        top = max(rss, default=float("nan"))
        waves.append(
            {
                "slow": len(these),
                "dropped": len(drop_s),
                "drop_s_p50": round(statistics.median(drop_s), 1) if drop_s else None,
                "drop_s_max": max(drop_s) if drop_s else None,
                "rss_max_mb": round(top, 1),
                "rss_growth_per_slow_mb": round((top - before_rss) / max(1, len(these)), 2),
                "rss_end_mb": round(rss_at[f"wave{wave}_end"], 1),
            }
        )
    series = [(round(t), round(mb)) for t, _, _, mb in r.rss[:: max(1, len(r.rss) // 40)]]
    buckets: dict[int, list[float]] = {}
    for t, ms in r.timeline:
        buckets.setdefault(int((t - r.t0) // 5) * 5, []).append(ms)
    p99_series = [(t, pct(v, 99) or round(max(v))) for t, v in sorted(buckets.items())]
    marks_s = {k: round(v - r.t0) for k, v in marks.items()}
    marks_s.update({f"drop{i}": round(s.dropped - r.t0) for i, s in enumerate(slows) if s.dropped})
    return {
        "benchmark": "slow_consumer",
        "pairs": args.pairs,
        "rate": args.rate,
        "busy": args.busy,
        "flood_rate": args.flood_rate,
        "text_chars": args.text_chars,
        "frame_kb": round(len(args.flood_char.encode()) * args.text_chars / 1024, 1),
        "send_queue_frames": args.queue or KNOBS["send_queue_frames"].default,
        "send_queue_bytes": args.queue_bytes or KNOBS["send_queue_bytes"].default,
        "slow_per_wave": args.slow,
        "slow_rcvbuf": args.rcvbuf,
        "control": args.control,
        "rss_before_mb": round(before_rss, 1),
        "waves": waves,
        "rss_after_mb": round(rss_at["after"], 1),
        "rss_series_s_mb": series,
        "healthy_p99_series_s_ms": p99_series,
        "marks_s": marks_s,
        "kernel_sendq_max_kb_per_slow": round(
            max((s.queued_max for s in slows), default=0) / 1024, 1
        ),
        "drop_how": sorted({s.how for s in slows if s.how}),
        "slow_phase_s": round(marks["after"] - marks["slow"], 1),
        "slow_read_at_end": counted,
        "hub_fds_max": max(r.fds, default=-1),
        "hub_fds_after": fds_after,
        "healthy_p50_ms": p50,
        "healthy_p99_ms": p99,
        "healthy_roundtrips": {k: len(v) for k, v in r.latencies.items()},
        "healthy_ack_p99_ms": {k: pct(v, 99) for k, v in r.ack_ms.items()},
        "p99_ratio_slow_vs_without": (
            round(p99["slow"] / without_p99, 2) if p99["slow"] and without_p99 else None
        ),
        "hub_said": {
            "queue_full": logged.count("slow consumer dropped (visitor): send queue full"),
            "queue_bytes_full": logged.count(
                "slow consumer dropped (visitor): send queue over its bytes"
            ),
            "send_stalled": logged.count("slow consumer dropped (visitor): a send waited"),
            "aborted": logged.count("socket aborted"),
        },
        "hub_healthz_max_ms": {k: round(v, 1) for k, v in r.health_ms.items()},
        "bench_loop_lag_max_ms": {k: round(v, 1) for k, v in r.own_lag_ms.items()},
        "errors": r.errors,
        "error_kinds": r.error_kinds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=20, help="healthy conversations")
    parser.add_argument("--rate", type=float, default=1.0, help="messages/s per healthy visitor")
    parser.add_argument(
        "--busy", type=int, default=0, help="flooded conversations (0: one per slow tab)"
    )
    parser.add_argument("--flood-rate", type=float, default=15.0, help="messages/s each")
    parser.add_argument("--text-chars", type=int, default=3900)
    parser.add_argument(
        "--flood-char",
        default="\N{GRINNING FACE}",
        help="what floods are made of (default: 4 bytes a char, the largest frame allowed)",
    )
    parser.add_argument("--slow", type=int, default=3, help="slow consumers a wave")
    parser.add_argument(
        "--waves", type=int, default=2, help="waves of slow consumers, each after the last"
    )
    parser.add_argument("--rcvbuf", type=int, default=4096, help="a slow tab's SO_RCVBUF")
    parser.add_argument("--queue", type=int, default=0, help="send queue frames (0: default)")
    parser.add_argument("--queue-bytes", type=int, default=0, help="send queue bytes (0: default)")
    parser.add_argument(
        "--cap",
        type=int,
        default=2,
        help="conversations an agent holds; few, so that no agent's own sends (handled one at"
        " a time, each waiting for its commit) are what the round trips measure",
    )
    parser.add_argument("--ramp", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument(
        "--phase", type=float, default=10.0, help="seconds before, between and after waves"
    )
    parser.add_argument("--stagger", type=float, default=4.0, help="slow tabs arrive over this")
    parser.add_argument(
        "--slow-max", type=float, default=90.0, help="longest wait for a wave's drops"
    )
    parser.add_argument("--leftover-s", type=float, default=10.0)
    parser.add_argument(
        "--control",
        action="store_true",
        help="the extra tabs read everything (a control run: set --slow-max to the real"
        " run's wave length)",
    )
    args = parser.parse_args()
    args.busy = args.busy or args.slow
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
