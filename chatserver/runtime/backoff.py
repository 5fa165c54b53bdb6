"""The one backoff: exponential, capped; jittered where many wait on the same thing."""

from __future__ import annotations

import random


def exponential_s(attempt: int, base_s: float, cap_s: float) -> float:
    """The ``attempt``-th delay (1 for the first): ``base_s``, doubling, at most ``cap_s``.
    Deterministic, for a retry time that is stored (an outbox row's ``not_before``)."""
    return min(cap_s, base_s * 2.0 ** min(attempt - 1, 30))


class Backoff:
    """Exponential backoff with jitter (each delay drawn from the upper half of its step):
    many nodes or clients that lost the same server together must not all knock on it again
    at the same instant."""

    def __init__(self, base_s: float = 0.05, cap_s: float = 5.0) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = exponential_s(self.attempt + 1, self.base_s, self.cap_s)
        self.attempt = min(self.attempt + 1, 30)
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0
