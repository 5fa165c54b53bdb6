"""Plain SQL straight on the asyncpg connection under a SQLAlchemy pool connection.

The group commit runs for every message. Through ``run_sync`` each of its statements went
through SQLAlchemy's compiler, a greenlet switch and the driver adapter; the batch's own
awaits here skip all three, and asyncpg keeps each statement prepared on its connection.
The connection still comes from (and goes back to) the engine's pool, and a driver error
leaves as the same SQLAlchemy exception the adapter would have raised (a dropped connection
invalidated first), which is what the store's error mapping reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import Pool, PoolProxiedConnection

# ``:name`` but not a ``::type`` cast.
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@functools.lru_cache(maxsize=256)
def positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with ``:name`` parameters as asyncpg's ``$n``, and the names in that order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _NAMED.sub(number, sql), tuple(names)


class PgDirect:
    """One asyncpg connection inside a transaction (``transaction()`` opens one)."""

    def __init__(self, fairy: PoolProxiedConnection, dialect: Dialect, pool: Pool) -> None:
        self._fairy = fairy
        self._dialect = dialect
        self._pool = pool
        self.pg: Any = fairy.driver_connection

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.pg.fetch(sql, *args)]

    async def execute(self, sql: str, *args: Any) -> None:
        await self.pg.execute(sql, *args)

    async def many(self, sql: str, params: Sequence[Mapping[str, Any]]) -> None:
        """A ``:named`` statement once per parameter set, in one round trip."""
        if params:
            text, names = positional(sql)
            await self.pg.executemany(text, [tuple(p[n] for n in names) for p in params])

    def error(self, exc: Exception) -> Exception:
        """What SQLAlchemy would have raised for this driver error."""
        adapter: Any = self._fairy.dbapi_connection
        dbapi_error: type[Exception] = self._dialect.loaded_dbapi.Error
        try:
            adapter._handle_exception(exc)
        except dbapi_error as translated:
            invalid = self._dialect.is_disconnect(translated, adapter, None)  # type: ignore[arg-type]
            if invalid:
                # As SQLAlchemy does on a disconnect: the whole pool, since the server that
                # dropped this connection most likely dropped the others too.
                self._pool._invalidate(self._fairy, translated)
            wrapped = sa.exc.DBAPIError.instance(
                None, None, translated, dbapi_error, connection_invalidated=invalid
            )
            return wrapped if isinstance(wrapped, Exception) else exc
        except Exception as other:  # not the driver's: as it came
            return other
        return exc


@contextlib.asynccontextmanager
async def connection(engine: AsyncEngine) -> AsyncIterator[PgDirect]:
    """A pool connection's asyncpg connection, outside any transaction: each statement
    commits as it ends unless the caller opens one (``direct.pg.transaction()``)."""
    async with engine.connect() as conn:
        direct = PgDirect(await conn.get_raw_connection(), conn.dialect, engine.sync_engine.pool)
        try:
            yield direct
        except sa.exc.SQLAlchemyError:
            raise
        except Exception as exc:
            mapped = direct.error(exc)
            if mapped is exc:
                raise
            raise mapped from exc


class KeptConnection:
    """One pool connection kept between the uses of a single user, one use at a time (the
    group commit, whose batches run one after another): a checkout and its return cost the
    event loop about as much as a statement's own round trip. After any error the
    connection goes back to the pool (invalidated if the server dropped it, see
    ``connection``) and the next use checks out another.

    Kept idle longer than ``idle_s``, it goes back to the pool before its next use, so that
    the pool's own rules (``pool_recycle``) apply to a quiet desk's connection as they did
    when every batch checked one out."""

    def __init__(self, engine: AsyncEngine, idle_s: float = 60.0) -> None:
        self._engine = engine
        self._idle_s = idle_s
        self._lock = asyncio.Lock()
        # The open ``connection`` context and what it gave.
        self._kept: tuple[contextlib.AbstractAsyncContextManager[PgDirect], PgDirect] | None = None
        self._used_at = 0.0

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[PgDirect]:
        async with self._lock:
            now = time.monotonic()
            if now - self._used_at > self._idle_s:
                await self._give_back()
            self._used_at = now
            if self._kept is None:
                opened = connection(self._engine)
                self._kept = (opened, await opened.__aenter__())
            held, direct = self._kept
            try:
                yield direct
            except BaseException as exc:
                self._kept = None
                # Raises the exception as ``connection`` maps it.
                await held.__aexit__(type(exc), exc, exc.__traceback__)
                raise

    async def close(self) -> None:
        async with self._lock:
            await self._give_back()

    async def _give_back(self) -> None:
        kept, self._kept = self._kept, None
        if kept is not None:
            await kept[0].__aexit__(None, None, None)
