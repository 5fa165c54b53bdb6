"""The loop every outbox worker runs (billing, mail): drain whenever woken and every
``poll_s``, at most one pass per ``MIN_GAP_S``; a pass that fails backs off; an item that
fails is tried again later.

A subclass says what one pass does (``drain``: claim due rows for a lease, carry each out,
mark it done or ``retry_delay_ms`` later). One per process, started and stopped by the
app's lifespan; a process killed mid-item loses its lease to any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

from chatserver.runtime.backoff import exponential_s

# The first retry of an item or a pass, in seconds; each further one waits twice as long.
FIRST_RETRY_S = 0.5
# The least time between two passes. The billing worker is woken by every first human
# reply, and a pass costs its reads however little is due (for an anonymous visitor,
# nothing): a pass per new chat was about a fifth of all the hub's CPU for that chat.
# The wakes within this gap share the next pass; a lone wake still passes at once.
MIN_GAP_S = 0.25


class OutboxWorker(ABC):
    def __init__(self, name: str, log: logging.Logger, *, poll_s: float, retry_s: float) -> None:
        """``retry_s``: the longest wait before an item (or a failed pass) is tried again,
        and the lease a claim takes."""
        self.name = name
        self.log = log
        self.poll_s = float(poll_s)
        self.retry_ms = int(retry_s * 1000)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def drain(self) -> None:
        """One pass: until nothing is due that this process may take."""

    def retry_delay_ms(self, attempts: int) -> int:
        """How long an item that failed its ``attempts``-th try waits for the next."""
        return int(exponential_s(attempts, FIRST_RETRY_S * 1000, self.retry_ms))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"livedesk-{self.name}-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """This process made something due: drain now rather than at the next poll."""
        self._wake.set()

    async def _run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                delay_s = self.retry_delay_ms(failures) / 1000
                self.log.warning(
                    "%s pass failed (%d in a row); next in %.1fs",
                    self.name,
                    failures,
                    delay_s,
                    exc_info=True,
                )
                await asyncio.sleep(delay_s)
                continue
            failures = 0
            gap_s = min(MIN_GAP_S, self.poll_s)
            await asyncio.sleep(gap_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s - gap_s)
