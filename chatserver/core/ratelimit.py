"""Rate limits, in one place: a token bucket, the same bucket kept per key (an address, a
visitor), and the exponential back-off after failed logins. All in process memory: each hub
process limits what reaches it (see docs/operations.md on running several)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict

# How many keys a keyed limiter remembers: enough for every address of a busy site, small
# enough that a flood of fresh addresses cannot grow memory without bound (the oldest key
# is forgotten first, and a forgotten key starts with a full bucket again).
MAX_KEYS = 100_000


class TokenBucket:
    """Allows ``rate`` events a second with bursts of ``burst``."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def retry_after(self) -> float:
        """Seconds until the next event would be allowed."""
        if self.tokens >= 1.0 or self.rate <= 0:
            return 0.0
        return (1.0 - self.tokens) / self.rate


class KeyedLimiter:
    """One token bucket per key: ``per_min`` events a minute, a minute's worth in a burst.
    ``per_min`` 0 turns the limit off."""

    def __init__(self, per_min: float, max_keys: int = MAX_KEYS) -> None:
        self.rate = per_min / 60.0
        self.burst = max(1, math.ceil(per_min))
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def allow(self, key: str) -> bool:
        if self.rate <= 0:
            return True
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.allow()

    def retry_after(self, key: str) -> int:
        """Whole seconds to wait, for a Retry-After header (at least 1)."""
        bucket = self._buckets.get(key)
        return max(1, math.ceil(bucket.retry_after())) if bucket else 1


class Backoff:
    """Failures per key; after ``free`` of them in a row each further one blocks the key for
    ``base_s`` doubled per failure beyond the first blocked one, up to ``max_s``. A success
    clears the key. Failures older than ``max_s`` past their block are forgotten."""

    def __init__(self, free: int, base_s: float, max_s: float, max_keys: int = MAX_KEYS) -> None:
        self.free = free
        self.base_s = base_s
        self.max_s = max_s
        self.max_keys = max_keys
        # key -> (failures in a row, monotonic time the key is blocked until)
        self._state: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def blocked_for(self, key: str) -> float:
        """Seconds ``key`` must still wait; 0 when it may try."""
        entry = self._state.get(key)
        if entry is None:
            return 0.0
        failures, until = entry
        now = time.monotonic()
        if now >= until + self.max_s:
            del self._state[key]  # quiet for long enough: start afresh
            return 0.0
        return max(0.0, until - now)

    def failed(self, key: str) -> float:
        """Count a failure; returns the block it earned (0 while still under ``free``)."""
        failures = self._state.pop(key, (0, 0.0))[0] + 1
        block = 0.0
        if failures >= self.free:
            block = min(self.max_s, self.base_s * 2 ** (failures - self.free))
        self._state[key] = (failures, time.monotonic() + block)
        if len(self._state) > self.max_keys:
            self._state.popitem(last=False)
        return block

    def succeeded(self, key: str) -> None:
        self._state.pop(key, None)
