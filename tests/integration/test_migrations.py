"""The Alembic chain builds exactly the tables the models describe, on both backends."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from chatserver.backends.db import make_engine, upgrade
from chatserver.backends.models import include_object, metadata


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    return request.getfixturevalue("postgres_url")


async def test_migrations_match_every_model(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    await asyncio.to_thread(upgrade, database_url)

    def diff(sync_conn: sa.Connection) -> list[object]:
        context = MigrationContext.configure(
            sync_conn, opts={"compare_type": False, "include_object": include_object}
        )
        return list(compare_metadata(context, metadata))

    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_search_docs_keep_only_the_indexes_a_search_reads(database_url: str) -> None:
    """Every indexed message updates each index of ``search_docs``: none on ``visitor_id``
    (no plan reads it), and one on ``conversation_id`` only on PostgreSQL, whose planner
    starts an agent's search from the agent's conversations (SQLite's starts from FTS5)."""
    await asyncio.to_thread(upgrade, database_url)

    def indexed_columns(sync_conn: sa.Connection) -> set[str]:
        indexes = sa.inspect(sync_conn).get_indexes("search_docs")
        return {col for ix in indexes for col in ix["column_names"] if col is not None}

    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            columns = await conn.run_sync(indexed_columns)
    finally:
        await engine.dispose()
    assert "visitor_id" not in columns
    assert ("conversation_id" in columns) == database_url.startswith("postgresql")
