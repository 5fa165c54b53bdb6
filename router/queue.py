"""Waiting conversations: one ordered bucket per (team, language).

Order is a static key, so aging costs nothing per decision: a conversation of class ``p``
enqueued at ``t`` sorts like a class-0 conversation enqueued at ``t - p * aging_s``. A higher
class therefore goes first unless a lower one has waited ``aging_s`` longer per class of
difference, and nobody starves. Conversations sent back by the router (their agent left, a
transfer) sort in a front band ahead of everyone, keeping their original order among themselves.

Buckets are plain sorted lists: bisect finds a position in O(log n) and the insert/delete
memmove is C-fast even at 10,000 entries, which is what lets positions be exact.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

# (band, k1, k2, seq, conv_id); seq is unique, so conv_id never takes part in a comparison.
QueueKey = tuple[int, float, float, int, str]
BucketKey = tuple[str | None, str | None]

FRONT_BAND = 0
NORMAL_BAND = 1


def make_key(
    priority: int, enqueued_at: float, seq: int, conv_id: str, aging_s: float | None
) -> QueueKey:
    if aging_s is None:
        return (NORMAL_BAND, float(-priority), enqueued_at, seq, conv_id)
    return (NORMAL_BAND, enqueued_at - priority * aging_s, 0.0, seq, conv_id)


def to_front(key: QueueKey) -> QueueKey:
    return (FRONT_BAND, key[1], key[2], key[3], key[4])


class Bucket:
    """Sorted waiting conversations of one (team, language)."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: list[QueueKey] = []

    def __len__(self) -> int:
        return len(self.entries)

    def insert(self, key: QueueKey) -> int:
        """Insert; returns the 0-based index it landed at."""
        index = bisect_right(self.entries, key)
        self.entries.insert(index, key)
        return index

    def remove(self, key: QueueKey) -> int:
        index = bisect_left(self.entries, key)
        if index >= len(self.entries) or self.entries[index] != key:
            raise KeyError(key)
        del self.entries[index]
        return index

    def index(self, key: QueueKey) -> int:
        index = bisect_left(self.entries, key)
        if index >= len(self.entries) or self.entries[index] != key:
            raise KeyError(key)
        return index
