"""Small writes that arrive together share one SQLite transaction.

SQLite has one writer, so the store runs every write on one thread; in an arrival burst
each new conversation's own writes (opening it, assigning it) queued there one transaction
each, and the queue, not the work, made the wait. Here a write waits for the writer thread
as before, but when the thread reaches it, it takes every write queued by then and runs
them in one transaction, each in its own savepoint: one failing (a conflict, a duplicate)
is rolled back alone and its caller gets its exception; the others commit together, and
nobody hears of their outcome before that commit.

Only for SQLite: on PostgreSQL writers run side by side, and one transaction holding the
row locks of many unrelated operations in no fixed order could deadlock with another.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine


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

    def __init__(self, engine: Engine, executor: Executor) -> None:
        self._engine = engine
        self._executor = executor
        self._lock = threading.Lock()
        self._queued: list[_Op] = []
        self._scheduled = False
        # The writer thread's one connection, kept between transactions: checking it out of
        # the pool and back in for each cost more than an empty transaction on it.
        self._conn: Connection | None = None

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

    def _drain(self) -> None:
        """On the writer thread: every write queued so far, in one transaction."""
        with self._lock:
            ops, self._queued = self._queued, []
            self._scheduled = False
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
        for op, (result, error) in zip(ops, outcomes, strict=True):
            try:
                op.loop.call_soon_threadsafe(_settle, op.future, result, error)
            except RuntimeError:  # the loop closed: nobody waits any more
                pass

    async def checkpoint_tail(self) -> None:
        """Checkpoint, on the writer thread between its transactions, whatever the log got
        since the checkpoint thread's pass: a few frames. A pass that runs beside the
        writer never catches up with it under steady load, and SQLite starts the log
        afresh only after a checkpoint that left nothing behind: without this last step
        the log grew for as long as the load lasted."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._checkpoint_on_writer)

    def _checkpoint_on_writer(self) -> None:
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
        if self._conn is not None:
            self._conn.close()
            self._conn = None
