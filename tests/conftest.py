from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import RedisServer, postgres_database, redis_server


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "conformance: runs once per backend set, memory+sqlite and redis+postgres "
        "(tests/integration/conftest.py: backend)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps a loop on the main thread for the
    session, which would break the asyncio tests that came after it."""
    items.sort(key=lambda item: "tests/browser/" in str(item.path).replace("\\", "/"))


@pytest.fixture(scope="session")
def redis_srv() -> Iterator[RedisServer]:
    """A real redis-server of this test run's own, on a free loopback port."""
    with redis_server() as server:
        yield server


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database (plain postgresql:// URL), dropped afterwards."""
    with postgres_database() as url:
        yield url
