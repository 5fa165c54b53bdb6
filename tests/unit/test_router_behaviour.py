"""The router's rules, one behaviour per test. Pure: no clock, no I/O."""

from __future__ import annotations

from typing import TypeVar

import pytest

from router import (
    AgentInfo,
    AgentLeft,
    Assigned,
    Decision,
    LanguageFallback,
    NoRoom,
    Offer,
    OfferExpired,
    Queued,
    QueuedConversation,
    QueueUpdate,
    ReplyWarning,
    Requeued,
    Router,
    RouterConfig,
    RouterError,
    SlotFreed,
    Transferred,
    cap_outside_recommended,
)

D = TypeVar("D")


def conv(cid: str, at: float = 0.0, **kw: object) -> QueuedConversation:
    return QueuedConversation(id=cid, enqueued_at=at, **kw)  # type: ignore[arg-type]


def assigned(ds: list[Decision]) -> dict[str, str]:
    return {d.conv_id: d.agent_id for d in ds if isinstance(d, Assigned)}


def of(ds: list[Decision], kind: type[D]) -> list[D]:
    return [d for d in ds if isinstance(d, kind)]


def quiet(**kw: object) -> RouterConfig:
    """No timers other than those a test asks for."""
    base: dict[str, object] = {
        "first_reply_timeout_s": None,
        "language_fallback_s": None,
        "reoffer_after_s": None,
    }
    base.update(kw)
    return RouterConfig(**base)  # type: ignore[arg-type]


# --- agents and caps ---------------------------------------------------------------------------


def test_cap_outside_one_to_ten_is_rejected() -> None:
    with pytest.raises(ValueError):
        AgentInfo(id="a", cap=0)
    with pytest.raises(ValueError):
        AgentInfo(id="a", cap=11)
    AgentInfo(id="a", cap=10)


def test_recommended_band_warns_outside_four_to_six() -> None:
    assert [c for c in range(1, 11) if not cap_outside_recommended(c)] == [4, 5, 6]


def test_agent_never_gets_more_than_cap_and_the_rest_queue() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo(id="a", cap=2), 0)
    got = [assigned(r.enqueue(conv(f"c{i}", i), i)) for i in range(4)]
    assert got[0] == {"c0": "a"} and got[1] == {"c1": "a"}
    assert got[2] == {} and got[3] == {}
    assert r.queue_info("c2") == (1, r.queue_info("c2")[1])  # type: ignore[index]
    assert r.queue_info("c3") is not None and r.queue_info("c3")[0] == 2  # type: ignore[index]


def test_offer_precedes_assigned_and_carries_ledger_cap() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo(id="a", cap=4), 0)
    ds = r.enqueue(conv("c"), 0)
    assert ds == [Offer("c", "a", True, None, 4), Assigned("c", "a")]


def test_least_loaded_relative_to_cap_wins() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo(id="small", cap=2), 0)
    r.agent_online(AgentInfo(id="big", cap=6), 0)
    r.enqueue(conv("c1"), 1)  # tie at 0 load -> idle longest; both online at 0
    r.enqueue(conv("c2"), 2)
    # loads now 1/2 and 1/6 or similar: the next goes to the relatively emptier agent
    ds = r.enqueue(conv("c3"), 3)
    assert assigned(ds) == {"c3": "big"}


def test_ties_go_to_the_agent_idle_longest() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo(id="a"), 0)
    r.agent_online(AgentInfo(id="b"), 0)
    first = assigned(r.enqueue(conv("c1"), 1))["c1"]
    r.release("c1", 2)  # back to 0 load, but it was just busy
    ds = r.enqueue(conv("c2"), 3)
    assert assigned(ds)["c2"] != first


def test_round_robin_rotates_regardless_of_load() -> None:
    r = Router(quiet(policy="round_robin"))
    for name in "abc":
        r.agent_online(AgentInfo(id=name), 0)
    order = [assigned(r.enqueue(conv(f"c{i}"), i))[f"c{i}"] for i in range(6)]
    assert order == ["a", "b", "c", "a", "b", "c"]


