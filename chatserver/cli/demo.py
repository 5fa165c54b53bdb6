"""Seeding: the demo's agents (and, as the rooms land, its knowledge base)."""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path

from chatserver.backends.db import upgrade
from chatserver.backends.models import Agent
from chatserver.backends.store import Store
from chatserver.core.settings import Settings
from chatserver.live.auth import hash_password
from chatserver.services.assist import Assistant
from kb.cli import load_articles
from kb.io import read_canned_jsonl

DEMO_DATA = Path(str(resources.files("kb") / "data"))
DEMO_ARTICLES = DEMO_DATA / "demo_articles.jsonl"
DEMO_CANNED = DEMO_DATA / "demo_canned.jsonl"
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
    await asyncio.to_thread(upgrade, settings.server.database_url)
    store = Store(settings.server.database_url)
    try:
        return await store.add_agent(
            email,
            name,
            hash_password(password),
            role=role,
            cap=cap,
            teams=teams,
            languages=languages,
        )
    finally:
        await store.stop()


async def seed_demo(settings: Settings) -> list[tuple[str, str, str]]:
    """Create the demo agents and knowledge base if missing; returns the logins to print."""
    await asyncio.to_thread(upgrade, settings.server.database_url)
    store = Store(settings.server.database_url)
    logins = []
    try:
        for email, name, password, role, languages in DEMO_AGENTS:
            if await store.get_agent_by_email(email) is None:
                await store.add_agent(
                    email, name, hash_password(password), role=role, languages=languages
                )
            logins.append((email, password, role))
        assist = Assistant(store)
        await assist.load()
        if not len(assist.index):
            await import_kb(assist, DEMO_ARTICLES, DEMO_CANNED)
        await assist.stop()
    finally:
        await store.stop()
    return logins


async def import_kb(
    assist: Assistant, articles: Path | None = None, canned: Path | None = None
) -> tuple[int, int]:
    """Articles (JSON Lines, CSV or a folder of Markdown) and canned replies (JSON Lines)
    into the store and the index; existing ids are updated."""
    loaded = load_articles(str(articles)) if articles else []
    replies = read_canned_jsonl(canned) if canned else []
    for article in loaded:
        await assist.save_article(article)
    for reply in replies:
        await assist.save_canned(reply)
    return len(loaded), len(replies)
