"""The garbage collector's settings for a serving process.

What start-up builds (the knowledge base's index, compiled templates and statements, the
routes) lives as long as the process. Left as it is, every full collection walks all of it
again, a pause that lands on whichever message is in flight, and
the first generation, collected every 700 allocations, runs hundreds of times a second
under load although a message's objects are freed by reference counting alone.
"""

from __future__ import annotations

import gc

# Allocations between first-generation passes; the older generations keep their ratios.
FIRST_GENERATION_THRESHOLD = 20_000


def settle_after_start() -> None:
    """Once the process has started: what exists now is kept out of later passes, and
    passes come less often. For the serving process only; a test process that starts and
    stops many servers would keep each one's leftovers for good."""
    gc.collect()
    gc.freeze()
    _first, second, third = gc.get_threshold()
    gc.set_threshold(FIRST_GENERATION_THRESHOLD, second, third)