def test_away_keeps_chats_and_takes_no_new_ones() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo(id="a"), 0)
    r.enqueue(conv("c1"), 0)
    r.agent_status("a", "away", 1)
    ds = r.enqueue(conv("c2"), 2)
    assert of(ds, Queued) and r.agent_chats("a") == ("c1",)
    back = r.agent_status("a", "online", 3)
    assert assigned(back) == {"c2": "a"}


def test_freed_slot_is_filled_from_the_queue_at_once() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo(id="a", cap=1), 0)
    r.enqueue(conv("c1"), 0)
    r.enqueue(conv("c2"), 1)
    ds = r.release("c1", 5)
    assert SlotFreed("c1", "a") in ds
    assert assigned(ds) == {"c2": "a"}


def test_release_twice_is_harmless() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo(id="a", cap=1), 0)
    r.enqueue(conv("c1"), 0)
    r.release("c1", 1)
    assert r.release("c1", 2) == []


def test_abandoned_queued_visitor_moves_the_others_up() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo(id="a", cap=1), 0)
    r.enqueue(conv("busy"), 0)
    r.enqueue(conv("c1", 1), 1)
    r.enqueue(conv("c2", 2), 2)
    ds = r.release("c1", 3)
    updates = of(ds, QueueUpdate)
    assert [(u.conv_id, u.position) for u in updates] == [("c2", 1)]


# --- queue order ---------------------------------------------------------------------------------


def test_priority_class_goes_first_then_fifo() -> None:
    r = Router(quiet(aging_s_per_class=None))
    r.agent_online(AgentInfo(id="a", cap=1), 0)
    r.enqueue(conv("busy"), 0)
    r.enqueue(conv("free1", 1), 1)
    r.enqueue(conv("free2", 2), 2)
    r.enqueue(conv("paid", 3, priority=1), 3)
    order = []
    for step, cid in enumerate(["busy", "paid", "free1"]):
        ds = r.release(cid, 10 + step)
        order.append(next(iter(assigned(ds))))
    assert order == ["paid", "free1", "free2"]


def test_aging_lets_a_long_waiter_pass_a_newer_higher_class() -> None:
    r = Router(quiet(aging_s_per_class=60))
    r.agent_online(AgentInfo(id="a", cap=1), 0)
    r.enqueue(conv("busy"), 0)
    r.enqueue(conv("old_free", 0), 0)
    r.enqueue(conv("new_paid", 100, priority=1), 100)  # 100 s later > 60 s per class
    ds = r.release("busy", 200)
    assert assigned(ds) == {"old_free": "a"}


def test_higher_class_within_aging_window_still_goes_first() -> None:
    r = Router(quiet(aging_s_per_class=60))
    r.agent_online(AgentInfo(id="a", cap=1), 0)
    r.enqueue(conv("busy"), 0)
    r.enqueue(conv("old_free", 0), 0)
    r.enqueue(conv("new_paid", 30, priority=1), 30)
    ds = r.release("busy", 200)
    assert assigned(ds) == {"new_paid": "a"}


def test_team_conversation_waits_for_a_team_agent() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo(id="generalist"), 0)
    ds = r.enqueue(conv("c", team="billing"), 0)
    assert of(ds, Queued)
    ds = r.agent_online(AgentInfo(id="b", teams=frozenset({"billing"})), 1)
    assert assigned(ds) == {"c": "b"}


def test_teamless_conversation_may_go_to_a_team_agent() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo(id="b", teams=frozenset({"billing"})), 0)
    assert assigned(r.enqueue(conv("c"), 0)) == {"c": "b"}


def test_language_preference_then_fallback_after_the_wait() -> None:
    r = Router(quiet(language_fallback_s=60))
    r.agent_online(AgentInfo(id="en", languages=frozenset({"en"})), 0)
    ds = r.enqueue(conv("c", 0, language="de"), 0)
    assert of(ds, Queued)
    assert r.next_deadline() == 60
    assert r.tick(59.9) == []
    ds = r.tick(60)
    assert LanguageFallback("c", "de") in ds
    assert assigned(ds) == {"c": "en"}


