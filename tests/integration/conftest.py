from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chatserver.backends.db import upgrade
from chatserver.cli.demo import add_agent
from chatserver.core.settings import Settings
from tests.live import OPEN_CLIENTS, LiveServer
from tests.servers import postgres_database

AGENT_PASSWORD = "correct horse battery staple"

# The two backend sets the conformance suite runs against (issue 8): the embedded default,
# and what a cluster runs on. Test ids end in ``[memory+sqlite]`` / ``[redis+postgres]``.
MEMORY_SQLITE = "memory+sqlite"
REDIS_POSTGRES = "redis+postgres"
BACKENDS = (
    pytest.param(MEMORY_SQLITE, id=MEMORY_SQLITE),
    pytest.param(
        REDIS_POSTGRES, id=REDIS_POSTGRES, marks=[pytest.mark.redis, pytest.mark.postgres]
    ),
)


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": f"sqlite:///{tmp_path / 'livedesk.db'}",
        "secret_key": "test-secret-key-for-livedesk-tests",
        "identity_secret": "test-identity-secret",
        "group_commit_max_delay_ms": 1.0,
        "disconnect_grace_s": 30.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Backend:
    """One backend set: where the store lives and, for a cluster, the Redis it shares."""

    name: str
    tmp_path: Path
    database_url: str | None = None  # None: a SQLite file under tmp_path
    redis_url: str | None = None  # None: in-process bus, presence and capacity ledger

    def settings(self, **overrides: object) -> Settings:
        """``make_settings`` on this backend set; overrides win."""
        values: dict[str, object] = {}
        if self.database_url is not None:
            values["database_url"] = self.database_url
        if self.redis_url is not None:
            values["redis_url"] = self.redis_url
        values.update(overrides)
        return make_settings(self.tmp_path, **values)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules marked ``conformance`` run every test that reaches ``backend`` (directly or
    through ``settings``/``server``) once per backend set; other modules stay on the
    embedded default."""
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("conformance"):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The backend set under test: memory+sqlite unless the module is a conformance one.

    redis+postgres gets a fresh, migrated PostgreSQL database and an empty Redis (the run's
    own redis-server, flushed; never the machine's). Missing servers skip, or fail under CI."""
    name = getattr(request, "param", MEMORY_SQLITE)
    if name == MEMORY_SQLITE:
        return Backend(name, tmp_path)
    redis_srv = request.getfixturevalue("redis_srv")
    template = request.getfixturevalue("migrated_postgres")
    from redis import Redis

    # Cluster keys (leader lease, presence, capacity, routing queue) have a fixed prefix:
    # a previous test's leftovers would be taken for live nodes.
    with Redis.from_url(redis_srv.url) as redis:
        redis.flushdb()
    _empty_database(template)
    return Backend(name, tmp_path, template, redis_srv.url)


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[str]:
    """A PostgreSQL database migrated to head once per run, emptied before each
    redis+postgres test (TRUNCATE, where a fresh database per test would cost a forced
    checkpoint on every DROP, stalling every other commit on the server). The app migrates
    only SQLite itself; PostgreSQL is migrated by the release step (`livedesk db upgrade`),
    which this stands for."""
    with postgres_database() as url:
        upgrade(url)
        yield url


def _empty_database(url: str) -> None:
    """Every table but Alembic's emptied, identities restarted: as migrated, nothing in it."""
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            tables = [
                r["tablename"]
                for r in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            ]
            names = ", ".join(f'"{t}"' for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        finally:
            await conn.close()

    asyncio.run(run())


async def add_agents(settings: Settings, *specs: tuple[str, str, int]) -> None:
    """(email, role, cap) each, with AGENT_PASSWORD."""
    for email, role, cap in specs:
        await add_agent(
            settings,
            email=email,
            name=email.split("@")[0].title(),
            password=AGENT_PASSWORD,
            role=role,
            cap=cap,
        )


def seed_agents(settings: Settings, *specs: tuple[str, str, int]) -> None:
    asyncio.run(add_agents(settings, *specs))


@pytest.fixture(autouse=True)
async def close_clients() -> AsyncIterator[None]:
    yield
    while OPEN_CLIENTS:
        await OPEN_CLIENTS.pop().close()


@pytest.fixture
def settings(backend: Backend) -> Settings:
    return backend.settings()


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    seed_agents(settings, ("ana@example.com", "agent", 5), ("sam@example.com", "supervisor", 5))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()
