"""Plain SQL with ``:named`` parameters on a connection inside its transaction (a
multi-row insert, ``insert_rows``, takes its rows as mappings).

On SQLite the statements run straight on the driver's connection (same connection, same
transaction): the group commit runs them for every message, and in py-spy profiles of
the hub under load SQLAlchemy's execution path (execution contexts, parameter processing,
result metadata) cost about as much as SQLite's own work. Elsewhere they go through SQLAlchemy, which turns the
named parameters into the driver's style. Either way a driver error leaves as
SQLAlchemy's exception of the same kind, which is what the store's error mapping reads.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection


@functools.lru_cache(maxsize=512)
def _text(sql: str) -> sa.TextClause:
    return sa.text(sql)


def in_list(prefix: str, values: Sequence[Any], params: dict[str, Any]) -> str:
    """``(:prefix0, :prefix1, ...)`` for an ``IN``, the values added to ``params``."""
    names = []
    for i, value in enumerate(values):
        params[f"{prefix}{i}"] = value
        names.append(f":{prefix}{i}")
    return "(" + ", ".join(names) + ")"


@functools.lru_cache(maxsize=64)
def _values_shape(prefix: str, rows: int, columns: int) -> tuple[str, tuple[str, ...]]:
    names = tuple(f"{prefix}{i}_{j}" for i in range(rows) for j in range(columns))
    groups = (
        "(" + ", ".join(f":{n}" for n in names[i * columns : (i + 1) * columns]) + ")"
        for i in range(rows)
    )
    return ", ".join(groups), names


@functools.lru_cache(maxsize=64)
def _positional_shape(rows: int, columns: int) -> str:
    return ", ".join(["(" + ", ".join("?" * columns) + ")"] * rows)


def _values_rows(
    prefix: str,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    params: dict[str, Any],
) -> str:
    """``(:prefix0_0, :prefix0_1, ...), (:prefix1_0, ...)``: the rows' ``columns`` as one
    multi-row ``VALUES``, the values added to ``params``."""
    sql, names = _values_shape(prefix, len(rows), len(columns))
    params.update(zip(names, (row[column] for row in rows for column in columns), strict=True))
    return sql


class PlainSql:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.raw: sqlite3.Connection | None = (
            conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
        )

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        if self.raw is None:
            return [dict(r._mapping) for r in self.conn.execute(_text(sql), params)]
        try:
            cursor = self.raw.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except sqlite3.Error as exc:
            raise _wrapped(sql, params, exc) from exc

    def count(self, sql: str, params: Mapping[str, Any]) -> int:
        """Run one statement; the rows it changed."""
        if self.raw is None:
            return int(self.conn.execute(_text(sql), params).rowcount)
        try:
            return int(self.raw.execute(sql, params).rowcount)
        except sqlite3.Error as exc:
            raise _wrapped(sql, params, exc) from exc

    def many(self, sql: str, params: Sequence[Mapping[str, Any]]) -> None:
        if self.raw is None:
            self.conn.execute(_text(sql), list(params))
            return
        try:
            self.raw.executemany(sql, params)
        except sqlite3.Error as exc:
            raise _wrapped(sql, params, exc) from exc

    def insert_rows(
        self, insert: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """``insert`` (``INSERT INTO t (columns) VALUES ``) with ``rows`` as one multi-row
        ``VALUES``. One statement for all the rows: the driver lets go of the GIL once for
        it instead of once for each row (executemany), and each time the writer thread
        wants the GIL back it waits while the event loop holds it.

        On SQLite the values are bound by position: binding a named
        parameter looks its name up among all of the statement's names, so a chunk of
        50 rows of 7 columns made 350 lookups through 350 names, and the
        ``sqlite3VListNumToName`` of that was 1% of a loaded hub's CPU in perf."""
        if self.raw is None:
            params: dict[str, Any] = {}
            self.count(insert + _values_rows("v", columns, rows, params), params)
            return
        sql = insert + _positional_shape(len(rows), len(columns))
        values = tuple(row[column] for row in rows for column in columns)
        try:
            self.raw.execute(sql, values)
        except sqlite3.Error as exc:
            raise _wrapped(sql, values, exc) from exc


def _wrapped(sql: str, params: Any, exc: sqlite3.Error) -> sa.exc.DBAPIError:
    wrapped = sa.exc.DBAPIError.instance(sql, params, exc, sqlite3.Error)
    assert isinstance(wrapped, sa.exc.DBAPIError)
    return wrapped
