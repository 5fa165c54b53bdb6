"""``livedesk loadtest``: simulated visitors and agents over real websockets (msgpack).

Without ``--url`` it starts a hub process of its own (``livedesk serve``) on a temporary
SQLite database with seeded agents, and drives that; with ``--url`` it drives any running
hub (agent credentials by option); ``--agent-url`` puts the agents on another node of the
same cluster, so every text crosses nodes.

Visitors arrive at ``--visitors-per-s``; each writes up to ``--messages`` texts (one every
``--think-ms``, jittered), waits for the agent's answers, checks its conversation against the
store with a ``resume`` from 0, and closes. Agents answer every visitor text. The checks are
exact, per conversation and per receiving side, by ``seq``:

* **lost**: an acknowledged text that the other side never received (the agent assigned to
  the conversation, or the visitor), or that the final resume does not return;
* **duplicated**: one ``client_msg_id`` stored under two ``seq``, or one ``seq`` delivered live
  twice. A replay may overlap live frames either way round (with several nodes, the live copy
  of an item can arrive after a resume already returned it); the protocol says to ignore
  those repeats, so they are not counted;
* **cap violations**: an agent holding more conversations than its cap
  (``assigned`` minus ``unassigned`` minus ``closed``).

Clients behave as the protocol asks: a dropped socket (a node restarted or killed, a close
with 1011) reconnects with backoff (0.5 s doubling to 10 s, jittered), resumes by ``seq``
and sends again what was not acknowledged, with the same ``client_msg_id``; so a run across
a node restart still counts lost and duplicated exactly (``reconnects`` says how often;
``--no-reconnect`` makes a drop a failure instead).

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
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chatserver.core.reports import percentile
from chatserver.runtime.backoff import Backoff

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


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux, from /proc): a pool's workers."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def listens_on(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a socket listening on ``port`` (Linux, from /proc)."""
    return bool(socket_inodes(pid) & listening_inodes(port))


def socket_inodes(pid: int) -> set[str]:
    """The inodes of the sockets process ``pid`` holds open."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def tcp_inodes(match: Callable[[int, int, str], bool]) -> set[str]:
    """Inodes of TCP sockets whose (local port, remote port, state) ``match`` accepts."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if match(int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16), state):
                found.add(inode)
    return found


def listening_inodes(port: int) -> set[str]:
    return tcp_inodes(lambda local, _remote, state: local == port and state == "0A")


def serving_pid(pids: list[int], port: int, client_port: int) -> int | None:
    """Which of ``pids`` holds the server side of the connection from ``client_port``."""
    inodes = tcp_inodes(lambda local, remote, _state: local == port and remote == client_port)
    for pid in pids:
        if socket_inodes(pid) & inodes:
            return pid
    return None


