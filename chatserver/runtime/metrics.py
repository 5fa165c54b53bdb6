"""Prometheus metrics, defined once per process (several apps in one test process share them)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


class LoopCounter:
    """A counter bumped on the event loop's thread only: a plain number, read when scraped.
    ``prometheus_client``'s ``Counter`` takes a lock on each ``inc``; the five bumps of
    every message cost more than their worth there."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount


class _LoopCounters(Collector):
    """Exports the ``LoopCounter`` families, each a counter by name (and one label)."""

    def __init__(self) -> None:
        self.families: list[tuple[str, str, str | None, dict[str, LoopCounter]]] = []

    def counter(self, name: str, documentation: str) -> LoopCounter:
        counter = LoopCounter()
        self.families.append((name, documentation, None, {"": counter}))
        return counter

    def labelled(
        self, name: str, documentation: str, label: str, values: tuple[str, ...]
    ) -> dict[str, LoopCounter]:
        children = {value: LoopCounter() for value in values}
        self.families.append((name, documentation, label, children))
        return children

    def collect(self) -> Iterator[CounterMetricFamily]:
        for name, documentation, label, children in self.families:
            if label is None:
                yield CounterMetricFamily(name, documentation, value=children[""].value)
                continue
            family = CounterMetricFamily(name, documentation, labels=[label])
            for value, child in children.items():
                family.add_metric([value], child.value)
            yield family


_LOOP_COUNTERS = _LoopCounters()
REGISTRY.register(_LOOP_COUNTERS)

CONNECTIONS = Gauge("livedesk_connections", "Open websocket connections", ["role"])
FRAMES_IN = _LOOP_COUNTERS.counter("livedesk_frames_in", "Frames received from clients")
FRAMES_OUT = _LOOP_COUNTERS.counter("livedesk_frames_out", "Frames queued to local sockets")
MESSAGES_BY_AUTHOR = _LOOP_COUNTERS.labelled(
    "livedesk_messages", "Messages stored", "author", ("visitor", "agent", "bot", "system")
)
ERRORS = Counter("livedesk_frame_errors_total", "Error frames sent", ["code"])
CLOSES = Counter("livedesk_closes_total", "Sockets closed by the server", ["code"])
CONVERSATIONS = Counter("livedesk_conversations_total", "Conversations ended", ["outcome"])
COMMIT_BATCHES = _LOOP_COUNTERS.counter("livedesk_commit_batches", "Group-commit transactions")
COMMIT_ITEMS = _LOOP_COUNTERS.counter("livedesk_commit_items", "Items written by group commit")
COMMIT_LOCKED = Counter(
    "livedesk_commit_locked_total",
    "PostgreSQL group-commit batches written the locked way (a conversation changed under"
    " them, or they may owe a debit or a mail)",
)
COMMIT_ONE_TRIP = Counter(
    "livedesk_commit_one_trip_total",
    "PostgreSQL group-commit batches written in one round trip, planned from their"
    " conversations as this process last wrote them",
)
QUEUED = Gauge("livedesk_queue_length", "Conversations waiting for an agent")

PASSWORD_CHECKS = Counter(
    "livedesk_password_checks_total", "argon2 verifications at login", ["account"]
)
REFUSED = Counter("livedesk_refused_total", "Requests refused by a limit", ["limit"])
