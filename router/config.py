"""The router's settings: one frozen object, checked once at construction."""

from __future__ import annotations

from dataclasses import dataclass

from router.model import Policy, validate_cap


@dataclass(frozen=True, slots=True)
class RouterConfig:
    policy: Policy = "least_loaded"
    default_cap: int = 5
    auto_accept: bool = True
    accept_timeout_s: float = 30.0
    disconnect_grace_s: float = 30.0
    # None: a conversation waits for its language forever.
    language_fallback_s: float | None = 60.0
    # None (the default): no reassignment when the agent never replies. Teams told us a
    # chat taken from under a typing agent costs more than a slow first reply; turn it on
    # deliberately. Typing or a draft in the console counts as work and restarts it.
    first_reply_timeout_s: float | None = None
    # The agent is warned, naming the chat, this long before it moves (0: no warning).
    first_reply_warning_s: float = 20.0
    # One priority class is worth this many seconds of waiting; None: strict priority
    # (a low class can then starve while higher ones keep arriving).
    aging_s_per_class: float | None = 120.0
    # None: parked chats count as a full slot (the default).
    parked_after_s: float | None = None
    parked_weight: float = 0.5
    # An agent who let an offer pass (declined it or let it time out) is not offered that
    # conversation again for this long; None: never again, and a visitor every agent has
    # passed on then waits for ever.
    reoffer_after_s: float | None = 60.0
    # After the shared ledger refuses an agent (another node filled them) we stop offering
    # to that agent for this long, instead of hammering Redis with doomed reservations.
    ledger_backoff_s: float = 5.0
    # Positions are pushed at once for this many visitors at the head of a changed queue;
    # the rest are refreshed every ``queue_refresh_s`` so one dispatch never costs O(queue).
    eager_positions: int = 5
    queue_refresh_s: float | None = 5.0
    refresh_chunk: int = 250
    eta_granularity_s: float = 10.0
    # Prior for the mean handle time until real ones arrive; smoothed with this weight.
    default_handle_s: float = 480.0
    handle_ewma_alpha: float = 0.05

    def __post_init__(self) -> None:
        if self.policy not in ("least_loaded", "round_robin"):
            raise ValueError(f"unknown policy {self.policy!r}")
        validate_cap(self.default_cap)
        if self.accept_timeout_s <= 0:
            raise ValueError("accept_timeout_s must be positive")
        if self.reoffer_after_s is not None and self.reoffer_after_s <= 0:
            raise ValueError("reoffer_after_s must be positive or None")
        if self.disconnect_grace_s < 0:
            raise ValueError("disconnect_grace_s must not be negative")
        if not 0.0 <= self.parked_weight <= 1.0:
            raise ValueError("parked_weight must be within 0..1")
        if self.first_reply_warning_s < 0:
            raise ValueError("first_reply_warning_s must not be negative")
        if self.refresh_chunk < 1:
            raise ValueError("refresh_chunk must be positive")
        if self.eager_positions < 0:
            raise ValueError("eager_positions must not be negative")
        if self.eta_granularity_s <= 0 or self.default_handle_s <= 0:
            raise ValueError("eta_granularity_s and default_handle_s must be positive")
        if not 0.0 < self.handle_ewma_alpha <= 1.0:
            raise ValueError("handle_ewma_alpha must be within (0, 1]")
        for name in ("language_fallback_s", "first_reply_timeout_s", "parked_after_s"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative")
        if self.aging_s_per_class is not None and self.aging_s_per_class <= 0:
            raise ValueError("aging_s_per_class must be positive or None")
