"""Database engines and migrations: one place that knows SQLite from PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def async_url(url: str) -> str:
    """Map a plain database URL to the async driver the app uses for it."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ValueError(f"unsupported database backend {backend!r} (use sqlite or postgresql)")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


DEFAULT_BUSY_TIMEOUT_S = 30.0


def _busy(exc: BaseException) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED (or one of their extended codes): another connection
    holds the lock; anything else is a real fault."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _switch_to_wal(cur: Any, busy_timeout_s: float) -> None:
    """Two processes opening a fresh file race to switch it; the loser is refused without
    SQLite's busy wait, so it waits here instead, until the winner's switch is visible."""
    deadline = time.monotonic() + busy_timeout_s
    pause_s = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:  # sqlite3's, or the async driver's adapter passing it on
            if not _busy(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause_s)
        pause_s = min(pause_s * 2, 0.2)
        cur.execute("PRAGMA journal_mode")
        if str(cur.fetchone()[0]).lower() == "wal":
            return


def _sqlite_pragmas(busy_timeout_s: float) -> Any:
    def apply(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        # WAL lets readers go on while the group-commit writer writes. The mode is stored in
        # the file, so it is switched only when it is not WAL yet: asking for it on every new
        # connection starts a write, which SQLite refuses at once, without its busy wait, when
        # another connection committed since this one began reading (seen in CI as
        # "database is locked" while two engines opened one file).
        cur.execute("PRAGMA journal_mode")
        if str(cur.fetchone()[0]).lower() != "wal":
            _switch_to_wal(cur, busy_timeout_s)
        # NORMAL sync is durable across process crashes (only an OS crash can lose the last
        # commit).
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return apply


DEFAULT_POOL_SIZE = 20


def make_engine(
    url: str,
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
    pool_size: int = DEFAULT_POOL_SIZE,
) -> AsyncEngine:
    """The async engine, for code that talks to the database from the event loop."""
    if is_sqlite(url):
        # A fixed pool: overflow connections would be opened and closed under load, and each
        # open costs a thread and the PRAGMAs.
        engine = create_async_engine(
            async_url(url),
            connect_args={"timeout": busy_timeout_s},
            pool_size=8,
            max_overflow=0,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(busy_timeout_s))
        return engine
    # PostgreSQL: a fixed pool, because an overflow connection opened and closed under load
    # costs a connect and an authentication each time. No pre-ping: it is one more round
    # trip on every checkout; a connection the server dropped fails its operation instead
    # (the sender gets the retryable `unavailable`) and SQLAlchemy then invalidates the
    # whole pool, so the next operation gets a fresh connection.
    return create_async_engine(
        async_url(url), pool_size=pool_size, max_overflow=0, pool_recycle=1800
    )


def make_sqlite_sync_engine(
    url: str,
    pool_size: int,
    *,
    immediate: bool = False,
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
) -> Engine:
    """SQLite through the stdlib driver, for the store's own threads: one thread hop per
    operation instead of one per cursor call through aiosqlite.

    ``immediate``: every transaction starts with BEGIN IMMEDIATE, so what it reads before
    its first write is already under the write lock (the driver would otherwise begin
    only at the first write).
    """
    engine = create_engine(
        url,
        connect_args={"timeout": busy_timeout_s, "check_same_thread": False},
        pool_size=pool_size,
        max_overflow=0,
    )
    event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_s))
    if immediate:

        @event.listens_for(engine, "connect")
        def _driver_autocommit(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we say when transactions begin

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (blocking; call from a thread inside an event loop)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)
