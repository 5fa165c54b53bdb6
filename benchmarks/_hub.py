"""Shared by the benchmarks: a real hub process on a temporary database, and its RSS."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from chatserver.auth import hash_password
from chatserver.db import upgrade
from chatserver.store import Store
from tests.servers import free_port, wait_for_port

PASSWORD = "bench-password"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class HubProcess:
    """``livedesk serve`` in its own process, on a temporary SQLite file."""

    def __init__(self, agents: int, cap: int = 5, **env: str) -> None:
        self.dir = tempfile.mkdtemp(prefix="livedesk-bench-")
        self.url_db = f"sqlite:///{self.dir}/bench.db"
        self.port = free_port()
        self.agents = agents
        self.cap = cap
        self.env = {
            **os.environ,
            "LIVEDESK_DATABASE_URL": self.url_db,
            "LIVEDESK_SECRET_KEY": "bench-secret",
            "LIVEDESK_RATE_LIMIT_PER_S": "100000",
            "LIVEDESK_RATE_LIMIT_BURST": "100000",
            "LIVEDESK_LOG_LEVEL": "warning",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def seed(self) -> list[str]:
        await asyncio.to_thread(upgrade, self.url_db)
        store = Store(self.url_db)
        hashed = hash_password(PASSWORD)  # one hash for all: seeding is not what we measure
        emails = [f"agent{i}@bench.livedesk" for i in range(self.agents)]
        try:
            for email in emails:
                await store.add_agent(email, email.split("@")[0], hashed, cap=self.cap)
        finally:
            await store.stop()
        return emails

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chatserver.cli", "serve", "--port", str(self.port)],
            env=self.env,
        )
        wait_for_port(self.port, 30)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    async def login(self, http: httpx.AsyncClient, email: str) -> str:
        r = await http.post("/login", json={"email": email, "password": PASSWORD})
        r.raise_for_status()
        return r.cookies["livedesk_session"]


def now() -> float:
    return time.perf_counter()
