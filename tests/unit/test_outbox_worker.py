"""runtime.outbox_worker: when a worker passes over its outbox."""

from __future__ import annotations

import asyncio
import logging
import time

from chatserver.runtime import outbox_worker
from chatserver.runtime.outbox_worker import OutboxWorker


class CountingWorker(OutboxWorker):
    """Notes when each pass starts and ends, and wakes those waiting for a pass."""

    def __init__(self, poll_s: float) -> None:
        super().__init__("test", logging.getLogger("test"), poll_s=poll_s, retry_s=1.0)
        self.started: list[float] = []
        self.ended: list[float] = []
        self.passed = asyncio.Condition()

    async def drain(self) -> None:
        self.started.append(time.monotonic())
        self.ended.append(time.monotonic())
        async with self.passed:
            self.passed.notify_all()

    async def passes(self, n: int) -> None:
        async with self.passed:
            await asyncio.wait_for(self.passed.wait_for(lambda: len(self.ended) >= n), 10)


async def test_wakes_in_quick_succession_share_one_pass_after_the_gap() -> None:
    worker = CountingWorker(poll_s=60)
    worker.start()
    try:
        await worker.passes(1)  # the pass at start
        for _ in range(5):  # items made due one after another, as replies commit
            worker.wake()
            await asyncio.sleep(0)
        await worker.passes(2)
        assert len(worker.started) == 2
        # Every wake came before the second pass began, which took them all.
        assert not worker._wake.is_set()
        # The loop's clock may round a sleep down by its resolution (1 ms).
        assert worker.started[1] - worker.ended[0] >= outbox_worker.MIN_GAP_S - 0.01
    finally:
        await worker.stop()


async def test_a_poll_shorter_than_the_gap_still_passes_without_any_wake() -> None:
    worker = CountingWorker(poll_s=0.05)
    worker.start()
    try:
        await worker.passes(3)
        assert not worker._wake.is_set()  # nobody woke it: the poll alone
    finally:
        await worker.stop()