def test_language_speaker_is_preferred_before_fallback() -> None:
    r = Router(quiet(language_fallback_s=60))
    r.agent_online(AgentInfo(id="en", languages=frozenset({"en"})), 0)
    r.enqueue(conv("c", 0, language="de"), 0)
    ds = r.agent_online(AgentInfo(id="de", languages=frozenset({"de"})), 10)
    assert assigned(ds) == {"c": "de"}


# --- offers ---------------------------------------------------------------------------------------


def test_manual_offer_times_out_to_the_next_agent() -> None:
    r = Router(quiet(auto_accept=False, accept_timeout_s=30))
    r.agent_online(AgentInfo(id="a"), 0)
    r.agent_online(AgentInfo(id="b"), 1)
    ds = r.enqueue(conv("c"), 2)
    first = of(ds, Offer)[0]
    assert first.auto_accept is False and first.deadline == 32
    assert not of(ds, Assigned)
    assert r.next_deadline() == 32
    ds = r.tick(32)
    assert OfferExpired("c", first.agent_id, "accept_timeout") in ds
    assert SlotFreed("c", first.agent_id) in ds
    second = of(ds, Offer)[0]
    assert second.agent_id != first.agent_id
    ds = r.accept("c", second.agent_id, 40)
    assert assigned(ds) == {"c": second.agent_id}


def test_accept_after_the_offer_moved_on_is_refused() -> None:
    r = Router(quiet(auto_accept=False, accept_timeout_s=30))
    r.agent_online(AgentInfo(id="a"), 0)
    r.enqueue(conv("c"), 0)
    ds = r.tick(30)
    assert of(ds, Queued)  # nobody else: waits
    with pytest.raises(RouterError):
        r.accept("c", "a", 31)


def test_decline_offers_to_the_next_agent_and_never_back() -> None:
    r = Router(quiet(auto_accept=False))
    r.agent_online(AgentInfo(id="a"), 0)
    ds = r.enqueue(conv("c"), 0)
    ds = r.decline("c", "a", 1)
    assert Requeued("c", "declined", "a") in ds and of(ds, Queued)
    ds = r.agent_online(AgentInfo(id="b"), 2)
    assert of(ds, Offer)[0].agent_id == "b"


def test_the_only_agent_who_declined_is_offered_the_chat_again_after_the_reoffer_wait() -> None:
    r = Router(quiet(auto_accept=False, reoffer_after_s=60))
    r.agent_online(AgentInfo(id="a"), 0)
    r.enqueue(conv("c"), 0)
    ds = r.decline("c", "a", 1)
    assert of(ds, Queued) and not of(ds, Offer)  # not straight back to the one who said no
    assert r.next_deadline() == 61
    assert not of(r.tick(60), Offer)
    assert [d.agent_id for d in of(r.tick(61), Offer)] == ["a"]


def test_an_offer_nobody_answered_comes_back_after_the_reoffer_wait() -> None:
    r = Router(quiet(auto_accept=False, accept_timeout_s=30, reoffer_after_s=60))
    r.agent_online(AgentInfo(id="a"), 0)
    r.enqueue(conv("c"), 0)
    ds = r.tick(30)
    assert OfferExpired("c", "a", "accept_timeout") in ds and not of(ds, Offer)
    ds = r.tick(90)
    offer = of(ds, Offer)
    assert [d.agent_id for d in offer] == ["a"] and offer[0].deadline == 120


def test_each_agent_who_passed_waits_out_their_own_reoffer_time() -> None:
    r = Router(quiet(auto_accept=False, reoffer_after_s=60))
    r.agent_online(AgentInfo(id="a"), 0)
    r.agent_online(AgentInfo(id="b"), 0)
    first = of(r.enqueue(conv("c"), 0), Offer)[0].agent_id
    other = "b" if first == "a" else "a"
    assert [d.agent_id for d in of(r.decline("c", first, 1), Offer)] == [other]
    assert of(r.decline("c", other, 2), Queued)
    # The first one's wait ends at 61, the other's at 62: at 61 only the first may have it.
    assert [d.agent_id for d in of(r.tick(61), Offer)] == [first]


