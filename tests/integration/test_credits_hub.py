"""Credits as visitors and agents live them: shown, debited once at the first human reply,
never someone else's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatserver.backends.db import make_engine
from chatserver.backends.store import now_ms
from chatserver.billing import ledger
from chatserver.core.hours import BusinessHours
from chatserver.live.auth import identity_hash
from tests.integration.conftest import Backend, add_agents
from tests.integration.test_hub_conversation import agent_client
from tests.live import LiveServer, connect_visitor, visitor_session

pytestmark = pytest.mark.conformance

BUYER = "buyer@example.com"


async def grant(server: LiveServer, email: str, amount: int) -> None:
    engine = make_engine(server.settings.server.database_url)
    try:
        await ledger.grant(engine, email, amount, key=f"test-grant-{email}", now_ms=now_ms())
    finally:
        await engine.dispose()


async def balance(server: LiveServer, email: str) -> int:
    engine = make_engine(server.settings.server.database_url)
    try:
        return (await ledger.get_balance(engine, email)).balance
    finally:
        await engine.dispose()


async def test_verified_customer_sees_credits_and_pays_once_at_the_first_human_reply(
    server: LiveServer,
) -> None:
    await grant(server, BUYER, 3)
    agent, _ = await agent_client(server)
    session = await visitor_session(
        server, email=BUYER, identity_hash=identity_hash("test-identity-secret", BUYER)
    )
    visitor, _ = await connect_visitor(server, token=session["token"])
    welcome = await visitor.recv_type("welcome")
    assert welcome["verified"] is True and welcome["credits"] == {"balance": 3}
    conv_id = (await visitor.send_text("I need help"))["conversation_id"]
    assigned = await agent.recv_type("assigned")
    assert assigned["conversation"]["visitor"]["customer_email"] == BUYER
    await agent.send_text("Happy to help", conversation_id=conv_id)
    assert (await visitor.recv_type("balance"))["balance"] == 2
    await agent.send_text("Anything else?", conversation_id=conv_id)
    await agent.send({"type": "close", "conversation_id": conv_id})
    await visitor.recv_type("event", event="closed")
    assert await balance(server, BUYER) == 2  # one conversation, one credit
    assert not visitor.drop("balance")  # and no second debit was announced


async def test_unverified_visitor_claiming_a_customers_email_gets_nothing_of_theirs(
    server: LiveServer,
) -> None:
    await grant(server, BUYER, 2)
    agent, _ = await agent_client(server)
    impostor = await visitor_session(server, email=BUYER, identity_hash="f" * 64)
    assert impostor["verified"] is False
    visitor, _ = await connect_visitor(server, token=impostor["token"])
    welcome = await visitor.recv_type("welcome")
    assert welcome["credits"] is None
    conv_id = (await visitor.send_text("charge the real buyer"))["conversation_id"]
    await agent.recv_type("assigned")
    await agent.send_text("Hello", conversation_id=conv_id)
    await visitor.recv_type("message", author="agent")
    assert await balance(server, BUYER) == 2
    assert not visitor.drop("balance")


async def test_bot_only_policy_keeps_a_visitor_without_credits_from_the_queue(
    backend: Backend,
) -> None:
    settings = backend.settings(no_credit_policy="bot_only")
    await add_agents(settings, ("ana@example.com", "agent", 5))
    server = LiveServer(settings).start()
    try:
        agent, _ = await agent_client(server)
        visitor, _ = await connect_visitor(server)
        await visitor.recv_type("welcome")
        await visitor.send_text("help me for free")
        greeting = await visitor.recv_type("message", author="bot")
        assert greeting["bot_kind"] == "greeting"
        # An assignment would have reached the agent before the bot spoke; a ping's answer
        # comes after anything already queued for the agent.
        await agent.send({"type": "ping"})
        await agent.recv_type("pong")
        assert not agent.drop("assigned")
    finally:
        server.stop()


def test_business_hours_follow_days_windows_holidays_and_timezone() -> None:
    hours = BusinessHours.parse(
        "mon-fri 08:00-17:00; sat 09:00-12:00", ["2026-12-25"], "Europe/Ljubljana"
    )
    assert hours is not None
    at = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
    assert hours.is_open(at(2026, 11, 23, 7, 30))  # Monday 08:30 in Ljubljana
    assert not hours.is_open(at(2026, 11, 23, 16, 30))  # 17:30 local: closed
    assert hours.is_open(at(2026, 11, 28, 10, 0))  # Saturday 11:00 local
    assert not hours.is_open(at(2026, 11, 29, 10, 0))  # Sunday
    assert not hours.is_open(at(2026, 12, 25, 10, 0))  # a holiday on a Friday
    assert BusinessHours.parse(None, [], "UTC") is None
