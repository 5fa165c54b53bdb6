"""Which store failures are outages (`unavailable`, retry) and which are the data's fault
(`invalid_field`, never retried): a client told to retry a value the database refuses
would retry it for ever (issue 13, item 1)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from chatserver.backends.store import _is_bad_data, _is_outage


class PgError(Exception):
    """What asyncpg's errors carry through SQLAlchemy: a SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def dbapi(sqlstate: str) -> DBAPIError:
    return DBAPIError("INSERT …", {}, PgError(sqlstate))


@pytest.mark.parametrize(
    "exc",
    [
        OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked")),
        InterfaceError("SELECT 1", {}, Exception("connection is closed")),
        ConnectionResetError(),
        PoolTimeout(),
        dbapi("08006"),  # connection failure
        dbapi("57P01"),  # admin shutdown
        dbapi("53300"),  # too many connections
        dbapi("40P01"),  # deadlock
        dbapi("55P03"),  # lock not available
    ],
)
def test_outages_are_retryable(exc: BaseException) -> None:
    assert _is_outage(exc) and not _is_bad_data(exc)


@pytest.mark.parametrize(
    "exc",
    [
        dbapi("22021"),  # NUL in PostgreSQL text
        dbapi("22000"),  # a lone surrogate through asyncpg
        UnicodeEncodeError("utf-8", "x\ud800", 1, 2, "surrogates not allowed"),  # sqlite3
    ],
)
def test_values_the_database_refuses_are_bad_data_never_outages(exc: BaseException) -> None:
    assert _is_bad_data(exc) and not _is_outage(exc)


@pytest.mark.parametrize(
    "exc",
    [
        IntegrityError("INSERT …", {}, Exception("UNIQUE constraint failed")),
        InterfaceError("INSERT …", {}, sqlite3.InterfaceError("Error binding parameter 1")),
        ValueError("a bug"),
    ],
)
def test_other_failures_are_neither(exc: BaseException) -> None:
    assert not _is_outage(exc) and not _is_bad_data(exc)
