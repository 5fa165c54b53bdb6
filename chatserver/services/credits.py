"""Paid support credits as the hub sees them: the balance shown live, the debit at a
human's first reply (or per started block of human time), the queue priority a paying
customer earns, and the conversation a paid-support order opens."""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import TYPE_CHECKING, Any

from chatserver.backends.bus import agent_channel, customer_channel
from chatserver.backends.models import Conversation, Visitor
from chatserver.backends.store import Append, now_ms
from chatserver.billing import due, ledger
from chatserver.billing.due import DueDebit, DueSupport
from chatserver.billing.ledger import DebitStatus
from chatserver.core.settings import Settings
from chatserver.services.billing_worker import BillingWorker

if TYPE_CHECKING:
    from chatserver.services.hub import Hub

log = logging.getLogger("livedesk.credits")

NOT_BILLED = "not_billed"  # due under the other billing mode: nothing to charge
PAID_PRIORITY = 1
UNPAID_PRIORITY = 0


def customer_visitor_id(secret_key: str, customer_email: str) -> str:
    """A verified customer is one visitor on every device: a keyed hash of the e-mail, so
    ids reveal no address. (Tokens, not ids, are what authenticate a visitor.)"""
    digest = hmac.new(secret_key.encode(), customer_email.encode(), hashlib.sha256).hexdigest()
    return "c" + digest[:31]


class Credits:
    def __init__(self, hub: Hub, engine: Any, settings: Settings) -> None:
        self.hub = hub
        self.store = hub.store
        self.engine = engine
        self.settings = settings
        self.worker = BillingWorker(self, engine, settings)

    def start(self) -> None:
        self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()

    async def balance(self, customer_email: str) -> int:
        return (await ledger.get_balance(self.engine, customer_email)).balance

    async def publish_balance(self, customer_email: str, balance: int) -> None:
        """The billing routes call this after every ledger change; so do we."""
        self.hub.publish(customer_channel(customer_email), {"type": "balance", "balance": balance})
        await self._tell_agent(customer_email, balance)

    async def _tell_agent(self, customer_email: str, balance: int) -> None:
        """The agent talking to the customer sees the same balance as the customer."""
        visitor_id = customer_visitor_id(self.settings.security.secret_key, customer_email)
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
        if self.settings.billing.no_credit_policy == "bot_only":
            return None
        return UNPAID_PRIORITY

    # ------------------------------------------------------------------ debits
    # The store records a debit as due in the transaction of the reply or close that makes
    # it due (``chatserver.billing.due``); these only wake the worker to carry it out now.

    def spawn_debit(self, conv_id: str) -> None:
        self.worker.wake()

    def spawn_close(self, conv: Conversation) -> None:
        self.worker.wake()

    async def settle_debit(self, item: DueDebit) -> str:
        """Carry out one due debit; the outcome to record. Raises to be tried again."""
        if item.kind == due.REPLY:
            if self.settings.billing.billing_mode != "per_conversation":
                return NOT_BILLED
            return await self._debit_first_reply(item)
        if self.settings.billing.billing_mode != "per_minutes":
            return NOT_BILLED
        return await self._debit_human_time(item)

    async def _debit_first_reply(self, item: DueDebit) -> str:
        result = await ledger.debit_for_conversation(
            self.engine, item.conversation_id, item.customer_email, now_ms()
        )
        if result.status == DebitStatus.CHARGED:
            await self.publish_balance(result.customer_email, result.balance)
        elif result.status == DebitStatus.INSUFFICIENT:
            await self._system_event(
                item.conversation_id,
                "no_credits",
                {"shop_url": self.settings.billing.shop_url},
                f"billing:{item.id}",
            )
        return result.status.value

    async def _debit_human_time(self, item: DueDebit) -> str:
        conv = await self.store.get_conversation(item.conversation_id)
        if conv is None or conv.closed_ms is None:
            return DebitStatus.NOT_DUE.value
        started = conv.first_human_reply_ms or conv.assigned_ms
        if started is None:
            return DebitStatus.NOT_DUE.value  # no human ever answered: free
        result = await ledger.debit_for_human_time(
            self.engine,
            conv.id,
            item.customer_email,
            conv.closed_ms - started,
            self.settings.billing.billing_block_minutes,
            now_ms(),
        )
        if result.charged:
            await self.publish_balance(result.customer_email, result.balance)
        return result.status.value

    async def _system_event(
        self, conv_id: str, event: str, data: dict[str, Any], once_key: str
    ) -> None:
        """A system event stored at most once however often its item is retried: the key
        is its client message id, which the store deduplicates."""
        await self.store.append(
            Append(
                conversation_id=conv_id,
                author="system",
                kind="event",
                body=event,
                data=data,
                client_msg_id=once_key,
                allow_closed=True,
            )
        )

    # ------------------------------------------------------------------ orders

    async def on_credits_granted(
        self, customer_email: str, order_number: str, credits: int
    ) -> None:
        """The webhook's hook: its order is already in the support-request outbox, written
        with the grant; the worker opens the conversation."""
        self.worker.wake()

    async def open_support(self, item: DueSupport) -> None:
        """A paid-support order: open (or reuse) the customer's conversation with a note
        for the agent, queued like any other. Safe to run again for the same order."""
        visitor_id = customer_visitor_id(self.settings.security.secret_key, item.customer_email)
        if await self.store.get_visitor(visitor_id) is None:
            ts = now_ms()
            await self.store.save_visitor(
                Visitor(
                    id=visitor_id,
                    site=self.settings.security.site_key,
                    created_ms=ts,
                    last_seen_ms=ts,
                    email=item.customer_email,
                    customer_email=item.customer_email,
                )
            )
        conv, created = await self.store.open_conversation(
            visitor_id, self.settings.security.site_key, None
        )
        self.hub.remember(conv)
        await self._system_event(conv.id, "order", {"note": item.note}, f"order:{item.id}")
        # A retry may find the conversation an earlier attempt opened but never queued; the
        # router ignores (and logs) a second enqueue of one it already has.
        if (created or item.attempts > 1) and self.hub.dispatch is not None:
            await self.hub.dispatch.conversation_waiting(conv)