def test_reoffer_after_none_keeps_an_agent_who_passed_away_for_good() -> None:
    r = Router(quiet(auto_accept=False, reoffer_after_s=None))
    r.agent_online(AgentInfo(id="a"), 0)
    r.enqueue(conv("c"), 0)
    r.decline("c", "a", 1)
    assert r.next_deadline() is None
    assert not of(r.tick(10_000), Offer)


def test_offer_failed_tries_the_next_agent_and_backs_off_the_full_one() -> None:
    r = Router(quiet(ledger_backoff_s=5))
    r.agent_online(AgentInfo(id="a"), 0)
    r.agent_online(AgentInfo(id="b"), 1)
    first = assigned(r.enqueue(conv("c"), 2))["c"]
    ds = r.offer_failed("c", first, 2)
    assert not of(ds, SlotFreed)  # nothing was reserved
    other = assigned(ds)["c"]
    assert other != first
    ds = r.enqueue(conv("d"), 3)
    assert assigned(ds)["d"] == other  # the refused agent rests
    assert r.next_deadline() == 7
    r.tick(7)
    assert assigned(r.enqueue(conv("e"), 8))["e"] == first


# --- disconnects ------------------------------------------------------------------------------------


def test_disconnect_grace_then_chats_go_to_the_front_and_visitor_is_told() -> None:
    r = Router(quiet(disconnect_grace_s=30))
    r.agent_online(AgentInfo(id="a", cap=1), 0)
    r.agent_online(AgentInfo(id="b", cap=1), 0)
    held = assigned(r.enqueue(conv("c1", 0), 0))["c1"]
    other = "b" if held == "a" else "a"
    r.enqueue(conv("c2", 1), 1)  # to the other agent
    r.enqueue(conv("waiting", 2), 2)  # queued
    r.agent_disconnected(held, 10)
    early = r.tick(39)
    assert not of(early, AgentLeft) and not of(early, Requeued)
    assert r.next_deadline() == 40
    ds = r.tick(40)
    assert AgentLeft("c1", held) in ds and SlotFreed("c1", held) in ds
    assert Requeued("c1", "agent_gone", held) in ds
    # front of the queue: ahead of 'waiting', who arrived later but never had an agent
    assert r.queue_info("c1") == (1, r.queue_info("c1")[1])  # type: ignore[index]
    ds = r.release("c2", 50)
    assert assigned(ds) == {"c1": other}


def test_reconnect_inside_grace_keeps_everything() -> None:
    r = Router(quiet(disconnect_grace_s=30))
    r.agent_online(AgentInfo(id="a"), 0)
    r.enqueue(conv("c1"), 0)
    r.agent_disconnected("a", 10)
    assert of(r.enqueue(conv("c2"), 11), Queued)  # disconnected agents take none
    ds = r.agent_reconnected("a", 20)
    assert assigned(ds) == {"c2": "a"}
    assert r.tick(100) == [] and r.agent_chats("a") == ("c1", "c2")


def test_going_offline_hands_chats_back_at_once() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo(id="a"), 0)
    r.agent_online(AgentInfo(id="b", cap=1), 0)
    r.enqueue(conv("c1"), 0)
    r.enqueue(conv("c2"), 1)
    owner = r.conversation_state("c1")[1]  # type: ignore[index]
    ds = r.agent_status(owner, "offline", 2)  # type: ignore[arg-type]
    assert AgentLeft("c1", owner) in ds  # type: ignore[arg-type]


# --- fairness ------------------------------------------------------------------------------------------


