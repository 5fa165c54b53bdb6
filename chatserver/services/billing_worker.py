"""The billing worker: carries out what the billing outboxes say is owed, until it is done.

One per hub process, owned by the app's lifespan. It drains both outboxes of
``chatserver.billing.due`` — debits due and paid-support orders — whenever this process
made one due (``wake``) and every ``billing_poll_s`` for work another process left or a
failure postponed. An item that fails is tried again after a back-off that doubles up to
``billing_retry_s``; a failure of the whole pass (the database gone) backs off the same way
(the loop is ``runtime.outbox_worker``'s, shared with the mail worker).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.backends.store import now_ms
from chatserver.billing import due
from chatserver.billing.errors import BillingError
from chatserver.billing.ledger import support_requests
from chatserver.core.settings import Settings
from chatserver.runtime.outbox_worker import OutboxWorker

log = logging.getLogger("livedesk.billing")
CLAIM_BATCH = 20


class Settler(Protocol):
    """What the worker carries out; ``chatserver.services.credits.Credits`` in the app."""

    async def settle_debit(self, item: due.DueDebit) -> str: ...

    async def open_support(self, item: due.DueSupport) -> None: ...


class BillingWorker(OutboxWorker):
    def __init__(self, settler: Settler, engine: AsyncEngine, settings: Settings) -> None:
        super().__init__(
            "billing",
            log,
            poll_s=settings.billing.billing_poll_s,
            retry_s=settings.billing.billing_retry_s,
        )
        self.settler = settler
        self.engine = engine

    async def drain(self) -> None:
        """Until nothing is due that this process may take."""
        while await due.anything_due(self.engine, now_ms()):
            claimed_ms = now_ms()
            lease = self.retry_ms
            debits = await due.claim_debits(self.engine, claimed_ms, lease, CLAIM_BATCH)
            orders = await due.claim_support(self.engine, claimed_ms, lease, CLAIM_BATCH)
            if not debits and not orders:
                return  # another process claimed them in between
            deadline_ms = claimed_ms + lease // 2
            for i, debit in enumerate(debits):
                if now_ms() > deadline_ms:
                    await due.release(self.engine, due.billing_due, [d.id for d in debits[i:]])
                    break
                work = functools.partial(self.settler.settle_debit, debit)
                outcome = await self._carry_out(due.billing_due, debit.id, debit.attempts, work)
                if outcome is not None:
                    await due.finish_debit(self.engine, debit.id, outcome, now_ms())
            for i, order in enumerate(orders):
                if now_ms() > deadline_ms:
                    await due.release(self.engine, support_requests, [o.id for o in orders[i:]])
                    break
                work = functools.partial(_opened, self.settler, order)
                outcome = await self._carry_out(support_requests, order.id, order.attempts, work)
                if outcome is not None:
                    await due.finish_support(self.engine, order.id, now_ms())

    async def _carry_out(
        self, table: sa.Table, row_id: int, attempts: int, work: Callable[[], Awaitable[str]]
    ) -> str | None:
        """The item's outcome, or None when it failed and was postponed."""
        try:
            return await work()
        except asyncio.CancelledError:
            raise
        except BillingError as exc:
            # The ledger refused the item itself (an e-mail it cannot take, say): trying
            # again would change nothing. Kept, marked, for a human.
            log.error("billing item %s/%d refused: %s", table.name, row_id, exc)
            return f"refused:{type(exc).__name__}"
        except Exception as exc:
            wait_ms = self.retry_delay_ms(attempts)
            log.warning(
                "billing item %s/%d failed (attempt %d); again in %.1fs: %r",
                table.name,
                row_id,
                attempts,
                wait_ms / 1000,
                exc,
            )
            await due.retry_later(self.engine, table, row_id, repr(exc), now_ms() + wait_ms)
            return None


async def _opened(settler: Settler, order: due.DueSupport) -> str:
    await settler.open_support(order)
    return "opened"
