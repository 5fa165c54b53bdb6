"""The one limiter module: keyed token buckets, the login back-off, the bounded pool."""

from __future__ import annotations

import threading

import pytest

from chatserver.core.ratelimit import Backoff, KeyedLimiter
from chatserver.runtime.workers import BoundedPool, Busy


def test_a_keyed_limiter_allows_a_minutes_worth_per_key_then_refuses() -> None:
    limiter = KeyedLimiter(per_min=3)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # another key has its own bucket
    assert limiter.retry_after("a") >= 1


def test_a_keyed_limiter_of_zero_is_off() -> None:
    limiter = KeyedLimiter(per_min=0)
    assert all(limiter.allow("a") for _ in range(1000))


def test_a_keyed_limiter_forgets_its_oldest_key_beyond_its_bound() -> None:
    limiter = KeyedLimiter(per_min=1, max_keys=2)
    assert limiter.allow("a") and not limiter.allow("a")
    assert limiter.allow("b") and limiter.allow("c")  # "a" is forgotten: memory stays bounded
    assert limiter.allow("a")


def test_backoff_starts_after_the_free_failures_doubles_and_is_capped() -> None:
    backoff = Backoff(free=3, base_s=1.0, max_s=5.0)
    assert [backoff.failed("k") for _ in range(6)] == [0.0, 0.0, 1.0, 2.0, 4.0, 5.0]
    assert backoff.blocked_for("k") > 4.0
    assert backoff.blocked_for("other") == 0.0
    backoff.succeeded("k")
    assert backoff.blocked_for("k") == 0.0


def test_a_bounded_pool_refuses_when_full_and_takes_work_again_when_a_place_frees() -> None:
    pool = BoundedPool("test", workers=1, queue=1)
    release = threading.Event()
    try:
        held = [pool.try_submit(release.wait, 10) for _ in range(2)]
        with pytest.raises(Busy):
            pool.try_submit(lambda: None)
        release.set()
        for future in held:
            future.result(10)
        assert pool.try_submit(lambda: 7).result(10) == 7
    finally:
        release.set()
        pool.shutdown()
