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