def test_returning_visitor_goes_back_to_previous_agent_with_room() -> None:
    r = Router(quiet())
    for name in "abc":
        r.agent_online(AgentInfo(id=name), 0)
    ds = r.enqueue(conv("c", previous_agent="c"), 1)
    assert ds[-1] == Assigned("c", "c", returning=True)


def test_returning_visitor_never_goes_to_an_offline_previous_agent() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo(id="a"), 0)
    r.agent_online(AgentInfo(id="gone"), 0)
    r.agent_status("gone", "offline", 1)
    ds = r.enqueue(conv("c", previous_agent="gone"), 2)
    assert assigned(ds) == {"c": "a"}


def test_no_first_reply_moves_the_chat_to_another_agent() -> None:
    r = Router(quiet(first_reply_timeout_s=120))
    r.agent_online(AgentInfo(id="a"), 0)
    r.agent_online(AgentInfo(id="b"), 0)
    first = assigned(r.enqueue(conv("c"), 0))["c"]
    ds = r.tick(120)
    assert Requeued("c", "no_first_reply", first) in ds and SlotFreed("c", first) in ds
    assert assigned(ds)["c"] != first


def test_first_reply_in_time_cancels_the_reassignment() -> None:
    r = Router(quiet(first_reply_timeout_s=120))
    r.agent_online(AgentInfo(id="a"), 0)
    r.agent_online(AgentInfo(id="b"), 0)
    r.enqueue(conv("c"), 0)
    r.first_human_reply("c", 60)
    assert r.next_deadline() is None
    assert r.tick(500) == []


def test_parked_chat_counts_as_a_fraction_of_a_slot() -> None:
    r = Router(quiet(parked_after_s=300, parked_weight=0.5))
    r.agent_online(AgentInfo(id="a", cap=2), 0)
    r.enqueue(conv("c1"), 0)
    r.enqueue(conv("c2"), 0)
    assert of(r.enqueue(conv("c3"), 1), Queued)
    r.activity("c2", 200)
    ds = r.tick(300)  # c1 silent for 300 s: parked; load 1.5 leaves room for one
    assert assigned(ds) == {"c3": "a"}
    assert r.agent_load("a") == 2.5


def test_parking_is_off_by_default() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo(id="a", cap=1), 0)
    r.enqueue(conv("c1"), 0)
    r.enqueue(conv("c2"), 0)
    assert r.tick(10_000) == []


# --- transfer ---------------------------------------------------------------------------------------


def test_transfer_to_an_agent_with_room_frees_the_old_slot() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo(id="a"), 0)
    r.enqueue(conv("c", previous_agent="a"), 0)
    r.agent_online(AgentInfo(id="b"), 1)
    ds = r.transfer("c", 2, to_agent="b", note="VAT question", by="sup")
    assert ds[0] == Transferred("c", "a", "b", None, "VAT question", "sup", False)
    assert SlotFreed("c", "a") in ds and assigned(ds) == {"c": "b"}
    assert r.agent_chats("a") == ()


def test_transfer_to_a_full_agent_needs_an_explicit_override() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo(id="a", cap=1), 0)
    r.agent_online(AgentInfo(id="b", cap=1), 0)
    r.enqueue(conv("c1", previous_agent="a"), 0)
    r.enqueue(conv("c2", previous_agent="b"), 0)
    with pytest.raises(NoRoom):
        r.transfer("c1", 1, to_agent="b")
    ds = r.transfer("c1", 1, to_agent="b", override=True, by="sup")
    assert of(ds, Transferred)[0].override is True
    offer = of(ds, Offer)[0]
    assert offer.override is True and offer.ledger_cap == 2
    assert Assigned("c1", "b", override=True) in ds
    assert r.agent_chats("b") == ("c2", "c1")


def test_transfer_to_a_team_queues_at_the_front_without_the_old_agent() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo(id="a", teams=frozenset({"sales"})), 0)
    r.enqueue(conv("c"), 0)
    ds = r.transfer("c", 1, to_team="sales", note="upsell", by="a")
    assert Requeued("c", "transfer", "a") in ds and of(ds, Queued)
    ds = r.agent_online(AgentInfo(id="s", teams=frozenset({"sales"})), 2)
    assert assigned(ds) == {"c": "s"}


