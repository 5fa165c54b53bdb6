"""Paid support credits as the hub sees them: the balance shown live, the debit at a
human's first reply (or per started block of human time), the queue priority a paying
customer earns, and the conversation a paid-support order opens."""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import TYPE_CHECKING, Any

from chatserver.billing import ledger
from chatserver.billing.ledger import DebitStatus
from chatserver.bus import agent_channel, customer_channel
from chatserver.models import Conversation, Visitor
from chatserver.store import Append, now_ms
from chatserver.tasks import TaskSet

if TYPE_CHECKING:
    from chatserver.hub import Hub

log = logging.getLogger("livedesk.credits")

PAID_PRIORITY = 1
UNPAID_PRIORITY = 0


def customer_visitor_id(secret_key: str, customer_email: str) -> str:
    """A verified customer is one visitor on every device: a keyed hash of the e-mail, so
    ids reveal no address. (Tokens, not ids, are what authenticate a visitor.)"""
    digest = hmac.new(secret_key.encode(), customer_email.encode(), hashlib.sha256).hexdigest()
    return "c" + digest[:31]


class Credits:
    def __init__(self, hub: Hub, engine: Any, settings: Any) -> None:
        self.hub = hub
        self.store = hub.store
        self.engine = engine
        self.settings = settings
        self.tasks = TaskSet("credits")

    async def stop(self) -> None:
        await self.tasks.stop()

    async def balance(self, customer_email: str) -> int:
        return (await ledger.get_balance(self.engine, customer_email)).balance

    async def publish_balance(self, customer_email: str, balance: int) -> None:
        """The billing routes call this after every ledger change; so do we."""
        self.hub.publish(customer_channel(customer_email), {"type": "balance", "balance": balance})
        await self._tell_agent(customer_email, balance)

    async def _tell_agent(self, customer_email: str, balance: int) -> None:
        """The agent talking to the customer sees the same balance as the customer."""
        visitor_id = customer_visitor_id(self.settings.secret_key, customer_email)
        conv = await self.store.open_conversation_of(visitor_id)
        if conv is None or conv.agent_id is None:
            return
        self.hub.publish(
            agent_channel(conv.agent_id),
            {"type": "balance", "conversation_id": conv.id, "balance": balance},
        )

    async def priority(self, visitor_id: str) -> int | None:
        """Queue class for a new conversation; None: no human will come (bot only)."""
        visitor = await self.store.get_visitor(visitor_id)
        if visitor is not None and visitor.customer_email:
            if await self.balance(visitor.customer_email) > 0:
                return PAID_PRIORITY
        if self.settings.no_credit_policy == "bot_only":
            return None
        return UNPAID_PRIORITY

    # ------------------------------------------------------------------ debits

    def spawn_debit(self, conv_id: str) -> None:
        if self.settings.billing_mode == "per_conversation":
            self.tasks.spawn(self._debit_first_reply(conv_id))

    def spawn_close(self, conv: Conversation) -> None:
        if self.settings.billing_mode == "per_minutes":
            self.tasks.spawn(self._debit_human_time(conv))

    async def _customer_of(self, conv_id: str) -> str | None:
        conv = await self.store.get_conversation(conv_id)
        if conv is None:
            return None
        visitor = await self.store.get_visitor(conv.visitor_id)
        return visitor.customer_email if visitor else None

    async def _debit_first_reply(self, conv_id: str) -> None:
        email = await self._customer_of(conv_id)
        if email is None:
            return  # an unverified visitor spends nobody's credits
        result = await ledger.debit_for_conversation(self.engine, conv_id, email, now_ms())
        if result.status == DebitStatus.CHARGED:
            await self.publish_balance(email, result.balance)
        elif result.status == DebitStatus.INSUFFICIENT:
            self.hub.post_event(conv_id, "no_credits", {"shop_url": self.settings.shop_url})

    async def _debit_human_time(self, conv: Conversation) -> None:
        started = conv.first_human_reply_ms or conv.assigned_ms
        if started is None or conv.closed_ms is None:
            return  # no human ever answered: free
        email = await self._customer_of(conv.id)
        if email is None:
            return
        result = await ledger.debit_for_human_time(
            self.engine,
            conv.id,
            email,
            conv.closed_ms - started,
            self.settings.billing_block_minutes,
            now_ms(),
        )
        if result.charged:
            await self.publish_balance(email, result.balance)

    # ------------------------------------------------------------------ orders

    async def on_credits_granted(
        self, customer_email: str, order_number: str, credits: int
    ) -> None:
        """A paid-support order: open (or reuse) the customer's conversation with a note
        for the agent, queued like any other."""
        visitor_id = customer_visitor_id(self.settings.secret_key, customer_email)
        if await self.store.get_visitor(visitor_id) is None:
            ts = now_ms()
            await self.store.save_visitor(
                Visitor(
                    id=visitor_id,
                    site=self.settings.site_key,
                    created_ms=ts,
                    last_seen_ms=ts,
                    email=customer_email,
                    customer_email=customer_email,
                )
            )
        conv, created = await self.store.open_conversation(visitor_id, self.settings.site_key, None)
        self.hub.remember(conv)
        await self.store.append(
            Append(
                conversation_id=conv.id,
                author="system",
                kind="event",
                body="order",
                data={"note": f"Order #{order_number}: {credits} support sessions"},
            )
        )
        if created and self.hub.dispatch is not None:
            await self.hub.dispatch.conversation_waiting(conv)
