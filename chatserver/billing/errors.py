"""Billing's exceptions, all under the one livedesk base."""

from __future__ import annotations

from chatserver.core.errors import LivedeskError


class BillingError(LivedeskError):
    """Base of billing's errors."""


class InvalidEmail(BillingError):
    """Not something a customer can be identified by."""


class InvalidAmount(BillingError):
    """A grant or adjustment of zero, or of the wrong sign."""


class AmountOutOfRange(InvalidAmount):
    """An entry larger than one entry may move, or a balance past its bound; nothing written."""


class InsufficientCredit(BillingError):
    """The entry would take the balance below zero; nothing was written."""


class IdempotencyConflict(BillingError):
    """The idempotency key was already used for a different entry."""


class MalformedPayload(BillingError):
    """A webhook body that is not the order JSON it claims to be."""


class InvalidPacks(BillingError):
    """The credit packs file is unreadable or not ``{"key": positive int}``."""
