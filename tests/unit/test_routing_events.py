"""Routing events cross the Redis hop as maps: every event comes back as itself, and a map
that is no event this version knows is refused with MalformedEvent (the leader logs and
drops it) instead of reaching a handler."""

from __future__ import annotations

import msgpack
import pytest

from chatserver.core.events import (
    EVENT_TYPES,
    AgentChanged,
    AgentConnected,
    AgentDisconnected,
    AgentStatusChanged,
    AgentWorking,
    AnswerOffer,
    ConversationEnded,
    ConversationWaiting,
    FirstHumanReply,
    MalformedEvent,
    RoutingEvent,
    SetAside,
    Transfer,
    VisitorWrote,
    from_wire,
    to_wire,
)

ONE_OF_EACH: list[RoutingEvent] = [
    AgentConnected(7),
    AgentDisconnected(7),
    AgentStatusChanged(7, "away"),
    AgentChanged(7),
    AgentChanged(7, cap=3),
    ConversationWaiting("c1"),
    ConversationEnded("c1"),
    FirstHumanReply("c1"),
    AgentWorking("c1", 7),
    SetAside("c1"),
    VisitorWrote("c1", 3),
    AnswerOffer("c1", 7, accept=False),
    Transfer("c1", "agent:7", to_team="billing", note="VAT question"),
    Transfer("c1", "supervisor:2", to_agent=9, override=True),
]


def test_every_event_type_has_a_case_here() -> None:
    assert {type(e) for e in ONE_OF_EACH} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", ONE_OF_EACH, ids=repr)
def test_an_event_survives_the_msgpack_hop_unchanged(event: RoutingEvent) -> None:
    data = msgpack.unpackb(msgpack.packb(to_wire(event)), raw=False)
    assert from_wire(data) == event


def test_the_wire_map_names_the_event_by_op() -> None:
    assert to_wire(AgentWorking("c1", 7)) == {"op": "agent_working", "conv_id": "c1", "agent_id": 7}


def test_an_old_nodes_agent_cap_event_is_the_agent_changed_event() -> None:
    assert from_wire({"op": "agent_cap", "agent_id": 4, "cap": 2}) == AgentChanged(4, 2)


@pytest.mark.parametrize(
    "data",
    [
        ["agent_connected", 7],
        {"agent_id": 7},
        {"op": 3, "agent_id": 7},
        {"op": "reboot_leader"},
        {"op": "agent_connected"},
        {"op": "agent_connected", "agent_id": "7"},
        {"op": "agent_connected", "agent_id": True},
        {"op": "agent_connected", "agent_id": 7, "extra": 1},
        {"op": "answer_offer", "conv_id": "c1", "agent_id": 7, "accept": "yes"},
        {"op": "transfer", "conv_id": "c1", "by": "x", "to_agent": "9"},
        {"op": "visitor_wrote", "conv_id": "c1"},
    ],
    ids=repr,
)
def test_a_map_that_is_no_known_event_is_malformed(data: object) -> None:
    with pytest.raises(MalformedEvent):
        from_wire(data)


def test_a_conversations_events_keep_order_by_conversation_an_agents_by_agent() -> None:
    assert AnswerOffer("c1", 7, accept=True).ordering_key == "conv:c1"
    assert AgentWorking("c1", 7).ordering_key == FirstHumanReply("c1").ordering_key
    assert AgentDisconnected(7).ordering_key == AgentConnected(7).ordering_key == "agent:7"
    assert AgentConnected(7).ordering_key != AgentConnected(8).ordering_key
