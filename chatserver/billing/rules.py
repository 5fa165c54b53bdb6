"""Billing policy maths, pure: what to grant, reverse or charge, given what is already written.

Nothing here touches a database or a clock; ``ledger`` feeds it the current state under a lock
and writes what it returns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from chatserver.billing.errors import AmountOutOfRange, InvalidEmail
from chatserver.billing.woocommerce import Order, pack_key

GRANT_STATUSES = frozenset({"processing", "completed"})
REVERSE_STATUSES = frozenset({"refunded", "cancelled"})

BillingMode = Literal["per_conversation", "per_minutes"]

# Bounds on what one entry may move and what a balance may reach: far beyond any real pack
# or grant, and far below where a 64-bit column or SUM overflows (2^63 ≈ 9.2e18), so that
# no number of entries a shop could write makes a balance unreadable.
MAX_ENTRY_CREDITS = 1_000_000
MAX_BALANCE = 1_000_000_000


def normalise_email(raw: str) -> str:
    email = raw.strip().casefold()
    local, at, domain = email.partition("@")
    # Printable only: a control character or lone surrogate is no address, and PostgreSQL
    # text cannot even hold NUL.
    if (
        not at
        or not local
        or not domain
        or any(c.isspace() for c in email)
        or not email.isprintable()
        or len(email) > 320
    ):
        raise InvalidEmail(f"not an e-mail address: {raw!r}")
    return email


def check_amount(amount: int, balance: int) -> None:
    """Raise AmountOutOfRange unless an entry of ``amount`` on ``balance`` stays in bounds."""
    if abs(amount) > MAX_ENTRY_CREDITS:
        raise AmountOutOfRange(
            f"one entry moves at most {MAX_ENTRY_CREDITS} credits, not {abs(amount)}"
        )
    if balance + amount > MAX_BALANCE:
        raise AmountOutOfRange(f"a balance may not exceed {MAX_BALANCE} credits")


def plan_out_of_range(plan: OrderPlan, balance: int) -> str | None:
    """Why an order's grants are out of bounds (a line of 10^12 units, say), or None."""
    granted = 0
    for change in plan.changes:
        if change.amount > 0:
            try:
                check_amount(change.amount, balance + granted)
            except AmountOutOfRange as exc:
                return f"line {change.line_item_id}: {exc}"
            granted += change.amount
    return None


