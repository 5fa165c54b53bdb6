"""When the group commit's first message of a batch waits for company.

Waiting lets messages that arrive meanwhile share the transaction, and under load that is
most of what a message costs the hub: every batch pays the same statements, the same
pages written to SQLite's log and the same round of Python around them, whatever it
holds. Measured with benchmarks/hub_roundtrip.py at 1,000 messages a second, each
millisecond of window took about 5% off the hub's CPU per message (batches of 2.8 at 2 ms,
3.6 at 4 ms) and added about a millisecond to a round trip's p50.

A message that has nobody to wait for only loses the window, though: at a few messages a
second the next one comes long after. So the window is taken only while messages arrive
closer together than the window itself, judged from a running mean of the gaps between
them, and a quiet desk commits each message at once.
"""

from __future__ import annotations

# Each new gap moves the mean an eighth of the way: the last dozen or so arrivals decide,
# so one long gap or one pair sent together does not flip the choice.
GAP_WEIGHT = 1 / 8


class CommitWindow:
    """``arrived(now)`` for each message submitted; ``wait_s()``: how long the first of a
    batch should wait for more (the window, or nothing)."""

    __slots__ = ("window_s", "_mean_gap_s", "_last_s")

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        # Until arrivals say otherwise the desk counts as quiet. A gap is counted at most
        # twice the window: beyond that it says "quiet" just as well, and a night's lull
        # would otherwise take hundreds of arrivals to forget.
        self._mean_gap_s = 2 * window_s
        self._last_s: float | None = None

    def arrived(self, now: float) -> None:
        if self._last_s is not None:
            gap = min(now - self._last_s, 2 * self.window_s)
            self._mean_gap_s += (gap - self._mean_gap_s) * GAP_WEIGHT
        self._last_s = now

    def wait_s(self) -> float:
        return self.window_s if self._mean_gap_s < self.window_s else 0.0
