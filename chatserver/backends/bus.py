"""Live fan-out between hub processes. The store stays the truth: a frame lost here is
caught up from ``seq`` on the next event or reconnect, so the bus may be at-most-once."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

from chatserver.core.protocol import OutFrame

log = logging.getLogger("livedesk.bus")

Handler = Callable[[str, OutFrame], None]


# Channel names: one place, so the Redis bus and the hub agree.
def conversation_channel(conv_id: str) -> str:
    return f"conv:{conv_id}"


def agent_channel(agent_id: int) -> str:
    return f"agent:{agent_id}"


def visitor_channel(visitor_id: str) -> str:
    return f"visitor:{visitor_id}"


def customer_channel(customer_email: str) -> str:
    return f"customer:{customer_email}"


SUPERVISORS_CHANNEL = "supervisors"
# The inbox's "something changed" frames: every agent socket hears them.
INBOX_CHANNEL = "inbox"
# Knowledge-base edits: every node's assistant follows it and re-reads the named articles.
KB_CHANNEL = "kb"
# Settings saved in the admin screens: every node re-reads them (`settings_changed`).
SETTINGS_CHANNEL = "settings"


class Bus(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def publish(self, channel: str, frame: OutFrame) -> None:
        """Never waits: a networked bus queues the frame, in order, for its publisher."""

    def subscribe(self, channel: str) -> None: ...
    def unsubscribe(self, channel: str) -> None: ...
    def healthy(self) -> bool: ...
    def subscribed(self, channel: str) -> bool:
        """Frames other processes publish on ``channel`` reach this one now."""

    async def until_subscribed(self, channel: str, timeout_s: float) -> bool:
        """Until frames other processes publish on ``channel`` reach this one; False if
        not within ``timeout_s``."""


class InMemoryBus:
    """One process: publish hands the frame straight to the hub's handler."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self._subscribed: defaultdict[str, int] = defaultdict(int)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._subscribed.clear()

    def publish(self, channel: str, frame: OutFrame) -> None:
        if self._subscribed.get(channel):
            self.handler(channel, frame)

    def subscribe(self, channel: str) -> None:
        self._subscribed[channel] += 1

    def unsubscribe(self, channel: str) -> None:
        left = self._subscribed.get(channel, 0) - 1
        if left > 0:
            self._subscribed[channel] = left
        else:
            self._subscribed.pop(channel, None)

    def healthy(self) -> bool:
        return True

    def subscribed(self, channel: str) -> bool:
        return True  # one process: no other publishers

    async def until_subscribed(self, channel: str, timeout_s: float) -> bool:
        return True