class HubProcess:
    """``livedesk serve`` in its own process, on a temporary SQLite file (or ``db_dir``), or
    on ``database_url`` (PostgreSQL) with ``redis_url`` as one node of a cluster: every
    node made with the same URLs shares the store, the bus and the default secret key.

    ``kill()`` is kill -9; ``start()`` again restarts it on the same database and port.
    ``launch()`` and ``wait_listening()`` are ``start()``'s two halves, for starting
    several nodes at once.
    """

    def __init__(
        self,
        agents: int,
        cap: int = 5,
        *,
        port: int | None = None,
        db_dir: str | None = None,
        database_url: str | None = None,
        redis_url: str | None = None,
        stderr: Any = None,
        workers: int = 1,
        **env: str,
    ) -> None:
        if db_dir is not None and database_url is not None:
            raise ValueError("db_dir is for a SQLite file; give database_url or db_dir")
        self.own_dir = db_dir is None and database_url is None
        self.dir = db_dir or (None if database_url else tempfile.mkdtemp(prefix="livedesk-hub-"))
        self.url_db = database_url or f"sqlite:///{self.dir}/hub.db"
        self.redis_url = redis_url
        self.port = port or free_port()
        self.agents = agents
        self.cap = cap
        self.stderr = stderr
        self.workers = workers  # above 1: ``serve --workers`` (needs redis_url)
        self.env = {
            **os.environ,
            "LIVEDESK_DATABASE_URL": self.url_db,
            "LIVEDESK_SECRET_KEY": "loadtest-secret",
            "LIVEDESK_RATE_LIMIT_PER_S": "100000",
            "LIVEDESK_RATE_LIMIT_BURST": "100000",
            # Every load-test client comes from one address, a room's tabs from one visitor.
            "LIVEDESK_VISITOR_SOCKETS_PER_MIN_PER_ADDRESS": "1000000",
            "LIVEDESK_VISITOR_SOCKETS_PER_MIN_PER_VISITOR": "1000000",
            "LIVEDESK_LOG_LEVEL": "warning",
            **({"LIVEDESK_REDIS_URL": redis_url} if redis_url else {}),
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

    async def seed(self, supervisors: tuple[str, ...] = ()) -> list[str]:
        """Migrate the database and add the agents (and ``supervisors``, by e-mail), all
        with ``PASSWORD``; whoever is there already is left as is, so every node of a
        cluster may seed the shared database."""
        from chatserver.backends.db import upgrade
        from chatserver.backends.store import Store
        from chatserver.live.auth import hash_password

        await asyncio.to_thread(upgrade, self.url_db)
        store = Store(self.url_db)
        hashed = hash_password(PASSWORD)  # one hash for all: seeding is not what we measure
        people = [(e, "agent") for e in self.emails()] + [(e, "supervisor") for e in supervisors]
        try:
            for email, role in people:
                if await store.get_agent_by_email(email) is None:
                    await store.add_agent(
                        email, email.split("@")[0], hashed, role=role, cap=self.cap
                    )
        finally:
            await store.stop()
        return self.emails()

    def start(self, timeout: float = 30) -> None:
        self.launch()
        self.wait_listening(timeout)

    def launch(self) -> None:
        """Start the process; do not wait for it (``wait_listening`` does)."""
        argv = [sys.executable, "-m", "chatserver.cli.main", "serve", "--port", str(self.port)]
        if self.workers > 1:
            argv += ["--workers", str(self.workers)]
        self.proc = subprocess.Popen(argv, env=self.env, stderr=self.stderr)

    def wait_listening(self, timeout: float = 30) -> None:
        """Until the port answers and, for a pool, every worker listens on it."""
        assert self.proc is not None, "launch() first"
        deadline = time.monotonic() + timeout
        wait_for_port(self.port, timeout, self.proc)
        while self.workers > 1:
            workers = self.worker_pids()
            if len(workers) >= self.workers and all(listens_on(p, self.port) for p in workers):
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise TimeoutError(f"{self.workers} workers not listening on {self.port}")
            time.sleep(0.05)  # another process's state: nothing to wait on

    def worker_pids(self) -> list[int]:
        """The pool's worker processes (none for a single process)."""
        return children(self.proc.pid) if self.proc is not None and self.workers > 1 else []

    @property
    def pids(self) -> list[int]:
        """Every process of this hub: the pool and its workers, or the one process."""
        return ([self.proc.pid] if self.proc is not None else []) + self.worker_pids()

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
        if self.own_dir and self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    async def login(self, http: Any, email: str, password: str = PASSWORD) -> str:
        r = await http.post("/login", json={"email": email, "password": password})
        r.raise_for_status()
        return str(r.cookies["livedesk_session"])


# ---------------------------------------------------------------------------- bookkeeping


@dataclass
class Config:
    url: str | None = None
    agent_url: str | None = None  # agents on another node of the same cluster than visitors
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
    reconnect: bool = True  # clients reconnect and resume after a drop, as the protocol says


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
    reconnects: int = 0
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

    __slots__ = ("seqs", "live", "by_msg", "contiguous", "stats", "side")

    def __init__(self, stats: Stats, side: str = "") -> None:
        self.seqs: dict[int, tuple[str | None, str | None]] = {}
        self.live: set[int] = set()  # seqs that arrived as live frames
        self.by_msg: dict[tuple[str | None, str], int] = {}
        self.contiguous = 0
        self.stats = stats
        self.side = side  # who receives it, for the report's examples

    def take(self, frame: dict[str, Any], replay: bool) -> bool:
        """Record a sequenced frame; True when it is new to this side."""
        seq = frame["seq"]
        key = (frame.get("author"), frame.get("client_msg_id"))
        if seq in self.seqs:
            if self.seqs[seq] != key:
                self.stats.mismatched += 1  # two different items under one seq
            elif not replay:
                if seq in self.live:
                    self._note(
                        f"seq {seq} ({frame.get('type')} {frame.get('event') or key[0]}) "
                        f"of {frame.get('conversation_id')} came live twice"
                    )
                    self.stats.duplicated += 1  # a live frame delivered twice
                self.live.add(seq)
            return False
        if not replay:
            self.live.add(seq)
        if key[1] is not None:
            first = self.by_msg.setdefault((key[0], key[1]), seq)
            if first != seq:
                self._note(f"{key[1]} stored as seq {first} and {seq}")
                self.stats.duplicated += 1  # one client message stored twice
        self.seqs[seq] = key
        while self.contiguous + 1 in self.seqs:
            self.contiguous += 1
        return True

    def _note(self, what: str) -> None:
        if len(self.stats.failures) < 10:
            self.stats.failures.append(f"duplicated at {self.side or '?'}: {what}")

    def gap(self) -> bool:
        return bool(self.seqs) and max(self.seqs) > self.contiguous


def _own(ack: dict[str, Any], author: str) -> dict[str, Any]:
    """The sender's own message as its ack places it (the hub does not echo it back)."""
    return {
        "type": "message",
        "conversation_id": ack["conversation_id"],
        "seq": ack["seq"],
        "author": author,
        "client_msg_id": ack["client_msg_id"],
    }


def _pct(values: list[float], q: int) -> float | None:
    found = percentile(values, q / 100)
    return None if found is None else round(found, 2)


# ---------------------------------------------------------------------------- one socket

ACK_TIMEOUT_S = 30.0
BACKOFF_START_S = 0.5  # the protocol's reconnect backoff: 0.5 s, doubling up to 10 s
BACKOFF_MAX_S = 10.0
RETRIES = 5  # of a frame the hub refused with a retryable error


class Link:
    """One simulated client's socket, kept up as the protocol asks of a client: after a
    drop (a node restarted, killed, or closing with 1011) it reconnects with backoff, and
    sends again every ``send`` not yet acknowledged, with the same ``client_msg_id`` (the hub
    stores a retried send once). Its owner says hello again on each ``welcome`` (resume
    what it follows). Close codes 4100–4199 mean "do not reconnect": the link gives up, as
    it does when the run's drain period is over (or ``Config.reconnect`` is off)."""

    def __init__(
        self, lt: LoadTest, path: str, subprotocols: list[str], headers: dict[str, str]
    ) -> None:
        self.lt = lt
        self.path = path
        self.subprotocols = subprotocols
        self.headers = headers
        self.on_frame: Callable[[dict[str, Any]], Awaitable[None]] | None = None
        # Called as each socket opens, before its first frame: forget what the last socket
        # asked for. (Not on `welcome`: the hub may send live frames before it, and the
        # owner may already have asked this socket for a resume.)
        self.on_open: Callable[[], None] | None = None
        self.ws: Any = None
        self.up = asyncio.Event()
        self.dead = asyncio.Event()
        self.failure: BaseException | None = None
        self.unacked: dict[str, dict[str, Any]] = {}  # client_msg_id -> its send frame
        self.opened = 0  # sockets opened so far (more than one: reconnected)
        self._retries: Counter[str] = Counter()
        self._later: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

        assert self.on_frame is not None
        backoff = Backoff(BACKOFF_START_S, BACKOFF_MAX_S)
        try:
            while True:
                code: int | None = None
                try:
                    async with self.lt._connect(
                        self.path, subprotocols=self.subprotocols, headers=self.headers
                    ) as ws:
                        self.ws = ws
                        if self.on_open is not None:
                            self.on_open()
                        self.opened += 1
                        if self.opened > 1:
                            self.lt.stats.reconnects += 1
                        backoff.reset()
                        self.up.set()
                        for frame in list(self.unacked.values()):
                            await ws.send(self.lt._pack(frame))
                        async for data in ws:
                            await self.on_frame(self.lt._unpack(data))
                        code = ws.close_code
                        failure: BaseException = ConnectionError(f"closed by the hub ({code})")
                except InvalidStatus as exc:
                    if exc.response.status_code < 500:
                        raise  # refused (403: bad token or cookie): trying again will not help
                    failure = exc
                except ConnectionClosed as exc:
                    code = exc.rcvd.code if exc.rcvd is not None else None
                    failure = exc
                except (OSError, TimeoutError, WebSocketException) as exc:
                    failure = exc
                finally:
                    self.up.clear()
                    self.ws = None
                if code is not None and 4100 <= code < 4200:
                    raise failure
                if not self.lt.cfg.reconnect or self.lt._past_drain():
                    raise failure
                await asyncio.sleep(backoff.next_delay())
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                self.failure = exc
            self.dead.set()
            for task in self._later:
                task.cancel()
            raise

    async def send(self, frame: dict[str, Any]) -> None:
        """Send now if the socket is up. A ``send`` is kept until its ack and goes again on
        the next socket; anything else is the owner's to say again after the next welcome."""
        from websockets.exceptions import ConnectionClosed

        if frame.get("type") == "send":
            self.unacked[frame["client_msg_id"]] = frame
        ws = self.ws
        if ws is None or not self.up.is_set():
            return
        with contextlib.suppress(ConnectionClosed):
            await ws.send(self.lt._pack(frame))

    def acked(self, cmid: str) -> bool:
        """Forget a send the hub acknowledged; True the first time (a retried send is
        acknowledged again, with its original seq)."""
        self._retries.pop(cmid, None)
        return self.unacked.pop(cmid, None) is not None

    def retry_later(self, cmid: str) -> bool:
        """The hub refused a send with a retryable error: send it again after a backoff.
        False when there is nothing to retry, or it was tried often enough."""
        frame = self.unacked.get(cmid)
        if frame is None or self._retries[cmid] >= RETRIES:
            return False
        self._retries[cmid] += 1
        delay = BACKOFF_START_S * 2 ** (self._retries[cmid] - 1)

        async def again() -> None:
            await asyncio.sleep(delay)
            if cmid in self.unacked:
                await self.send(frame)

        task = asyncio.create_task(again())
        self._later.add(task)
        task.add_done_callback(self._later.discard)
        return True

    async def wait(self, awaitable: Awaitable[Any], within: float) -> Any:
        """``awaitable``'s result within ``within`` seconds (else TimeoutError), or
        ConnectionError as soon as the link gives up."""
        task = asyncio.ensure_future(awaitable)
        dead = asyncio.ensure_future(self.dead.wait())
        try:
            done, _ = await asyncio.wait(
                {task, dead}, timeout=within, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            dead.cancel()
        if task in done:
            return task.result()
        task.cancel()
        if dead in done:
            raise ConnectionError(f"{self.path}: gave up reconnecting: {self.failure!r}")
        raise TimeoutError


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
        self.news = asyncio.Event()  # any client received something (for ``reached``)
        self.http_base = ""
        self.ws_base = ""
        self.agent_http_base = ""
        self.agent_ws_base = ""
        self.deadline: float | None = None

    # ------------------------------------------------------------------ plumbing

    def _pack(self, frame: dict[str, Any]) -> bytes:
        import msgpack

        return msgpack.packb(frame, use_bin_type=True)

    def _unpack(self, data: bytes | str) -> dict[str, Any]:
        import msgpack

        if not isinstance(data, bytes):  # a msgpack client's frames are binary
            return {}
        obj = msgpack.unpackb(data, raw=False)
        return obj if isinstance(obj, dict) else {}

    def _connect(self, path: str, *, subprotocols: list[str], headers: dict[str, str]) -> Any:
        from websockets.asyncio.client import connect

        agent = path == "/ws/agent"
        http_base = self.agent_http_base if agent else self.http_base
        ws_base = self.agent_ws_base if agent else self.ws_base
        return connect(
            f"{ws_base}{path}",
            subprotocols=subprotocols,  # type: ignore[arg-type]
            origin=http_base,  # type: ignore[arg-type]
            additional_headers=headers,
            max_size=None,
            open_timeout=30,
        )

    # ------------------------------------------------------------------ steering

    async def reached(self, predicate: Callable[[], bool]) -> None:
        """Until ``predicate()`` holds, looked at each time a client receives a frame: for
        a caller that injects a fault at the right moment of a run (bound it yourself)."""
        while not predicate():
            self.news.clear()
            await self.news.wait()

    def finish(self) -> None:
        """End the run now, as its duration would: no more arrivals or texts; the visitors
        wait up to ``drain_s`` for their answers, check and close."""
        if self.deadline is not None:
            self.deadline = min(self.deadline, now())
        self.stop.set()

    def _fail(self, where: str, exc: BaseException) -> None:
        self.stats.errors["exception"] += 1
        if len(self.stats.failures) < 10:
            self.stats.failures.append(f"{where}: {exc!r}")

    # ------------------------------------------------------------------ agents

    async def agent(self, idx: int, cookie: str, ready: asyncio.Event) -> None:
        streams = self.agent_streams[idx]
        held: set[str] = set()
        closed: set[str] = set()
        # conversation -> resumes asked for and not answered yet: while any is, sequenced
        # frames may be replays (a second replay can follow the first one's `resumed`)
        resuming: Counter[str] = Counter()
        headers = {"Cookie": f"livedesk_session={cookie}"}
        link = Link(self, "/ws/agent", [PROTO], headers)

        async def resume(conv: str) -> None:
            """Everything after what this agent has of the conversation, then live."""
            resuming[conv] += 1
            stream = streams.setdefault(conv, Stream(self.stats, f"agent {idx}"))
            await link.send(
                {"type": "resume", "conversation_id": conv, "after_seq": stream.contiguous}
            )

        async def on_frame(f: dict[str, Any]) -> None:
            kind = f.get("type")
            self.agent_news.set()
            self.news.set()
            if kind == "welcome":
                # On a reconnect too: what the hub says this agent holds now; each of those,
                # and each not known closed (it may have closed meanwhile), caught up.
                held.clear()
                held.update(c["conversation_id"] for c in f.get("conversations", []))
                if link.opened > 1:
                    for conv in held | {c for c in streams if c not in closed}:
                        await resume(conv)
                ready.set()
            elif kind == "assigned":
                conv = f["conversation"]["conversation_id"]
                held.add(conv)
                self.agent_of[conv] = idx
                self.stats.assigned += 1
                self.stats.max_held = max(self.stats.max_held, len(held))
                if len(held) > self.cfg.cap:
                    self.stats.cap_violations += 1
                await resume(conv)
            elif kind == "unassigned":
                held.discard(f["conversation_id"])
            elif kind == "resumed":
                conv = f["conversation"]["conversation_id"]
                resuming[conv] -= 1
                if resuming[conv] <= 0:
                    del resuming[conv]
            elif kind in ("message", "event"):
                conv = f["conversation_id"]
                stream = streams.setdefault(conv, Stream(self.stats, f"agent {idx}"))
                replay = resuming[conv] > 0
                fresh = stream.take(f, replay)
                if kind == "event" and f.get("event") == "closed":
                    held.discard(conv)
                    closed.add(conv)
                if stream.gap() and conv not in resuming:
                    self.stats.gaps += 1
                    await resume(conv)
                if fresh and kind == "message" and f.get("author") == "visitor":
                    cmid = f.get("client_msg_id") or ""
                    self.stats.delivered += 1
                    started = self.sent_at.get(cmid)
                    if not replay and started is not None:
                        self.stats.latencies.append((now() - started) * 1000)
                    if conv not in closed and conv in held:
                        reply_id = f"r-{cmid}"[:64]
                        self.sent_at[reply_id] = now()
                        await link.send(
                            {
                                "type": "send",
                                "conversation_id": conv,
                                "text": f"re: {f.get('text', '')}"[:200],
                                "client_msg_id": reply_id,
                            }
                        )
            elif kind == "ack":
                if link.acked(f["client_msg_id"]):
                    self.stats.acked += 1
                self.acked[(f["conversation_id"], f["seq"])] = ("agent", f["client_msg_id"])
                if not f.get("duplicate"):  # not echoed back: the ack holds its place
                    conv = f["conversation_id"]
                    stream = streams.setdefault(conv, Stream(self.stats, f"agent {idx}"))
                    stream.take(_own(f, "agent"), replay=True)
            elif kind == "error":
                self.stats.errors[str(f.get("code"))] += 1
                if f.get("retryable") and f.get("ref"):
                    link.retry_later(f["ref"])

        link.on_frame = on_frame
        link.on_open = resuming.clear
        try:
            await link.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self.stop.is_set():
                self._fail(f"agent {idx}", exc)
        finally:
            ready.set()

    # ------------------------------------------------------------------ visitors

    async def _visitor_token(self, http: Any, i: int) -> str:
        """A visitor session; while the hub is away (a restart), asked again with backoff."""
        import httpx

        backoff = Backoff(BACKOFF_START_S, BACKOFF_MAX_S)
        while True:
            try:
                r = await http.post("/api/visitor/session", json={"name": f"Visitor {i}"})
                if r.status_code < 500:
                    r.raise_for_status()
                    return str(r.json()["token"])
                failure: Exception = RuntimeError(f"visitor session: HTTP {r.status_code}")
            except httpx.TransportError as exc:
                failure = exc
            if not self.cfg.reconnect or self._past_drain():
                raise failure
            await asyncio.sleep(backoff.next_delay())

    async def visitor(self, i: int, http: Any) -> None:
        cfg = self.cfg
        stats = self.stats
        stats.visitors += 1
        token = await self._visitor_token(http, i)
        conv: str | None = None
        stream = Stream(stats, f"visitor {i}")
        acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        replies = 0
        replied = asyncio.Event()
        mine = 0
        resumed = asyncio.Event()
        closed = asyncio.Event()
        resuming = 0  # resumes asked for and not answered yet
        closing = False
        first_sent: float | None = None
        link = Link(self, "/ws/visitor", [PROTO, f"livedesk.token.{token}"], {})

        async def resume(after: int | None = None) -> None:
            """Everything after ``after`` (default: what this visitor has), then live."""
            nonlocal resuming
            resuming += 1
            resumed.clear()
            if after is None:
                after = stream.contiguous
            await link.send({"type": "resume", "conversation_id": conv, "after_seq": after})

        async def on_frame(f: dict[str, Any]) -> None:
            nonlocal conv, replies, resuming, first_sent
            kind = f.get("type")
            self.news.set()
            if kind == "welcome":
                if conv is not None:  # a reconnect: catch up with what happened meanwhile
                    await resume()
                    if closing and f.get("conversation") is not None:
                        await link.send({"type": "close", "conversation_id": conv})
            elif kind == "ack":
                link.acked(f["client_msg_id"])
                if conv is None:
                    conv = f["conversation_id"]
                if not f.get("duplicate") and f["conversation_id"] == conv:
                    stream.take(_own(f, "visitor"), replay=True)  # not echoed back
                fut = acks.get(f["client_msg_id"])
                if fut is not None and not fut.done():
                    fut.set_result(f)
            elif kind in ("message", "event"):
                if conv is None:
                    conv = f["conversation_id"]
                if f["conversation_id"] != conv:
                    return
                fresh = stream.take(f, resuming > 0)
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
                    await resume()
            elif kind == "resumed":
                resuming = max(0, resuming - 1)
                if not resuming:
                    resumed.set()
            elif kind == "error":
                stats.errors[str(f.get("code"))] += 1
                ref = f.get("ref") or ""
                if f.get("retryable") and link.retry_later(ref):
                    return  # the same frame goes again shortly
                fut = acks.get(ref)
                if fut is not None and not fut.done():
                    fut.set_result(f)

        def on_open() -> None:
            nonlocal resuming
            resuming = 0  # a new socket: what the old one asked for will not come

        link.on_frame = on_frame
        link.on_open = on_open
        runner = asyncio.create_task(link.run())
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
                await link.send({"type": "send", "text": f"v{i} m{n}", "client_msg_id": cmid})
                ack = await link.wait(fut, ACK_TIMEOUT_S)
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
                pause = interval + (random.expovariate(1000 / cfg.think_ms) if cfg.think_ms else 0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), pause)
            if conv is None:
                return
            # Wait for the agent's answers (while the run lasts, then a drain period).
            with contextlib.suppress(TimeoutError):
                await link.wait(replied.wait(), self._remaining())
            # The store's word: everything from seq 1, checked against what we saw.
            await resume(0)
            await link.wait(resumed.wait(), ACK_TIMEOUT_S)
            self.visitor_streams[conv] = stream
            closing = True
            await link.send({"type": "close", "conversation_id": conv})
            await link.wait(closed.wait(), ACK_TIMEOUT_S)
            stats.closed += 1
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner

    def _past_drain(self) -> bool:
        return self.deadline is not None and now() > self.deadline + self.cfg.drain_s

    def _remaining(self) -> float:
        assert self.deadline is not None
        return max(0.1, self.deadline + self.cfg.drain_s - now())

    # ------------------------------------------------------------------ the run

    async def run(self) -> dict[str, Any]:
        import httpx

        cfg = self.cfg
        if cfg.agent_url is not None and cfg.url is None:
            raise ValueError("agent_url is a node of the cluster at url: give url too")
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
        self.ws_base = _ws_base(self.http_base)
        self.agent_http_base = self.http_base
        if cfg.agent_url is not None:
            parts = urlsplit(cfg.agent_url)
            self.agent_http_base = f"{parts.scheme}://{parts.netloc}"
        self.agent_ws_base = _ws_base(self.agent_http_base)
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
            async with httpx.AsyncClient(base_url=self.agent_http_base, timeout=60) as desk:
                for email in emails:
                    r = await desk.post("/login", json={"email": email, "password": password})
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
                if self.stop.is_set():
                    break
                visitors.append(asyncio.create_task(self.visitor(i, http)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), max(0.0, self.deadline - now()))
            self.finish()
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
            "reconnects": stats.reconnects,
            "errors": sum(stats.errors.values()),
            "error_codes": dict(stats.errors),
            "lost": stats.lost,
            "duplicated": stats.duplicated + stats.mismatched,
            "cap_violations": stats.cap_violations,
            "max_held": stats.max_held,
            "failures": stats.failures,
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
                f"errors {sum(s.errors.values())} reconnects {s.reconnects}"
            )
            print(("\r" + line) if tty else line, end="" if tty else "\n", file=sys.stderr)


def _ws_base(http_base: str) -> str:
    scheme = "wss" if http_base.startswith("https") else "ws"
    return f"{scheme}://{urlsplit(http_base).netloc}"


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
        f"  errors {result['errors']}"
        + (f" {result['error_codes']}" if result["error_codes"] else "")
        + f"; reconnects {result['reconnects']}, gaps resumed {result['gaps_resumed']}",
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
        agent_url=args.agent_url,
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
        reconnect=args.reconnect,
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
    p.add_argument(
        "--agent-url", help="connect the agents to this node of the --url hub's cluster instead"
    )
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
    p.add_argument(
        "--no-reconnect",
        dest="reconnect",
        action="store_false",
        help="a dropped socket fails its client instead of reconnecting and resuming",
    )
    p.set_defaults(func=cmd_loadtest)
