"""runtime.slim: the event and queue every socket holds, as their users rely on them."""

from __future__ import annotations

import asyncio

import pytest

from chatserver.runtime.slim import SlimEvent, SlimQueue


async def test_an_event_wakes_every_waiter_and_forgets_them() -> None:
    event = SlimEvent()
    waiters = [asyncio.create_task(event.wait()) for _ in range(3)]
    await asyncio.sleep(0)  # let them start waiting
    assert not any(w.done() for w in waiters)
    event.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [True, True, True]
    assert event._waiters is None
    event.clear()
    assert not event.is_set()


async def test_a_cancelled_event_waiter_leaves_nothing_behind() -> None:
    event = SlimEvent()
    waiter = asyncio.create_task(event.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert event._waiters is None


async def test_a_queue_hands_items_over_in_order_to_a_waiting_reader() -> None:
    queue: SlimQueue[int] = SlimQueue()
    reader = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait(1)
    queue.put_nowait(2)
    assert await asyncio.wait_for(reader, 1) == 1
    assert queue.qsize() == 1 and not queue.empty()
    assert queue.get_nowait() == 2
    assert queue.empty()
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()


async def test_a_cancelled_queue_reader_loses_no_item() -> None:
    queue: SlimQueue[str] = SlimQueue()
    reader = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    queue.put_nowait("kept")
    assert await asyncio.wait_for(queue.get(), 1) == "kept"