# --- restore, positions, estimates ----------------------------------------------------------------


def test_restored_chats_count_against_the_cap_and_await_reconnect() -> None:
    r = Router(quiet(disconnect_grace_s=30))
    assert r.restore_active("c1", "a", 0, agent=AgentInfo(id="a", cap=1)) == []
    assert of(r.enqueue(conv("c2"), 1), Queued)
    r.agent_online(AgentInfo(id="a", cap=2), 2)
    assert r.agent_chats("a") == ("c1", "c2")
    assert r.tick(100) == []  # back online: no grace expiry


def test_restored_agent_who_never_returns_loses_chats_after_grace() -> None:
    r = Router(quiet(disconnect_grace_s=30))
    r.restore_active("c1", "a", 0)
    ds = r.tick(30)
    assert AgentLeft("c1", "a") in ds and of(ds, Queued)


def test_wait_estimate_grows_with_position_and_uses_handle_times() -> None:
    r = Router(quiet(default_handle_s=600, eta_granularity_s=1))
    r.agent_online(AgentInfo(id="a", cap=2), 0)
    r.agent_online(AgentInfo(id="b", cap=2), 0)
    for i in range(4):
        r.enqueue(conv(f"busy{i}"), 0)
    q1 = of(r.enqueue(conv("w1"), 1), Queued)[0]
    q2 = of(r.enqueue(conv("w2"), 2), Queued)[0]
    assert q1 == Queued("w1", 1, 150.0)  # 1 * 600 s / 4 slots
    assert q2 == Queued("w2", 2, 300.0)


def test_queue_updates_only_for_visitors_whose_position_changed() -> None:
    r = Router(quiet(aging_s_per_class=None))
    r.agent_online(AgentInfo(id="a", cap=1), 0)
    r.enqueue(conv("busy"), 0)
    r.enqueue(conv("w1", 1), 1)
    ds = r.enqueue(conv("vip", 2, priority=1), 2)
    assert of(ds, Queued) == [Queued("vip", 1, of(ds, Queued)[0].eta_s)]
    assert [(u.conv_id, u.position) for u in of(ds, QueueUpdate)] == [("w1", 2)]


def test_far_back_positions_are_refreshed_on_the_timer() -> None:
    r = Router(quiet(eager_positions=1, queue_refresh_s=5, aging_s_per_class=None))
    r.agent_online(AgentInfo(id="a", cap=1), 0)
    r.enqueue(conv("busy"), 0)
    for i in range(3):
        r.enqueue(conv(f"w{i}", 1 + i), 1 + i)
    ds = r.release("busy", 10)
    assert [(u.conv_id, u.position) for u in of(ds, QueueUpdate)] == [("w1", 1)]
    deadline = r.next_deadline()
    assert deadline is not None and deadline <= 15
    ds = r.tick(deadline)
    assert [(u.conv_id, u.position) for u in of(ds, QueueUpdate)] == [("w2", 2)]


def test_snapshot_reports_loads_and_queues() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo(id="a", cap=1, name="Ann"), 0)
    r.enqueue(conv("c1"), 0)
    r.enqueue(conv("c2", 5, team="billing"), 5)
    snap = r.snapshot(now=20)
    assert snap.queued == 1 and snap.queued_by_team == {"billing": 1}
    assert snap.oldest_wait_s == 15
    (agent,) = snap.agents
    assert (agent.id, agent.load, agent.chats, agent.cap_warning) == ("a", 1.0, ("c1",), True)


def test_language_wait_counts_from_arrival_even_across_an_assignment() -> None:
    r = Router(quiet(language_fallback_s=60, disconnect_grace_s=0))
    r.agent_online(AgentInfo(id="de", languages=frozenset({"de"})), 0)
    r.agent_online(AgentInfo(id="en", languages=frozenset({"en"}), cap=1), 0)
    assert assigned(r.enqueue(conv("c", 0, language="de"), 0)) == {"c": "de"}
    r.tick(61)  # the language wait is over while the chat is with 'de'
    ds = r.agent_disconnected("de", 70)  # no grace: straight back to the queue
    assert assigned(ds) == {"c": "en"}


