"""Seeding: the demo's agents (and, as the rooms land, its knowledge base)."""

from __future__ import annotations

import asyncio

from chatserver.auth import hash_password
from chatserver.db import upgrade
from chatserver.models import Agent
from chatserver.settings import Settings
from chatserver.store import Store

DEMO_AGENTS = (
    ("ana@demo.livedesk", "Ana Novak", "demo-ana", "agent", "en,sl,sr"),
    ("marius@demo.livedesk", "Marius Popescu", "demo-marius", "supervisor", "en,ro,ru,lt"),
)


async def add_agent(
    settings: Settings,
    *,
    email: str,
    name: str,
    password: str,
    role: str = "agent",
    cap: int = 5,
    teams: str = "",
    languages: str = "",
) -> Agent:
    await asyncio.to_thread(upgrade, settings.database_url)
    store = Store(settings.database_url)
    try:
        return await store.add_agent(
            email, name, hash_password(password), role=role, cap=cap, teams=teams, languages=languages
        )
    finally:
        await store.stop()


async def seed_demo(settings: Settings) -> list[tuple[str, str, str]]:
    """Create the demo agents if missing; returns their logins to print."""
    await asyncio.to_thread(upgrade, settings.database_url)
    store = Store(settings.database_url)
    logins = []
    try:
        for email, name, password, role, languages in DEMO_AGENTS:
            if await store.get_agent_by_email(email) is None:
                await store.add_agent(
                    email, name, hash_password(password), role=role, languages=languages
                )
            logins.append((email, password, role))
    finally:
        await store.stop()
    return logins
