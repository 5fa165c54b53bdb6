"""Shared by the benchmarks: a real hub process on a temporary database, its RSS, the
server-side CPU counters (``chatserver.testing.procstat``) and load generators run in
several processes, so that a benchmark measures the server and not its own client.

The hub process lives in ``chatserver.testing.loadtest`` (the ``livedesk loadtest`` command
starts the same process); this module keeps the benchmarks' imports short.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from collections.abc import Callable
from typing import Any

from chatserver.testing.loadtest import PASSWORD, HubProcess, free_port, now, rss_mb, wait_for_port
from chatserver.testing.procstat import (
    SATURATED_SHARE,
    CpuWindow,
    OwnCpu,
    cpu_seconds,
    generators_valid,
    per_thousand,
)

__all__ = [
    "PASSWORD",
    "SATURATED_SHARE",
    "CpuWindow",
    "Generators",
    "HubProcess",
    "OwnCpu",
    "cpu_seconds",
    "free_port",
    "generators_valid",
    "now",
    "per_thousand",
    "rss_mb",
    "wait_for_port",
]


def _generator_main(
    target: Callable[..., Any], spec: dict[str, Any], barrier: Any, out: Any
) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        out.put(asyncio.run(target(spec, barrier)))
    except BaseException as exc:  # reported, not lost in a child's stderr
        barrier.abort()
        out.put({"failed": repr(exc)})


class Generators:
    """``n`` load-generator processes running ``target(spec_i, barrier)`` (an async
    function at a module's top level). Each does its setup, waits on ``barrier`` (so the
    parent and every generator start the timed part together: ``await sync()``) and
    returns a dict, collected by ``results()``."""

    def __init__(self, target: Callable[..., Any], specs: list[dict[str, Any]]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.barrier = ctx.Barrier(len(specs) + 1)
        self.out = ctx.Queue()
        self.procs = [
            ctx.Process(target=_generator_main, args=(target, spec, self.barrier, self.out))
            for spec in specs
        ]
        for proc in self.procs:
            proc.start()

    async def sync(self, timeout: float = 300) -> None:
        """Wait until every generator has done its setup."""
        try:
            await asyncio.to_thread(self.barrier.wait, timeout)
        except threading.BrokenBarrierError:
            why = await asyncio.to_thread(self.out.get, True, 10)
            raise RuntimeError(f"a load generator failed in its setup: {why}") from None

    async def results(self, timeout: float = 300) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        got = [
            await asyncio.to_thread(self.out.get, True, max(1.0, deadline - time.monotonic()))
            for _ in self.procs
        ]
        for proc in self.procs:
            proc.join(10)
        failed = [r["failed"] for r in got if "failed" in r]
        if failed:
            raise RuntimeError(f"load generator failed: {failed[:3]}")
        return got

    def kill(self) -> None:
        for proc in self.procs:
            if proc.is_alive():
                proc.kill()
