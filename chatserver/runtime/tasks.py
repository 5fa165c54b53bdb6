"""Background tasks with an owner: kept referenced, failures logged, cancelled on stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger("livedesk.tasks")


class TaskSet:
    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s task failed: %r", self.name, task.exception())

    async def stop(self) -> None:
        for task in tuple(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class InOrderPerKey:
    """Work run one after another for the same key, side by side across keys (a routing
    event per agent or conversation, a decision's effects per conversation)."""

    def __init__(self, tasks: TaskSet) -> None:
        self._tasks = tasks
        self._last: dict[str, asyncio.Task[Any]] = {}

    def spawn(self, key: str, work: Callable[[], Coroutine[Any, Any, Any]]) -> asyncio.Task[Any]:
        """Run ``work()`` once everything spawned before under ``key`` has finished."""
        before = self._last.get(key)
        task = self._tasks.spawn(_after(before, work))
        self._last[key] = task

        def done(t: asyncio.Task[Any]) -> None:
            if self._last.get(key) is t:
                del self._last[key]

        task.add_done_callback(done)
        return task

    def last(self, key: str) -> asyncio.Task[Any] | None:
        """The newest unfinished work under ``key``: awaiting it awaits all of the key's."""
        return self._last.get(key)


async def _after(
    before: asyncio.Task[Any] | None, work: Callable[[], Coroutine[Any, Any, Any]]
) -> Any:
    if before is not None:
        await asyncio.wait([before])
    return await work()
