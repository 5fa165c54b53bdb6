"""The in-memory capacity ledger: the same contract as the Redis one."""

from __future__ import annotations

from router import InMemoryCapacityLedger


def test_reserve_stops_at_cap() -> None:
    ledger = InMemoryCapacityLedger()
    assert [ledger.reserve("a", f"c{i}", 3) for i in range(5)] == [True] * 3 + [False] * 2
    assert ledger.count("a") == 3


def test_reserving_a_held_conversation_again_takes_no_extra_slot() -> None:
    ledger = InMemoryCapacityLedger()
    assert ledger.reserve("a", "c1", 1)
    assert ledger.reserve("a", "c1", 1)
    assert ledger.count("a") == 1


def test_release_frees_a_slot_and_double_release_is_harmless() -> None:
    ledger = InMemoryCapacityLedger()
    ledger.reserve("a", "c1", 1)
    assert ledger.release("a", "c1") is True
    assert ledger.release("a", "c1") is False
    assert ledger.reserve("a", "c2", 1)


def test_force_goes_beyond_cap_for_a_supervisor_override() -> None:
    ledger = InMemoryCapacityLedger()
    ledger.reserve("a", "c1", 1)
    assert ledger.reserve("a", "c2", 1, force=True)
    assert ledger.count("a") == 2


def test_reconcile_replaces_holdings_with_the_store_truth() -> None:
    ledger = InMemoryCapacityLedger()
    ledger.reserve("a", "stale", 5)
    assert ledger.reconcile("a", {"c1", "c2"}) == 2
    assert ledger.holders("a") == {"c1", "c2"}
    assert ledger.reconcile("a", set()) == 0 and ledger.count("a") == 0
