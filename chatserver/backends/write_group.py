"""Small writes that arrive together share one SQLite transaction.

SQLite has one writer, so the store runs every write on one thread; in an arrival burst
each new conversation's own writes (opening it, assigning it) queued there one transaction
each, and the queue, not the work, made the wait. Here a write waits for the writer thread
as before, but when the thread reaches it, it takes every write queued by then and runs
them in one transaction, each in its own savepoint: one failing (a conflict, a duplicate)
is rolled back alone and its caller gets its exception; the others commit together, and
nobody hears of their outcome before that commit.

Functions of plain SQL alone (``run_here``: the group commit's batches, the search
indexer's chunks) skip the hop when they can: finding the writer thread idle, with nothing
queued for it, they are written on the calling thread, the event loop's, in a transaction
begun and committed on the driver's connection. Handing every batch to the thread and its
outcome back cost the hub about 6% of its CPU under steady load (the submit, a wake-up on
each side, the two threads taking the GIL from each other), more than the write holds the
loop, and SQLAlchemy's begin and commit cost more than SQLite's own. The loop never waits
for the lock, though: SQLite's busy wait would stop every socket while another process (a
``livedesk`` command) held the file's write lock, so it asks for the lock without waiting
and, refused, queues for the thread like any write.

Only for SQLite: on PostgreSQL writers run side by side, and one transaction holding the
row locks of many unrelated operations in no fixed order could deadlock with another.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from chatserver.backends.plain_sql import PlainSql


@dataclass
class _Op:
    fn: Callable[[Connection], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.done():  # its caller was cancelled
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


class WriteGroup:
    """``run(fn)``: ``fn(conn)`` in a transaction shared with whatever writes queued with
    it on ``executor`` (the store's one writer thread), committed before it returns."""

    def __init__(self, engine: Engine, executor: Executor, busy_timeout_s: float) -> None:
        self._engine = engine
        self._executor = executor
        self._busy_timeout_ms = int(busy_timeout_s * 1000)
        self._lock = threading.Lock()
        self._queued: list[_Op] = []
        self._scheduled = False
        # The one connection, kept between transactions: checking it out of the pool and
        # back in for each cost more than an empty transaction on it. Whoever holds
        # ``_using`` uses it: the writer thread, or the loop writing a batch itself.
        self._conn: Connection | None = None
        self._using = threading.Lock()

    async def run(self, fn: Callable[[Connection], Any]) -> Any:
        loop = asyncio.get_running_loop()
        op = _Op(fn, loop.create_future(), loop)
        with self._lock:
            self._queued.append(op)
            schedule = not self._scheduled
            self._scheduled = True
        if schedule:
            self._executor.submit(self._drain)
        return await op.future

    async def run_here(self, fn: Callable[[Connection], Any]) -> Any:
        """``run(fn)``, written on the calling thread when the writer thread is idle and
        nothing is queued for it; queued as ``run`` does when it is busy, or when another
        connection holds the database's write lock. ``fn`` runs plain SQL only
        (``PlainSql``): here its transaction is the driver's, unknown to SQLAlchemy, whose
        ``conn.execute`` would try to begin another (and fail)."""
        with self._lock:
            here = not self._scheduled and self._using.acquire(blocking=False)
        if here:
            try:
                written, result = self._write_here(fn)
            finally:
                self._using.release()
            if written:
                return result
        return await self.run(fn)

    def _write_here(self, fn: Callable[[Connection], Any]) -> tuple[bool, Any]:
        """``fn(conn)`` in a transaction of the driver's own, so plain SQL only
        (``PlainSql``); SQLAlchemy's begin and commit cost more than SQLite's. ``(False,
        None)``, nothing written, when the transaction could not begin here."""
        conn = self._connection()
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        if not self._begin_without_waiting(conn, raw):
            return False, None
        try:
            result = fn(conn)
        except BaseException:
            with contextlib.suppress(DBAPIError):  # fn's own error says more
                self._end(conn, raw, "ROLLBACK")
            raise
        self._end(conn, raw, "COMMIT")
        return True, result

    def _begin_without_waiting(self, conn: Connection, raw: sqlite3.Connection) -> bool:
        """BEGIN IMMEDIATE, with SQLite's busy wait set to nothing for that one statement.
        False when another connection holds the write lock, and when the connection
        failed: then it is let go, and the writer thread's turn opens a new one (and meets
        the error, if it lasts, where the store maps it)."""
        try:
            raw.execute("PRAGMA busy_timeout=0")
            try:
                raw.execute("BEGIN IMMEDIATE")
            finally:
                raw.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
        except sqlite3.Error as exc:
            locked = isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
            if not locked or raw.in_transaction:
                conn.invalidate()
            return False
        return True

    @staticmethod
    def _end(conn: Connection, raw: sqlite3.Connection, statement: str) -> None:
        """COMMIT or ROLLBACK; when that fails the connection is let go (a transaction it
        might still hold goes with it) and the error leaves as SQLAlchemy's."""
        try:
            PlainSql(conn).count(statement, {})
        except DBAPIError:
            conn.invalidate()
            raise

    def _drain(self) -> None:
        """On the writer thread: every write queued so far, in one transaction."""
        # The connection first: a batch on the loop finds the writer busy from the moment
        # these writes leave the queue, and never commits ahead of them.
        with self._using:
            with self._lock:
                ops, self._queued = self._queued, []
                self._scheduled = False
            outcomes = self._write(ops)
        # Told only once the connection is free: a caller that writes again at once then
        # finds the writer idle instead of queueing behind the end of this drain.
        for op, (result, error) in zip(ops, outcomes, strict=True):
            try:
                op.loop.call_soon_threadsafe(_settle, op.future, result, error)
            except RuntimeError:  # the loop closed: nobody waits any more
                pass

    def _write(self, ops: list[_Op]) -> list[tuple[Any, BaseException | None]]:
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            conn = self._connection()
            with conn.begin():
                if len(ops) == 1:  # alone: its own transaction is its savepoint
                    outcomes.append((ops[0].fn(conn), None))
                else:
                    for op in ops:
                        try:
                            with conn.begin_nested():
                                outcomes.append((op.fn(conn), None))
                        except Exception as exc:
                            outcomes.append((None, exc))
        except BaseException as exc:  # not committed: nothing was written
            outcomes = [(None, exc)] * len(ops)
        return outcomes

    async def checkpoint_tail(self) -> None:
        """Checkpoint, on the writer thread between its transactions, whatever the log got
        since the checkpoint thread's pass: a few frames. A pass that runs beside the
        writer never catches up with it under steady load, and SQLite starts the log
        afresh only after a checkpoint that left nothing behind: without this last step
        the log grew for as long as the load lasted."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._checkpoint_on_writer)

    def _checkpoint_on_writer(self) -> None:
        with self._using:
            raw = self._connection().connection.driver_connection
            assert raw is not None
            raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _connection(self) -> Connection:
        if self._conn is not None and (self._conn.invalidated or self._conn.closed):
            self._conn.close()
            self._conn = None
        if self._conn is None:
            self._conn = self._engine.connect()
        return self._conn

    def close(self) -> None:
        """On the writer thread, after the last write: give the connection back."""
        with self._using:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
