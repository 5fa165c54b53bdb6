"""``livedesk serve --workers N``: N hub processes on one port, for every core of a machine.

Each worker is a whole hub (``livedesk serve``) in its own process with its own listening
socket bound with ``SO_REUSEPORT``, so the kernel spreads new connections over them; they
share the store and meet on the Redis bus, as nodes of a cluster do (a conversation's
visitor on one worker and its agent on another is the ordinary multi-node case). Hence
``LIVEDESK_REDIS_URL`` is required: the in-memory bus, ledger and presence are one
process's. The parent migrates the database once, starts the workers, forwards SIGTERM and
SIGINT to them, and when one exits stops the others and exits with its code.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

from chatserver.core.settings import Settings

log = logging.getLogger("livedesk.pool")
POLL_S = 0.2  # between looks at whether a worker exited (the parent has nothing else to do)
STOP_TIMEOUT_S = 30.0


class PoolError(Exception):
    """The pool cannot run with these settings."""


def reuse_port_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening socket on (host, port) that other processes may bind too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


def worker_argv(host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "chatserver.cli.main",
        "serve",
        "--host",
        host,
        "--port",
        str(port),
        "--reuse-port",
    ]


def run_pool(settings: Settings, host: str, port: int, workers: int) -> int:
    if not settings.cluster.redis_url:
        raise PoolError("--workers needs LIVEDESK_REDIS_URL: the workers meet on the Redis bus")
    from chatserver.backends.db import upgrade

    upgrade(settings.server.database_url)  # once, here, not raced by N workers
    # Port 0: pick one for all (a bound, never listening socket is given no connections).
    if port == 0:
        holder = reuse_port_socket(host, 0)
        port = holder.getsockname()[1]
        holder.close()
    procs = [subprocess.Popen(worker_argv(host, port)) for _ in range(workers)]
    log.info("livedesk: %d workers on %s:%d (pids %s)", workers, host, port, [p.pid for p in procs])
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    while True:
        exited = [p for p in procs if p.poll() is not None]
        if exited:
            if not stopping:
                code = exited[0].returncode or 0
                log.error("worker %d exited with %d: stopping the pool", exited[0].pid, code)
                stop(signal.SIGTERM, None)
            break
        time.sleep(POLL_S)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return code if code >= 0 else 128 - code
