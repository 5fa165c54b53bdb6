"""The one backoff: exponential, capped, jittered."""

from __future__ import annotations

import random


class Backoff:
    """Exponential backoff with jitter (each delay drawn from the upper half of its step):
    many nodes or clients that lost the same server together must not all knock on it again
    at the same instant."""

    def __init__(self, base_s: float = 0.05, cap_s: float = 5.0) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * (2**self.attempt))
        self.attempt = min(self.attempt + 1, 30)
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0