def test_first_reply_after_close_is_ignored() -> None:
    r = Router(quiet())
    assert r.first_human_reply("gone", 1) == []


def test_restore_for_an_agent_marked_offline_starts_their_grace() -> None:
    r = Router(quiet(disconnect_grace_s=30))
    r.agent_online(AgentInfo(id="a"), 0)
    r.agent_status("a", "offline", 1)
    r.restore_active("c1", "a", 2)
    assert r.next_deadline() == 32
    ds = r.tick(32)
    assert AgentLeft("c1", "a") in ds


def test_refresh_sweep_is_split_into_chunks_across_ticks() -> None:
    r = Router(quiet(eager_positions=0, queue_refresh_s=5, refresh_chunk=2, aging_s_per_class=None))
    r.agent_online(AgentInfo(id="a", cap=1), 0)
    r.enqueue(conv("busy"), 0)
    for i in range(6):
        r.enqueue(conv(f"w{i}", 1 + i), 1 + i)
    r.release("busy", 10)  # w0 taken; w1..w5 each move up one
    chunks = []
    while (deadline := r.next_deadline()) is not None:
        chunks.append([u.conv_id for u in of(r.tick(deadline), QueueUpdate)])
    assert chunks == [["w1", "w2"], ["w3", "w4"], ["w5"]]


def test_offline_then_online_on_the_same_connection_takes_chats_again() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo(id="a"), 0)
    r.agent_status("a", "offline", 1)
    assert of(r.enqueue(conv("c"), 2), Queued)
    assert assigned(r.agent_status("a", "online", 3)) == {"c": "a"}


# --- chats taken from agents: warned first, work counts, language and team kept ----------------


def test_first_reply_reassignment_is_off_by_default() -> None:
    assert RouterConfig().first_reply_timeout_s is None
    r = Router(RouterConfig(language_fallback_s=None))
    r.agent_online(AgentInfo(id="a"), 0)
    r.agent_online(AgentInfo(id="b"), 0)
    r.enqueue(conv("c"), 0)
    assert not of(r.tick(10_000), Requeued)


def test_the_agent_is_warned_naming_the_chat_before_it_moves() -> None:
    r = Router(quiet(first_reply_timeout_s=120, first_reply_warning_s=20))
    r.agent_online(AgentInfo(id="a"), 0)
    r.agent_online(AgentInfo(id="b"), 0)
    first = assigned(r.enqueue(conv("c"), 0))["c"]
    ds = r.tick(100)
    assert ds == [ReplyWarning("c", first, 120.0)]
    ds = r.tick(120)
    assert Requeued("c", "no_first_reply", first) in ds
    assert assigned(ds)["c"] != first
    assert not of(ds, Queued)  # straight to the colleague, never back in the queue


def test_typing_or_a_draft_restarts_the_first_reply_clock_and_withdraws_the_warning() -> None:
    r = Router(quiet(first_reply_timeout_s=120, first_reply_warning_s=20))
    r.agent_online(AgentInfo(id="a"), 0)
    r.agent_online(AgentInfo(id="b"), 0)
    first = assigned(r.enqueue(conv("c"), 0))["c"]
    assert r.tick(100) == [ReplyWarning("c", first, 120.0)]
    assert r.agent_working("c", first, 110) == [ReplyWarning("c", first, None)]
    assert r.tick(200) == []  # 120 passed: the work counted
    assert r.tick(210) == [ReplyWarning("c", first, 230.0)]
    assert Requeued("c", "no_first_reply", first) in r.tick(230)


