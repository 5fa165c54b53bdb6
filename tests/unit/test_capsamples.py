"""Stored rows → cap samples (chatserver/core/capsamples.py), the adaptive mode's per-agent
state (services/planning.AdaptiveCaps) and the router taking a new cap. Pure, no I/O."""

from __future__ import annotations

from chatserver.core.capsamples import cap_samples, reply_times
from chatserver.services.planning import AdaptiveCaps
from router import AgentInfo, Assigned, QueuedConversation, Router, RouterConfig

S = 1000  # ms


def text(conv: str, author: str, at_s: float, agent: int | None = None) -> dict[str, object]:
    return {
        "conversation_id": conv,
        "author": author,
        "author_id": None if agent is None else str(agent),
        "created_ms": int(at_s * S),
    }


def chat(
    cid: str, agent: int, start_s: float, end_s: float | None, csat: int | None = None
) -> dict[str, object]:
    return {
        "id": cid,
        "agent_id": agent,
        "team": "sales",
        "assigned_ms": int(start_s * S),
        "closed_ms": None if end_s is None else int(end_s * S),
        "csat_score": csat,
    }


def test_a_reply_is_timed_from_the_first_unanswered_visitor_text() -> None:
    rows = [
        text("a", "agent", 0, 1),  # the agent writing first: nobody waited
        text("a", "visitor", 10),
        text("a", "visitor", 15),
        text("a", "agent", 40, 1),
        text("a", "agent", 45, 1),  # twice in a row: not a reply
        text("a", "visitor", 50),
        text("a", "agent", 53, 1),
    ]
    got = [(r.response_s, r.first, r.agent_id) for r in reply_times(rows)]
    assert got == [(30.0, True, "1"), (3.0, False, "1")]


def test_each_reply_and_chat_carries_the_chats_its_agent_held_then() -> None:
    convs = [
        chat("a", 1, 0, 600, csat=5),  # alone until b arrives at 100
        chat("b", 1, 100, 300, csat=3),  # with a throughout
        chat("c", 1, 300, 400),  # b closed at 300: still two (a and c)
        chat("d", 2, 0, None),  # another agent's, never counted for agent 1
    ]
    texts = [
        text("a", "visitor", 20), text("a", "agent", 50, 1),  # held: a → 1
        text("b", "visitor", 150), text("b", "agent", 160, 1),  # held: a, b → 2
        text("c", "visitor", 310), text("c", "agent", 320, 1),  # held: a, c → 2
        text("d", "visitor", 310), text("d", "agent", 400, 2),
    ]  # fmt: skip
    replies, chats = cap_samples(convs, texts)
    got = [(r.agent_id, r.response_s, r.concurrency, r.first) for r in replies]
    assert got == [
        ("1", 30.0, 1, True),
        ("1", 10.0, 2, True),
        ("1", 10.0, 2, True),
        ("2", 90.0, 1, True),
    ]
    most = {c.handle_s: (c.concurrency, c.csat) for c in chats}
    # a saw two at once; b two; c two (a still open); d is still open: no chat sample.
    assert most == {600.0: (2, 5), 200.0: (2, 3), 100.0: (2, None)}
    assert all(c.team == "sales" for c in chats)


def test_adaptive_caps_step_an_agent_down_on_slow_replies_and_only_once_per_hold() -> None:
    caps = AdaptiveCaps(target_s=60.0, seen_ms=0)
    slow = [text("a", "visitor", 100), text("a", "agent", 300, 7)]
    assert caps.observe(slow, {"7": 5}, now_s=1000.0) == {"7": 4}
    # The same rows again: already seen, nothing changes.
    assert caps.observe(slow, {"7": 5}, now_s=1001.0) == {}
    slower = [text("a", "visitor", 400), text("a", "agent", 700, 7)]
    assert caps.observe(slower, {"7": 5}, now_s=1010.0) == {}  # within the hold
    later = [text("a", "visitor", 800), text("a", "agent", 1100, 7)]
    assert caps.observe(later, {"7": 5}, now_s=1400.0) == {"7": 3}
    # A supervisor sets a new cap: the agent starts over from it.
    fresh = [text("a", "visitor", 1200), text("a", "agent", 1205, 7)]
    assert caps.observe(fresh, {"7": 6}, now_s=1500.0) == {}
    assert caps.applied["7"] == 6
    # Replies of agents it does not know (inactive) are ignored.
    assert (
        caps.observe([text("b", "visitor", 1300), text("b", "agent", 1900, 9)], {"7": 6}, 2000.0)
        == {}
    )


def test_the_router_takes_a_lower_cap_for_new_chats_and_a_higher_one_at_once() -> None:
    r = Router(RouterConfig(first_reply_timeout_s=None, language_fallback_s=None))
    r.agent_online(AgentInfo(id="a", cap=3), 0)
    for i in range(2):
        r.enqueue(QueuedConversation(id=f"c{i}", enqueued_at=i), i)
    assert r.set_cap("a", 2, 5) == []  # both chats stay
    queued = r.enqueue(QueuedConversation(id="c2", enqueued_at=6), 6)
    assert not [d for d in queued if isinstance(d, Assigned)]  # full at the new cap
    raised = r.set_cap("a", 4, 7)
    assert [d.conv_id for d in raised if isinstance(d, Assigned)] == ["c2"]
    assert r.snapshot().agents[0].cap == 4
    assert r.set_cap("nobody", 4, 8) == []
