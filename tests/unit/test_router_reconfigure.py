"""Knobs and agent profiles changed while the router runs (the admin screens)."""

from __future__ import annotations

from router import AgentInfo, Assigned, Offer, QueuedConversation, Router, RouterConfig

QUIET = {"first_reply_timeout_s": None, "language_fallback_s": None, "reoffer_after_s": None}


def test_raising_a_busy_agents_cap_hands_them_the_waiting_chat() -> None:
    router = Router(RouterConfig(**QUIET))  # type: ignore[arg-type]
    router.agent_online(AgentInfo(id="ana", cap=1), 0.0)
    router.enqueue(QueuedConversation(id="c1", enqueued_at=0.0), 0.0)
    waiting = router.enqueue(QueuedConversation(id="c2", enqueued_at=1.0), 1.0)
    assert not [d for d in waiting if isinstance(d, Assigned)]
    out = router.agent_changed(AgentInfo(id="ana", cap=2), 2.0)
    assert [(d.conv_id, d.agent_id) for d in out if isinstance(d, Assigned)] == [("c2", "ana")]


def test_lowering_a_cap_takes_nothing_away_and_stops_new_chats() -> None:
    router = Router(RouterConfig(**QUIET))  # type: ignore[arg-type]
    router.agent_online(AgentInfo(id="ana", cap=2), 0.0)
    router.enqueue(QueuedConversation(id="c1", enqueued_at=0.0), 0.0)
    assert router.agent_changed(AgentInfo(id="ana", cap=1), 1.0) == []
    assert router.agent_chats("ana") == ("c1",)
    later = router.enqueue(QueuedConversation(id="c2", enqueued_at=2.0), 2.0)
    assert not [d for d in later if isinstance(d, Assigned)]


def test_an_unknown_agent_changed_is_nothing_to_do() -> None:
    assert Router().agent_changed(AgentInfo(id="zoe", cap=3), 0.0) == []


def test_switching_auto_accept_off_makes_the_next_chat_an_offer_to_answer() -> None:
    router = Router(RouterConfig(**QUIET))  # type: ignore[arg-type]
    router.agent_online(AgentInfo(id="ana", cap=3), 0.0)
    auto = router.enqueue(QueuedConversation(id="c1", enqueued_at=0.0), 0.0)
    assert [d for d in auto if isinstance(d, Assigned)]
    router.reconfigure(RouterConfig(**QUIET, auto_accept=False), 1.0)  # type: ignore[arg-type]
    manual = router.enqueue(QueuedConversation(id="c2", enqueued_at=2.0), 2.0)
    assert [d.conv_id for d in manual if isinstance(d, Offer)] == ["c2"]
    assert not [d for d in manual if isinstance(d, Assigned)]