def test_work_by_someone_the_chat_is_not_with_changes_nothing() -> None:
    r = Router(quiet(first_reply_timeout_s=120, first_reply_warning_s=20))
    r.agent_online(AgentInfo(id="a"), 0)
    r.agent_online(AgentInfo(id="b"), 0)
    first = assigned(r.enqueue(conv("c"), 0))["c"]
    other = "b" if first == "a" else "a"
    assert r.agent_working("c", other, 110) == []
    assert r.agent_working("nope", first, 110) == []
    assert Requeued("c", "no_first_reply", first) in r.tick(120)


def test_a_chat_in_serbian_moves_only_to_an_agent_with_serbian() -> None:
    r = Router(quiet(first_reply_timeout_s=120, first_reply_warning_s=20, language_fallback_s=30))
    r.agent_online(AgentInfo(id="ana", languages=frozenset({"sr"})), 0)
    r.enqueue(conv("c", language="sr"), 0)
    r.agent_online(AgentInfo(id="bob", languages=frozenset({"en"})), 1)
    ds = r.tick(500)  # the language fallback fired long ago; Bob has room
    assert not of(ds, Requeued) and not of(ds, ReplyWarning)
    assert r.conversation_state("c") == ("active", "ana")
    r.agent_online(AgentInfo(id="mila", languages=frozenset({"sr", "en"})), 600)
    ds = r.tick(r.next_deadline() or 0)
    ds += r.tick(r.next_deadline() or 0)
    assert of(ds, ReplyWarning) and assigned(ds) == {"c": "mila"}


def test_a_team_chat_moves_only_within_its_team() -> None:
    r = Router(quiet(first_reply_timeout_s=120, first_reply_warning_s=20))
    r.agent_online(AgentInfo(id="ana", teams=frozenset({"billing"})), 0)
    r.enqueue(conv("c", team="billing"), 0)
    r.agent_online(AgentInfo(id="bob"), 1)
    assert r.tick(1000) == []
    assert r.conversation_state("c") == ("active", "ana")


def test_someone_with_room_appearing_late_is_still_preceded_by_a_warning() -> None:
    r = Router(quiet(first_reply_timeout_s=120, first_reply_warning_s=20))
    r.agent_online(AgentInfo(id="a"), 0)
    r.enqueue(conv("c"), 0)
    assert r.tick(100) == []  # nobody to move to: no warning
    r.agent_online(AgentInfo(id="b"), 119)
    ds = r.tick(120)
    assert ds == [ReplyWarning("c", "a", 140.0)]
    assert assigned(r.tick(140)) == {"c": "b"}


# --- a visitor the bot helped leaves the queue without closing ----------------------------------


def test_a_helped_visitor_is_set_aside_and_never_offered_to_an_agent() -> None:
    r = Router(quiet())
    r.enqueue(conv("helped", 0), 0)
    r.enqueue(conv("next", 1), 1)
    assert r.queue_info("next") is not None and r.queue_info("next")[0] == 2  # type: ignore[index]
    ds = r.set_aside("helped", 5)
    assert QueueUpdate("next", 1, r.queue_info("next")[1]) in ds  # type: ignore[index]
    assert r.conversation_state("helped") is None and r.queued_count == 1
    ds = r.agent_online(AgentInfo(id="a"), 6)
    assert assigned(ds) == {"next": "a"}
    assert r.next_deadline() is None  # no timer of its own left behind


def test_a_set_aside_chat_queues_again_when_the_visitor_asks_for_a_person() -> None:
    r = Router(quiet())
    r.enqueue(conv("c", 0), 0)
    r.set_aside("c", 1)
    ds = r.enqueue(conv("c", 0), 2)  # keeps its old place by its first arrival
    assert of(ds, Queued) == [Queued("c", 1, of(ds, Queued)[0].eta_s)]


def test_setting_aside_a_chat_an_agent_has_or_an_unknown_one_changes_nothing() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo(id="a"), 0)
    r.enqueue(conv("c"), 0)
    assert r.set_aside("c", 1) == [] and r.set_aside("nope", 1) == []
    assert r.conversation_state("c") == ("active", "a")
