from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from chatserver.demo import add_agent
from chatserver.settings import Settings
from tests.live import OPEN_CLIENTS, LiveServer

AGENT_PASSWORD = "correct horse battery staple"


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
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    seed_agents(settings, ("ana@example.com", "agent", 5), ("sam@example.com", "supervisor", 5))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()
