"""A thread pool that refuses work when full, for CPU work a stranger can ask for (password
hashing, public knowledge-base search): a burst of it is answered "busy" at once instead of
queueing behind itself and delaying everyone, and it never shares threads with the work
agents wait on."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class Busy(Exception):
    """Every worker is busy and the waiting room is full: try again shortly."""


class BoundedPool:
    """``workers`` threads; at most ``workers + queue`` jobs admitted at once."""

    def __init__(self, name: str, workers: int, queue: int) -> None:
        self.name = name
        self.capacity = workers + queue
        self._slots = threading.BoundedSemaphore(self.capacity)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix=f"livedesk-{name}")

    def try_submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Start ``fn(*args)`` on the pool, or raise Busy at once. Thread-safe."""
        if not self._slots.acquire(blocking=False):
            raise Busy(f"{self.name}: all {self.capacity} places taken")

        def job() -> T:
            # Released by the job itself, before its result is set: whoever saw the result
            # finds the place free again.
            try:
                return fn(*args)
            finally:
                self._slots.release()

        try:
            future = self._executor.submit(job)
        except BaseException:
            self._slots.release()
            raise
        # A job cancelled before it ran never releases its place itself.
        future.add_done_callback(lambda f: self._slots.release() if f.cancelled() else None)
        return future

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the pool, awaited; Busy when there is no room."""
        return await asyncio.wrap_future(self.try_submit(fn, *args))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
