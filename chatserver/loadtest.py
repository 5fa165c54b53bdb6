"""``livedesk loadtest``: simulated visitors and agents over real websockets (msgpack).

Without ``--url`` it starts a hub process of its own (``livedesk serve``) on a temporary
SQLite database with seeded agents, and drives that; with ``--url`` it drives any running
hub (agent credentials by option).

Visitors arrive at ``--visitors-per-s``; each writes up to ``--messages`` texts (one every
``--think-ms``, jittered), waits for the agent's answers, checks its conversation against the
store with a ``resume`` from 0, and closes. Agents answer every visitor text. The checks are
exact, per conversation and per receiving side, by ``seq``:

* **lost**: an acknowledged text that the other side never received (the agent assigned to
  the conversation, or the visitor), or that the final resume does not return;
* **duplicated**: one ``client_msg_id`` stored under two ``seq``, or a ``seq`` delivered twice
  outside a resume replay (replays may overlap live frames; the protocol says to ignore them);
* **cap violations**: an agent holding more conversations than its cap
  (``assigned`` minus ``unassigned`` minus ``closed``).

A progress line goes to stderr; the report ends with ONE JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROTO = "livedesk.v1.msgpack"
PASSWORD = "bench-password"
EMAIL_PATTERN = "agent{i}@bench.livedesk"


def now() -> float:
    return time.perf_counter()


def rss_mb(pid: int) -> float:
    """Resident memory of a local process, in MB (from /proc)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"hub process exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)  # polling a port of another process: nothing to wait on
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class HubProcess:
    """``livedesk serve`` in its own process, on a temporary SQLite file (or ``db_dir``).

    ``kill()`` is kill -9; ``start()`` again restarts it on the same database and port.
    """

    def __init__(
        self,
        agents: int,
        cap: int = 5,
        *,
        port: int | None = None,
        db_dir: str | None = None,
        stderr: Any = None,
        **env: str,
    ) -> None:
        self.own_dir = db_dir is None
        self.dir = db_dir or tempfile.mkdtemp(prefix="livedesk-hub-")
        self.url_db = f"sqlite:///{self.dir}/hub.db"
        self.port = port or free_port()
        self.agents = agents
        self.cap = cap
        self.stderr = stderr
        self.env = {
            **os.environ,
            "LIVEDESK_DATABASE_URL": self.url_db,
            "LIVEDESK_SECRET_KEY": "loadtest-secret",
            "LIVEDESK_RATE_LIMIT_PER_S": "100000",
            "LIVEDESK_RATE_LIMIT_BURST": "100000",
            "LIVEDESK_LOG_LEVEL": "warning",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def emails(self) -> list[str]:
        return [EMAIL_PATTERN.format(i=i) for i in range(self.agents)]

    async def seed(self) -> list[str]:
        from chatserver.auth import hash_password
        from chatserver.db import upgrade
        from chatserver.store import Store

        await asyncio.to_thread(upgrade, self.url_db)
        store = Store(self.url_db)
        hashed = hash_password(PASSWORD)  # one hash for all: seeding is not what we measure
        try:
            for email in self.emails():
                await store.add_agent(email, email.split("@")[0], hashed, cap=self.cap)
        finally:
            await store.stop()
        return self.emails()

    def start(self, timeout: float = 30) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chatserver.cli", "serve", "--port", str(self.port)],
            env=self.env,
            stderr=self.stderr,
        )
        wait_for_port(self.port, timeout, self.proc)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid) if self.proc is not None else float("nan")

    def kill(self) -> None:
        """kill -9: no shutdown, no flush, no goodbye to the sockets."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(15)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)
            self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    async def login(self, http: Any, email: str, password: str = PASSWORD) -> str:
        r = await http.post("/login", json={"email": email, "password": password})
        r.raise_for_status()
        return str(r.cookies["livedesk_session"])


# ---------------------------------------------------------------------------- bookkeeping


@dataclass
class Config:
    url: str | None = None
    duration: float = 10.0
    visitors_per_s: float = 5.0
    messages: int = 5
    message_rate: float = 2.0  # texts a second per visitor, at most
    think_ms: float = 0.0  # extra think time between texts (mean of an exponential)
    agents: int = 4
    cap: int = 5
    agent_email_pattern: str = EMAIL_PATTERN
    agent_password: str = PASSWORD
    max_visitors: int = 5000
    drain_s: float = 10.0
    server_pid: int | None = None
    progress: bool = True


@dataclass
class Stats:
    visitors: int = 0
    conversations: int = 0
    assigned: int = 0
    closed: int = 0
    sent: int = 0
    acked: int = 0
    delivered: int = 0
    gaps: int = 0
    lost: int = 0
    duplicated: int = 0
    mismatched: int = 0
    cap_violations: int = 0
    max_held: int = 0
    latencies: list[float] = field(default_factory=list)
    queue_waits: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


class Stream:
    """What one receiving side has seen of one conversation, by seq."""

    __slots__ = ("seqs", "by_msg", "contiguous", "stats")

    def __init__(self, stats: Stats) -> None:
        self.seqs: dict[int, tuple[str | None, str | None]] = {}
        self.by_msg: dict[tuple[str | None, str], int] = {}
        self.contiguous = 0
        self.stats = stats

    def take(self, frame: dict[str, Any], replay: bool) -> bool:
        """Record a sequenced frame; True when it is new to this side."""
        seq = frame["seq"]
        key = (frame.get("author"), frame.get("client_msg_id"))
        if seq in self.seqs:
            if self.seqs[seq] != key:
                self.stats.mismatched += 1  # two different items under one seq
            elif not replay:
                self.stats.duplicated += 1  # a live frame delivered twice
            return False
        if key[1] is not None:
            first = self.by_msg.setdefault((key[0], key[1]), seq)
            if first != seq:
                self.stats.duplicated += 1  # one client message stored twice
        self.seqs[seq] = key
        while self.contiguous + 1 in self.seqs:
            self.contiguous += 1
        return True

    def gap(self) -> bool:
        return bool(self.seqs) and max(self.seqs) > self.contiguous


def _pct(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 2)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 2)


class LoadTest:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.stats = Stats()
        self.stop = asyncio.Event()
        # (conversation, seq) -> (author, client_msg_id) of every acknowledged text
        self.acked: dict[tuple[str, int], tuple[str, str]] = {}
        self.sent_at: dict[str, float] = {}  # client_msg_id -> when it was sent
        self.agent_of: dict[str, int] = {}  # conversation -> index of the agent it went to
        self.agent_streams: list[dict[str, Stream]] = []
        self.visitor_streams: dict[str, Stream] = {}
        self.hub: HubProcess | None = None
        self.agent_news = asyncio.Event()  # an agent received something
        self.http_base = ""
        self.ws_base = ""
        self.deadline: float | None = None

    # ------------------------------------------------------------------ plumbing

    def _pack(self, frame: dict[str, Any]) -> bytes:
        import msgpack

        return msgpack.packb(frame, use_bin_type=True)

    def _unpack(self, data: bytes | str) -> dict[str, Any]:
        import msgpack

        obj = msgpack.unpackb(data, raw=False)
        return obj if isinstance(obj, dict) else {}

    def _connect(self, path: str, *, subprotocols: list[str], headers: dict[str, str]) -> Any:
        from websockets.asyncio.client import connect

        assert self.ws_base is not None
        return connect(
            f"{self.ws_base}{path}",
            subprotocols=subprotocols,  # type: ignore[arg-type]
            origin=self.http_base,  # type: ignore[arg-type]
            additional_headers=headers,
            max_size=None,
            open_timeout=30,
        )

    def _fail(self, where: str, exc: BaseException) -> None:
        self.stats.errors["exception"] += 1
        if len(self.stats.failures) < 5:
            self.stats.failures.append(f"{where}: {exc!r}")

    # ------------------------------------------------------------------ agents

    async def agent(self, idx: int, cookie: str, ready: asyncio.Event) -> None:
        streams = self.agent_streams[idx]
        held: set[str] = set()
        closed: set[str] = set()
        resuming: set[str] = set()
        headers = {"Cookie": f"livedesk_session={cookie}"}
        try:
            async with self._connect("/ws/agent", subprotocols=[PROTO], headers=headers) as ws:
                async for data in ws:
                    f = self._unpack(data)
                    kind = f.get("type")
                    self.agent_news.set()
                    if kind == "welcome":
                        held.update(c["conversation_id"] for c in f.get("conversations", []))
                        ready.set()
                    elif kind == "assigned":
                        conv = f["conversation"]["conversation_id"]
                        held.add(conv)
                        self.agent_of[conv] = idx
                        self.stats.assigned += 1
                        self.stats.max_held = max(self.stats.max_held, len(held))
                        if len(held) > self.cfg.cap:
                            self.stats.cap_violations += 1
                        stream = streams.setdefault(conv, Stream(self.stats))
                        resuming.add(conv)
                        await ws.send(
                            self._pack(
                                {
                                    "type": "resume",
                                    "conversation_id": conv,
                                    "after_seq": stream.contiguous,
                                }
                            )
                        )
                    elif kind == "unassigned":
                        held.discard(f["conversation_id"])
                    elif kind == "resumed":
                        resuming.discard(f["conversation"]["conversation_id"])
                    elif kind in ("message", "event"):
                        conv = f["conversation_id"]
                        stream = streams.setdefault(conv, Stream(self.stats))
                        replay = conv in resuming
                        fresh = stream.take(f, replay)
                        if kind == "event" and f.get("event") == "closed":
                            held.discard(conv)
                            closed.add(conv)
                        if stream.gap() and not resuming.intersection((conv,)):
                            self.stats.gaps += 1
                            resuming.add(conv)
                            await ws.send(
                                self._pack(
                                    {
                                        "type": "resume",
                                        "conversation_id": conv,
                                        "after_seq": stream.contiguous,
                                    }
                                )
                            )
                        if fresh and kind == "message" and f.get("author") == "visitor":
                            cmid = f.get("client_msg_id") or ""
                            self.stats.delivered += 1
                            started = self.sent_at.get(cmid)
                            if not replay and started is not None:
                                self.stats.latencies.append((now() - started) * 1000)
                            if conv not in closed and conv in held:
                                reply_id = f"r-{cmid}"[:64]
                                self.sent_at[reply_id] = now()
                                await ws.send(
                                    self._pack(
                                        {
                                            "type": "send",
                                            "conversation_id": conv,
                                            "text": f"re: {f.get('text', '')}"[:200],
                                            "client_msg_id": reply_id,
                                        }
                                    )
                                )
                    elif kind == "ack":
                        self.stats.acked += 1
                        self.acked[(f["conversation_id"], f["seq"])] = (
                            "agent",
                            f["client_msg_id"],
                        )
                    elif kind == "error":
                        self.stats.errors[str(f.get("code"))] += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self.stop.is_set():
                self._fail(f"agent {idx}", exc)
        finally:
            ready.set()

    # ------------------------------------------------------------------ visitors

    async def visitor(self, i: int, http: Any) -> None:
        cfg = self.cfg
        stats = self.stats
        stats.visitors += 1
        r = await http.post("/api/visitor/session", json={"name": f"Visitor {i}"})
        r.raise_for_status()
        token = r.json()["token"]
        conv: str | None = None
        stream = Stream(stats)
        acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        replies = 0
        replied = asyncio.Event()
        mine = 0
        resumed = asyncio.Event()
        closed = asyncio.Event()
        resuming = False
        first_sent: float | None = None
        protocols = [PROTO, f"livedesk.token.{token}"]
        async with self._connect("/ws/visitor", subprotocols=protocols, headers={}) as ws:

            async def read() -> None:
                nonlocal conv, replies, resuming, first_sent
                async for data in ws:
                    f = self._unpack(data)
                    kind = f.get("type")
                    if kind == "ack":
                        fut = acks.get(f["client_msg_id"])
                        if fut is not None and not fut.done():
                            fut.set_result(f)
                    elif kind in ("message", "event"):
                        if conv is None:
                            conv = f["conversation_id"]
                        if f["conversation_id"] != conv:
                            continue
                        fresh = stream.take(f, resuming)
                        if kind == "event" and f.get("event") == "assigned" and fresh:
                            if first_sent is not None:
                                stats.queue_waits.append((now() - first_sent) * 1000)
                        elif kind == "event" and f.get("event") == "closed":
                            closed.set()
                        elif fresh and kind == "message" and f.get("author") == "agent":
                            replies += 1
                            stats.delivered += 1
                            started = self.sent_at.get(f.get("client_msg_id") or "")
                            if not resuming and started is not None:
                                stats.latencies.append((now() - started) * 1000)
                            if replies >= mine:
                                replied.set()
                        if stream.gap() and not resuming:
                            stats.gaps += 1
                            resuming = True
                            resumed.clear()
                            await ws.send(
                                self._pack(
                                    {
                                        "type": "resume",
                                        "conversation_id": conv,
                                        "after_seq": stream.contiguous,
                                    }
                                )
                            )
                    elif kind == "resumed":
                        resuming = False
                        resumed.set()
                    elif kind == "error":
                        stats.errors[str(f.get("code"))] += 1
                        fut = acks.get(f.get("ref") or "")
                        if fut is not None and not fut.done():
                            fut.set_result(f)

            reader = asyncio.create_task(read())
            try:
                interval = 1.0 / cfg.message_rate if cfg.message_rate > 0 else 0.0
                for n in range(cfg.messages):
                    if self.stop.is_set():
                        break
                    cmid = uuid.uuid4().hex
                    fut = asyncio.get_running_loop().create_future()
                    acks[cmid] = fut
                    self.sent_at[cmid] = now()
                    if first_sent is None:
                        first_sent = self.sent_at[cmid]
                    stats.sent += 1
                    await ws.send(
                        self._pack({"type": "send", "text": f"v{i} m{n}", "client_msg_id": cmid})
                    )
                    ack = await asyncio.wait_for(fut, 30)
                    if ack.get("type") != "ack":
                        continue
                    if mine == 0:
                        stats.conversations += 1  # the first acked text opened it
                    conv = conv or ack["conversation_id"]
                    self.acked[(ack["conversation_id"], ack["seq"])] = ("visitor", cmid)
                    stats.acked += 1
                    mine += 1
                    if replies >= mine:
                        replied.set()
                    else:
                        replied.clear()
                    pause = interval + (
                        random.expovariate(1000 / cfg.think_ms) if cfg.think_ms else 0
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), pause)
                if conv is None:
                    return
                # Wait for the agent's answers (while the run lasts, then a drain period).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._until(replied), self._remaining())
                # The store's word: everything from seq 1, checked against what we saw.
                resuming = True
                resumed.clear()
                await ws.send(
                    self._pack({"type": "resume", "conversation_id": conv, "after_seq": 0})
                )
                await asyncio.wait_for(resumed.wait(), 30)
                self.visitor_streams[conv] = stream
                await ws.send(self._pack({"type": "close", "conversation_id": conv}))
                await asyncio.wait_for(closed.wait(), 30)
                stats.closed += 1
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader

    async def _until(self, event: asyncio.Event) -> None:
        await event.wait()

    def _remaining(self) -> float:
        assert self.deadline is not None
        return max(0.1, self.deadline + self.cfg.drain_s - now())

    # ------------------------------------------------------------------ the run

    async def run(self) -> dict[str, Any]:
        import httpx

        cfg = self.cfg
        if cfg.url is None:
            self.hub = HubProcess(agents=cfg.agents, cap=cfg.cap)
            await self.hub.seed()
            self.hub.start()
            self.http_base = self.hub.base
            emails = self.hub.emails()
            password = PASSWORD
        else:
            parts = urlsplit(cfg.url)
            self.http_base = f"{parts.scheme}://{parts.netloc}"
            emails = [cfg.agent_email_pattern.format(i=i) for i in range(cfg.agents)]
            password = cfg.agent_password
        scheme = "wss" if self.http_base.startswith("https") else "ws"
        self.ws_base = f"{scheme}://{urlsplit(self.http_base).netloc}"
        try:
            return await self._drive(httpx, emails, password)
        finally:
            if self.hub is not None:
                self.hub.cleanup()

    async def _drive(self, httpx: Any, emails: list[str], password: str) -> dict[str, Any]:
        cfg = self.cfg
        stats = self.stats
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=self.http_base, timeout=60, limits=limits) as http:
            cookies = []
            for email in emails:
                r = await http.post("/login", json={"email": email, "password": password})
                r.raise_for_status()
                cookies.append(r.cookies["livedesk_session"])
            self.agent_streams = [{} for _ in cookies]
            readies = [asyncio.Event() for _ in cookies]
            agents = [
                asyncio.create_task(self.agent(i, c, r))
                for i, (c, r) in enumerate(zip(cookies, readies, strict=True))
            ]
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
            started = now()
            self.deadline = started + cfg.duration
            progress = asyncio.create_task(self._progress(started))
            visitors: list[asyncio.Task[None]] = []
            total = min(cfg.max_visitors, int(cfg.visitors_per_s * cfg.duration))
            for i in range(total):
                at = started + i / cfg.visitors_per_s
                delay = at - now()
                if delay > 0:
                    await asyncio.sleep(delay)  # the arrival process: open loop, on schedule
                visitors.append(asyncio.create_task(self.visitor(i, http)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), max(0.0, self.deadline - now()))
            self.stop.set()
            send_window = now() - started
            results = await asyncio.gather(*visitors, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    self._fail("visitor", result)
            # Let the agents see the last closes before counting.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._agents_caught_up(), 5)
            progress.cancel()
            for task in agents:
                task.cancel()
            await asyncio.gather(*agents, progress, return_exceptions=True)
            if self.hub is not None:
                rss = self.hub.rss_mb()
            elif cfg.server_pid is not None:
                rss = rss_mb(cfg.server_pid)
            else:
                rss = float("nan")
        if cfg.progress:
            print(file=sys.stderr)
        self._count_lost()
        messages = stats.acked
        return {
            "loadtest": "livedesk",
            "target": cfg.url or "local hub process",
            "duration_s": round(send_window, 2),
            "agents": len(self.agent_streams),
            "cap": cfg.cap,
            "visitors": stats.visitors,
            "conversations": stats.conversations,
            "assigned": stats.assigned,
            "closed": stats.closed,
            "messages": messages,
            "messages_per_s": round(messages / send_window, 1) if send_window > 0 else 0.0,
            "delivered": stats.delivered,
            "delivery_p50_ms": _pct(stats.latencies, 50),
            "delivery_p99_ms": _pct(stats.latencies, 99),
            "delivery_max_ms": round(max(stats.latencies), 2) if stats.latencies else None,
            "queue_wait_p50_ms": _pct(stats.queue_waits, 50),
            "queue_wait_p99_ms": _pct(stats.queue_waits, 99),
            "queue_wait_max_ms": round(max(stats.queue_waits), 2) if stats.queue_waits else None,
            "gaps_resumed": stats.gaps,
            "errors": sum(stats.errors.values()),
            "error_codes": dict(stats.errors),
            "lost": stats.lost,
            "duplicated": stats.duplicated + stats.mismatched,
            "cap_violations": stats.cap_violations,
            "max_held": stats.max_held,
            "server_rss_mb": None if rss != rss else round(rss, 1),
        }

    async def _agents_caught_up(self) -> None:
        """Until every acked visitor text reached its agent (bounded by the caller)."""
        while self._missing_at_agents():
            self.agent_news.clear()
            await self.agent_news.wait()

    def _missing_at_agents(self) -> list[tuple[str, int]]:
        missing = []
        for (conv, seq), (author, _) in self.acked.items():
            idx = self.agent_of.get(conv)
            if author == "visitor" and idx is not None:
                if seq not in self.agent_streams[idx].get(conv, Stream(self.stats)).seqs:
                    missing.append((conv, seq))
        return missing

    def _count_lost(self) -> None:
        stats = self.stats
        stats.lost = len(self._missing_at_agents())
        for (conv, seq), (author, cmid) in self.acked.items():
            stream = self.visitor_streams.get(conv)
            if stream is None:
                continue  # the visitor did not get to its final check (counted as a failure)
            seen = stream.seqs.get(seq)
            if seen is None:
                stats.lost += 1
            elif seen != (author, cmid):
                stats.mismatched += 1

    async def _progress(self, started: float) -> None:
        if not self.cfg.progress:
            return
        tty = sys.stderr.isatty()
        while True:
            await asyncio.sleep(1.0)
            s = self.stats
            p99 = _pct(s.latencies[-2000:], 99)
            line = (
                f"loadtest {now() - started:5.1f}/{self.cfg.duration:.0f}s "
                f"visitors {s.visitors} convs {s.conversations} assigned {s.assigned} "
                f"acked {s.acked} delivered {s.delivered} p99 {p99}ms "
                f"errors {sum(s.errors.values())}"
            )
            print(("\r" + line) if tty else line, end="" if tty else "\n", file=sys.stderr)


def report(result: dict[str, Any]) -> str:
    lines = [
        f"livedesk loadtest against {result['target']} ({result['duration_s']} s)",
        f"  agents {result['agents']} (cap {result['cap']}), visitors {result['visitors']}, "
        f"conversations {result['conversations']} ({result['assigned']} assigned, "
        f"{result['closed']} closed)",
        f"  messages {result['messages']} acked, {result['messages_per_s']}/s; "
        f"delivered {result['delivered']}",
        f"  delivery ms p50 {result['delivery_p50_ms']} p99 {result['delivery_p99_ms']} "
        f"max {result['delivery_max_ms']}",
        f"  queue wait ms p50 {result['queue_wait_p50_ms']} p99 {result['queue_wait_p99_ms']} "
        f"max {result['queue_wait_max_ms']}",
        f"  errors {result['errors']} {result['error_codes'] or ''}",
        f"  LOST {result['lost']}  DUPLICATED {result['duplicated']}  "
        f"CAP VIOLATIONS {result['cap_violations']}  (all must be 0)",
        f"  server RSS {result['server_rss_mb']} MB",
    ]
    return "\n".join(lines)


def run(cfg: Config) -> dict[str, Any]:
    return asyncio.run(LoadTest(cfg).run())


def cmd_loadtest(args: argparse.Namespace) -> int:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    cfg = Config(
        url=args.url,
        duration=args.duration,
        visitors_per_s=args.visitors_per_s,
        messages=args.messages,
        message_rate=args.message_rate,
        think_ms=args.think_ms,
        agents=args.agents,
        cap=args.cap,
        agent_email_pattern=args.agent_email_pattern,
        agent_password=args.agent_password or os.environ.get("LIVEDESK_AGENT_PASSWORD", PASSWORD),
        max_visitors=args.max_visitors,
        drain_s=args.drain,
        server_pid=args.server_pid,
        progress=not args.quiet,
    )
    result = run(cfg)
    print(report(result), file=sys.stderr if args.json else sys.stdout)
    print(json.dumps(result))
    sys.stdout.flush()
    ok = result["lost"] == result["duplicated"] == result["cap_violations"] == 0
    return 0 if ok else 1


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "loadtest", help="drive a hub with simulated visitors and agents; count losses"
    )
    p.add_argument("--url", help="a running hub (default: start one on a temporary database)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of arrivals")
    p.add_argument("--visitors-per-s", type=float, default=5.0, help="visitor arrival rate")
    p.add_argument("--messages", type=int, default=5, help="texts per visitor")
    p.add_argument(
        "--message-rate", type=float, default=2.0, help="texts a second per visitor, at most"
    )
    p.add_argument("--think-ms", type=float, default=0.0, help="mean extra think time")
    p.add_argument("--agents", type=int, default=4)
    p.add_argument("--cap", type=int, default=5, help="each agent's cap (seeded when local)")
    p.add_argument(
        "--agent-email-pattern",
        default=EMAIL_PATTERN,
        help="agent logins for --url, with {i} = 0, 1, …",
    )
    p.add_argument("--agent-password", help="(default: $LIVEDESK_AGENT_PASSWORD)")
    p.add_argument("--max-visitors", type=int, default=5000)
    p.add_argument("--drain", type=float, default=10.0, help="seconds to wait for answers")
    p.add_argument("--server-pid", type=int, help="a local hub's pid, for its RSS (--url)")
    p.add_argument("--json", action="store_true", help="only the JSON line on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=cmd_loadtest)
