"""What stands between a password form and argon2: back-off per client address and per
account after failed logins, verification on a bounded pool (a burst of logins is refused
at once instead of queueing in front of a real one), and the same argon2 work for an
e-mail that names nobody as for one that names an agent, so timing does not tell them apart."""

from __future__ import annotations

import secrets
from functools import cache

from chatserver.core.ratelimit import Backoff
from chatserver.core.settings import Settings
from chatserver.live.auth import hash_password, normalise_email, verify_password
from chatserver.runtime import metrics
from chatserver.runtime.workers import BoundedPool


@cache
def dummy_hash() -> str:
    """A hash of a password nobody knows, with the same parameters as agents' hashes."""
    return hash_password(secrets.token_urlsafe(24))


def _verify(password_hash: str | None, password: str) -> bool:
    # ``None``: no such agent; the dummy is verified instead, so the work is the same.
    ok = verify_password(password_hash or dummy_hash(), password)
    return ok and password_hash is not None


def _account(email: str) -> str:
    return normalise_email(email)[:320]  # a key, not the address: bounded, whatever was sent


class LoginGuard:
    def __init__(self, settings: Settings) -> None:
        self._by_address = Backoff(
            settings.edge.login_free_failures,
            settings.edge.login_backoff_s,
            settings.edge.login_backoff_max_s,
        )
        self._by_account = Backoff(
            settings.edge.login_free_failures,
            settings.edge.login_backoff_s,
            settings.edge.login_backoff_max_s,
        )
        self.pool = BoundedPool(
            "password", settings.edge.password_workers, settings.edge.password_queue
        )

    def blocked_for(self, address: str | None, email: str) -> float:
        """Seconds this address or account must still wait before it may try."""
        waits = [self._by_account.blocked_for(_account(email))]
        if address is not None:
            waits.append(self._by_address.blocked_for(address))
        return max(waits)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """argon2 on the pool; raises ``workers.Busy`` when the pool is full."""
        outcome = await self.pool.run(_verify, password_hash, password)
        metrics.PASSWORD_CHECKS.labels(account="known" if password_hash else "unknown").inc()
        return outcome

    def failed(self, address: str | None, email: str) -> None:
        self._by_account.failed(_account(email))
        if address is not None:
            self._by_address.failed(address)

    def succeeded(self, email: str) -> None:
        # The address keeps its failures: one account of the attacker's own must not wipe
        # the record of guesses at others.
        self._by_account.succeeded(_account(email))

    def stop(self) -> None:
        self.pool.shutdown()