def blocks_for_human_time(human_ms: int, block_minutes: int) -> int:
    """Blocks charged for ``human_ms`` of human time: every started block counts."""
    if block_minutes <= 0:
        raise ValueError("block_minutes must be positive")
    if human_ms <= 0:
        return 0
    block_ms = block_minutes * 60_000
    return -(-human_ms // block_ms)


# --- idempotency keys: one place, so the hub, the CLI and the webhook never disagree ---------


def conversation_key(conversation_id: str) -> str:
    return f"conv:{conversation_id}"


def block_key(conversation_id: str, block: int) -> str:
    return f"conv:{conversation_id}:block:{block}"


def admin_key(action_id: str) -> str:
    return f"admin:{action_id}"


def source_tag(source: str) -> str:
    # Shop URLs can be long; keys stay short and still tell two shops apart.
    return hashlib.sha256(source.encode()).hexdigest()[:12]


def order_line_key(source: str, order_id: int, line_item_id: int, step: int) -> str:
    """The ``step``-th ledger entry for one order line (1, 2, ...).

    Written under the customer lock after counting the line's entries, so two writers that
    somehow raced would collide here instead of both writing.
    """
    return f"wc:{source_tag(source)}:{order_id}:{line_item_id}:{step}"


def order_flag_key(source: str, order_id: int, kind: str, detail: str = "") -> str:
    suffix = f":{hashlib.sha256(detail.encode()).hexdigest()[:12]}" if detail else ""
    return f"wc:{source_tag(source)}:{order_id}:{kind}{suffix}"


def support_request_key(source: str, order_id: int) -> str:
    return f"wc:{source_tag(source)}:{order_id}:support"


# --- orders ------------------------------------------------------------------------------


def line_credits(order: Order, packs: Mapping[str, int]) -> dict[int, int]:
    """Credits each line item is worth: pack credits per unit × quantity; unknown keys are 0."""
    return {item.id: packs.get(pack_key(item), 0) * item.quantity for item in order.line_items}


@dataclass(frozen=True, slots=True)
class StoredOrder:
    status: str
    modified_ms: int
    customer_email: str
    written_off: int


def is_stale(order: Order, stored: StoredOrder | None) -> bool:
    """Whether a delivery is older than what was already applied for its order.

    WooCommerce sends deliveries out of order; ``date_modified`` is the only clock it gives.
    It has second precision, so on a tie a refund/cancel wins over a grant: granting again
    after money went back is the worse mistake, and an admin can always grant by hand.
    """
    if stored is None:
        return False
    if order.modified_ms != stored.modified_ms:
        return order.modified_ms < stored.modified_ms
    return stored.status in REVERSE_STATUSES and order.status not in REVERSE_STATUSES


@dataclass(frozen=True, slots=True)
class LineChange:
    line_item_id: int
    amount: int  # positive: grant; negative: reversal


@dataclass(frozen=True, slots=True)
class OrderPlan:
    changes: tuple[LineChange, ...] = ()
    written_off: int = 0  # the order's new written-off total
    shortfall: int = 0  # credits this plan wanted to reverse but were already spent
    partial_refund: bool = False
    first_grant: int = 0  # credits, when this plan makes the order's grant non-zero


def plan_order(
    order: Order,
    packs: Mapping[str, int],
    granted: Mapping[int, int],
    balance: int,
    stored: StoredOrder | None,
) -> OrderPlan:
    """The entries that bring an order's net grant to what its status says it should be.

    ``granted`` is the net already written per line item (grants minus reversals), ``balance``
    the customer's balance now, ``stored`` what was last applied for the order. The result
    depends only on these, so replaying any delivery, in any order, converges.

    Reversal rule: on refunded/cancelled the order's whole remaining grant is reversed, but
    never more than the customer's balance: credits already spent stay spent. The part that
    could not be reversed is written off once (and flagged for an admin); later replays do not
    claw it back from credits bought since.
    """
    written_off = stored.written_off if stored is not None else 0
    if order.status in GRANT_STATUSES:
        targets = dict.fromkeys(granted, 0)
        targets.update(line_credits(order, packs))
        if stored is not None and stored.status in REVERSE_STATUSES:
            # Restored after a refund: the spent credits are paid for again.
            written_off = 0
    elif order.status in REVERSE_STATUSES:
        targets = dict.fromkeys(granted, 0)
    else:  # pending, on-hold, failed, ...: nothing paid, or nothing decided yet
        return OrderPlan(written_off=written_off)

    increases = [
        LineChange(line, target - granted.get(line, 0))
        for line, target in sorted(targets.items())
        if target > granted.get(line, 0)
    ]
    wanted = {
        line: granted.get(line, 0) - target
        for line, target in sorted(targets.items())
        if target < granted.get(line, 0)
    }
    to_skip = min(written_off, sum(wanted.values()))
    available = balance + sum(change.amount for change in increases)
    decreases: list[LineChange] = []
    shortfall = 0
    for line, amount in wanted.items():
        skipped = min(to_skip, amount)
        to_skip -= skipped
        taken = min(amount - skipped, available)
        available -= taken
        shortfall += amount - skipped - taken
        if taken:
            decreases.append(LineChange(line, -taken))

    net_before = sum(granted.values())
    net_after = net_before + sum(change.amount for change in increases + decreases)
    return OrderPlan(
        changes=tuple(increases + decreases),
        written_off=written_off + shortfall,
        shortfall=shortfall,
        partial_refund=order.status in GRANT_STATUSES and bool(order.refunds),
        first_grant=net_after if net_before <= 0 < net_after else 0,
    )
