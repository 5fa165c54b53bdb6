"""Conversations that weigh less than a chat (e-mail): what an agent may hold under the cap,
and the capacity ledger agreeing with the router to the thousandth."""

from __future__ import annotations

import random

import pytest

from router import (
    AgentInfo,
    Assigned,
    Decision,
    InMemoryCapacityLedger,
    NoRoom,
    Offer,
    QueuedConversation,
    Router,
    RouterConfig,
    SlotFreed,
)

MAIL = 0.5


def quiet() -> RouterConfig:
    return RouterConfig(first_reply_timeout_s=None, language_fallback_s=None, reoffer_after_s=None)


def chat(cid: str, at: float = 0.0) -> QueuedConversation:
    return QueuedConversation(id=cid, enqueued_at=at)


def mail(cid: str, at: float = 0.0) -> QueuedConversation:
    return QueuedConversation(id=cid, enqueued_at=at, weight=MAIL)


def assigned(ds: list[Decision]) -> list[str]:
    return [d.conv_id for d in ds if isinstance(d, Assigned)]


def router_with(cap: int) -> Router:
    r = Router(quiet())
    r.agent_online(AgentInfo("a", cap=cap), 0.0)
    return r


def test_an_agent_with_cap_four_holds_three_chats_and_two_mails_and_no_more() -> None:
    r = router_with(4)
    got: list[str] = []
    for i, c in enumerate([chat("c1"), chat("c2"), chat("c3"), mail("m1"), mail("m2")]):
        got += assigned(r.enqueue(c, float(i)))
    assert got == ["c1", "c2", "c3", "m1", "m2"]
    assert r.agent_load("a") == pytest.approx(4.0)
    assert assigned(r.enqueue(mail("m3"), 9.0)) == []
    assert assigned(r.enqueue(chat("c4"), 10.0)) == []
    assert r.queued_count == 2


def test_half_a_free_slot_takes_a_new_mail_while_a_new_chat_waits() -> None:
    r = router_with(4)
    for i, c in enumerate([chat("c1"), chat("c2"), chat("c3"), mail("m1")]):
        r.enqueue(c, float(i))
    assert assigned(r.enqueue(chat("waiting-chat"), 10.0)) == []
    assert assigned(r.enqueue(mail("m2"), 11.0)) == ["m2"]
    assert r.conversation_state("waiting-chat") == ("queued", None)
    assert r.agent_load("a") == pytest.approx(4.0)


def test_a_freed_half_slot_goes_to_a_mail_while_the_chat_ahead_of_it_waits() -> None:
    r = router_with(2)
    r.enqueue(chat("c1"), 0.0)
    r.enqueue(mail("m1"), 1.0)
    r.enqueue(mail("m2"), 2.0)  # load 2.0: full
    r.enqueue(chat("queued-chat"), 3.0)
    r.enqueue(mail("queued-mail"), 4.0)
    ds = r.release("m1", 5.0)
    assert assigned(ds) == ["queued-mail"]
    assert r.conversation_state("queued-chat") == ("queued", None)


def test_the_offer_carries_the_weight_and_a_ledger_following_the_router_stays_under_cap() -> None:
    rng = random.Random(17)
    r = Router(quiet())
    caps = {"a": 4, "b": 3}
    for aid, cap in caps.items():
        r.agent_online(AgentInfo(aid, cap=cap), 0.0)
    ledger = InMemoryCapacityLedger()
    open_ids: list[str] = []

    def carry_out(ds: list[Decision]) -> None:
        for d in ds:
            if isinstance(d, Offer):
                assert d.weight in (1.0, MAIL)
                assert ledger.reserve(d.agent_id, d.conv_id, d.ledger_cap, d.override, d.weight)
            elif isinstance(d, SlotFreed):
                ledger.release(d.agent_id, d.conv_id)

    weight: dict[str, float] = {}
    for step in range(2000):
        now = float(step)
        if open_ids and rng.random() < 0.45:
            carry_out(r.release(open_ids.pop(rng.randrange(len(open_ids))), now))
        else:
            cid = f"x{step}"
            open_ids.append(cid)
            weight[cid] = MAIL if rng.random() < 0.5 else 1.0
            carry_out(r.enqueue(QueuedConversation(cid, enqueued_at=now, weight=weight[cid]), now))
        for aid, cap in caps.items():
            assert ledger.load(aid) == pytest.approx(r.agent_load(aid))
            assert ledger.load(aid) <= cap
        # Nobody waits who would fit what some agent has left.
        for cid in open_ids:
            if r.conversation_state(cid) == ("queued", None):
                for aid, cap in caps.items():
                    assert r.agent_load(aid) + weight[cid] > cap + 1e-9, (cid, aid)


def test_a_transfer_to_an_agent_with_half_a_slot_takes_a_mail_but_not_a_chat() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo("a", cap=2), 0.0)
    r.enqueue(chat("c1"), 0.0)
    r.enqueue(mail("m1"), 1.0)  # a: 1.5 of 2
    r.agent_online(AgentInfo("b", cap=2), 2.0)
    r.enqueue(chat("b-chat"), 3.0)
    r.enqueue(mail("b-mail"), 4.0)
    assert r.conversation_state("b-chat") == ("active", "b")
    assert r.conversation_state("b-mail") == ("active", "b")
    with pytest.raises(NoRoom):
        r.transfer("b-chat", 5.0, to_agent="a")
    r.transfer("b-mail", 6.0, to_agent="a")
    assert r.conversation_state("b-mail") == ("active", "a")
    assert r.agent_load("a") == pytest.approx(2.0)
    assert r.agent_load("b") == pytest.approx(1.0)


def test_restored_mails_count_at_their_weight() -> None:
    r = Router(quiet())
    r.agent_online(AgentInfo("a", cap=2), 0.0)
    r.restore_active("m1", "a", 0.0, conv=mail("m1"))
    r.restore_active("c1", "a", 0.0, conv=chat("c1"))
    assert r.agent_load("a") == pytest.approx(1.5)
    assert assigned(r.enqueue(mail("m2"), 1.0)) == ["m2"]
    assert assigned(r.enqueue(mail("m3"), 2.0)) == []


def test_a_weight_outside_the_cap_range_is_refused() -> None:
    with pytest.raises(ValueError):
        QueuedConversation(id="x", weight=0)


def test_the_ledger_holds_three_chats_and_two_half_weight_mails_in_a_cap_of_four() -> None:
    ledger = InMemoryCapacityLedger()
    for c in ("c1", "c2", "c3"):
        assert ledger.reserve("a", c, 4)
    assert ledger.reserve("a", "m1", 4, weight=MAIL)
    assert ledger.reserve("a", "m2", 4, weight=MAIL)
    assert not ledger.reserve("a", "m3", 4, weight=MAIL)
    assert ledger.count("a") == 5 and ledger.load("a") == 4.0
    ledger.release("a", "c1")
    assert not ledger.reserve("a", "c9", 3.5)  # a whole chat does not fit in what is left
    assert ledger.reserve("a", "m3", 4, weight=MAIL)
    assert ledger.reconcile("a", {"m1", "c2"}, {"m1": MAIL}) == 2
    assert ledger.load("a") == 1.5
