"""Login throttling (issue 13, item 4): back-off per address and per account, the same
argon2 work for unknown and known e-mails, and a bounded argon2 pool that refuses when full.
Nothing here is timed: the back-off is waited out by asking the guard how long is left."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import AGENT_PASSWORD, make_settings, seed_agents
from tests.live import LiveServer

EMAIL = "ana@example.com"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    settings = make_settings(
        tmp_path,
        login_free_failures=3,
        login_backoff_s=0.2,
        login_backoff_max_s=5.0,
        password_workers=1,
        password_queue=0,
    )
    seed_agents(settings, (EMAIL, "agent", 5))
    server = LiveServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


async def attempt(
    http: httpx.AsyncClient, password: str, email: str = EMAIL, via: str | None = None
) -> httpx.Response:
    # 127.0.0.1 is a trusted proxy by default: X-Forwarded-For names the client.
    headers = {"x-forwarded-for": via} if via else {}
    return await http.post("/login", json={"email": email, "password": password}, headers=headers)


async def backoff_passed(server: LiveServer, address: str | None, email: str = EMAIL) -> None:
    guard = server.app.state.login_guard
    left = guard.blocked_for(address, email)
    assert 0 < left <= 10
    await asyncio.sleep(left + 0.05)  # the back-off the guard itself reports, not a guess
    assert guard.blocked_for(address, email) == 0


async def test_wrong_passwords_back_off_and_then_even_the_right_one_waits(
    live: LiveServer,
) -> None:
    async with httpx.AsyncClient(base_url=live.url) as http:
        for _ in range(3):
            assert (await attempt(http, "wrong password", via="198.51.100.1")).status_code == 401
        refused = await attempt(http, AGENT_PASSWORD, via="198.51.100.1")
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        await backoff_passed(live, "198.51.100.1")
        assert (await attempt(http, AGENT_PASSWORD, via="198.51.100.1")).status_code == 200


async def test_the_account_backs_off_whatever_address_the_guesses_come_from(
    live: LiveServer,
) -> None:
    async with httpx.AsyncClient(base_url=live.url) as http:
        for i in range(3):
            assert (await attempt(http, "wrong", via=f"198.51.100.{i + 10}")).status_code == 401
        assert (await attempt(http, AGENT_PASSWORD, via="198.51.100.99")).status_code == 429
        # Another account from a fresh address is not affected.
        other = await attempt(http, "x", email="nobody@example.com", via="198.51.100.98")
        assert other.status_code == 401


async def test_the_address_backs_off_across_accounts(live: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live.url) as http:
        for i in range(3):
            r = await attempt(http, "wrong", email=f"guess{i}@example.com", via="198.51.100.7")
            assert r.status_code == 401
        assert (await attempt(http, AGENT_PASSWORD, via="198.51.100.7")).status_code == 429
        assert (await attempt(http, AGENT_PASSWORD, via="198.51.100.8")).status_code == 200


def password_checks(metrics_text: str, account: str) -> float:
    pattern = rf'^livedesk_password_checks_total{{account="{account}"}} (\S+)$'
    found = re.search(pattern, metrics_text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_an_unknown_email_goes_through_argon2_like_a_known_one(live: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live.url) as http:
        before = (await http.get("/metrics")).text
        assert (await attempt(http, "wrong", email="nobody@example.com")).status_code == 401
        assert (await attempt(http, "wrong")).status_code == 401
        after = (await http.get("/metrics")).text
    for account in ("unknown", "known"):
        assert password_checks(after, account) == password_checks(before, account) + 1, account


async def test_a_full_password_pool_refuses_at_once_and_recovers(live: LiveServer) -> None:
    pool = live.app.state.login_guard.pool
    release = threading.Event()
    held = [pool.try_submit(release.wait, 10) for _ in range(pool.capacity)]
    try:
        async with httpx.AsyncClient(base_url=live.url) as http:
            busy = await attempt(http, AGENT_PASSWORD)
            assert busy.status_code == 503
            assert busy.headers["retry-after"] == "1"
            release.set()
            await asyncio.wait_for(asyncio.gather(*map(asyncio.wrap_future, held)), 10)
            assert (await attempt(http, AGENT_PASSWORD)).status_code == 200
    finally:
        release.set()
