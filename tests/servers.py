"""Real servers for tests: Redis started on a free port, PostgreSQL on loopback.

Under ``CI=true`` a server that cannot be had fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"required server unavailable under CI=true: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)  # polling a port that is not ours to signal on
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class RedisServer:
    """A redis-server process of the test run's own, restartable on the same port."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="livedesk-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
        raise AssertionError  # unreachable: unavailable() skips or fails
    server = RedisServer(binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


POSTGRES_ADMIN_URL = os.environ.get(
    "LIVEDESK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; yields its plain ``postgresql://`` URL."""
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        unavailable("asyncpg is not installed (pip install -e '.[postgres]')")
    import asyncio

    import asyncpg

    name = f"livedesk_test_{uuid.uuid4().hex[:12]}"
    admin = POSTGRES_ADMIN_URL

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(run(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable(f"PostgreSQL at {admin} unavailable: {exc}")
    base, _, _ = admin.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
