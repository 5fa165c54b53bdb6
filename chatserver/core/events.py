"""Routing events: what the hub tells the routing host (``services.dispatch``), typed.

In one process an event goes straight to the dispatcher; in a cluster a node that does not
route forwards it to the leader over Redis (``backends.cluster``), as the map ``to_wire``
makes and ``from_wire`` checks. The wire map is ``{"op": name, **fields}``; a map that is
not one of these events raises ``MalformedEvent`` (the leader logs it and drops it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, get_type_hints


class MalformedEvent(ValueError):
    """A routing event off the wire that is not one this version knows, or has bad fields."""


@dataclass(frozen=True, slots=True)
class RoutingEvent:
    """Base of every routing event; ``op`` names it on the wire."""

    op: ClassVar[str] = ""

    @property
    def ordering_key(self) -> str:
        """Events with the same key must run in the order they were sent: a conversation's
        events by conversation, an agent's by agent."""
        conv_id = getattr(self, "conv_id", None)
        if conv_id is not None:
            return f"conv:{conv_id}"
        return f"agent:{getattr(self, 'agent_id', None)}"


@dataclass(frozen=True, slots=True)
class AgentConnected(RoutingEvent):
    op: ClassVar[str] = "agent_connected"
    agent_id: int


@dataclass(frozen=True, slots=True)
class AgentDisconnected(RoutingEvent):
    op: ClassVar[str] = "agent_disconnected"
    agent_id: int


@dataclass(frozen=True, slots=True)
class AgentStatusChanged(RoutingEvent):
    op: ClassVar[str] = "agent_status"
    agent_id: int
    status: str


@dataclass(frozen=True, slots=True)
class AgentChanged(RoutingEvent):
    """An agent's cap, teams or languages changed. The router re-reads the stored agent;
    ``cap``, when given, is the cap in effect instead of the stored one (the adaptive mode
    steps it without storing it). The one way a cap reaches the router."""

    op: ClassVar[str] = "agent_changed"
    agent_id: int
    cap: int | None = None


@dataclass(frozen=True, slots=True)
class ConversationWaiting(RoutingEvent):
    op: ClassVar[str] = "conversation_waiting"
    conv_id: str


@dataclass(frozen=True, slots=True)
class ConversationEnded(RoutingEvent):
    op: ClassVar[str] = "conversation_ended"
    conv_id: str


@dataclass(frozen=True, slots=True)
class FirstHumanReply(RoutingEvent):
    op: ClassVar[str] = "first_human_reply"
    conv_id: str


@dataclass(frozen=True, slots=True)
class AgentWorking(RoutingEvent):
    op: ClassVar[str] = "agent_working"
    conv_id: str
    agent_id: int


@dataclass(frozen=True, slots=True)
class SetAside(RoutingEvent):
    op: ClassVar[str] = "set_aside"
    conv_id: str


@dataclass(frozen=True, slots=True)
class VisitorWrote(RoutingEvent):
    """A visitor wrote (message ``seq``) where the bot may hold the chat: the bot's turn is
    the routing node's, so it comes after the conversation's routing (its greeting first)."""

    op: ClassVar[str] = "visitor_wrote"
    conv_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class AnswerOffer(RoutingEvent):
    op: ClassVar[str] = "answer_offer"
    conv_id: str
    agent_id: int
    accept: bool


@dataclass(frozen=True, slots=True)
class Transfer(RoutingEvent):
    op: ClassVar[str] = "transfer"
    conv_id: str
    by: str
    to_agent: int | None = None
    to_team: str | None = None
    note: str = ""
    override: bool = False


EVENT_TYPES: tuple[type[RoutingEvent], ...] = (
    AgentConnected,
    AgentDisconnected,
    AgentStatusChanged,
    AgentChanged,
    ConversationWaiting,
    ConversationEnded,
    FirstHumanReply,
    AgentWorking,
    SetAside,
    VisitorWrote,
    AnswerOffer,
    Transfer,
)
_BY_OP: dict[str, type[RoutingEvent]] = {cls.op: cls for cls in EVENT_TYPES}
# Ops an older node may still send during a rolling upgrade, as the event they became.
_RENAMED: dict[str, str] = {"agent_cap": AgentChanged.op}


def to_wire(event: RoutingEvent) -> dict[str, Any]:
    """The map forwarded to the leader (msgpack-able: ints, strings, bools, None)."""
    return {"op": event.op, **{f.name: getattr(event, f.name) for f in dataclasses.fields(event)}}


def from_wire(data: object) -> RoutingEvent:
    """The event a forwarded map names; ``MalformedEvent`` if it is none, or its fields are
    missing, unknown or of the wrong type."""
    if not isinstance(data, dict):
        raise MalformedEvent(f"routing event is not a map: {type(data).__name__}")
    fields = dict(data)
    op = fields.pop("op", None)
    if not isinstance(op, str):
        raise MalformedEvent(f"routing event without an op: {data!r}")
    cls = _BY_OP.get(_RENAMED.get(op, op))
    if cls is None:
        raise MalformedEvent(f"unknown routing event {op!r}")
    hints = _field_types(cls)
    unknown = set(fields) - set(hints)
    if unknown:
        raise MalformedEvent(f"{op}: unknown fields {sorted(unknown)}")
    for name, value in fields.items():
        if not _is_a(value, hints[name]):
            raise MalformedEvent(f"{op}: {name}={value!r} is not {hints[name]}")
    try:
        return cls(**fields)
    except TypeError as exc:  # a required field is missing
        raise MalformedEvent(f"{op}: {exc}") from exc


_FIELD_TYPES: dict[type[RoutingEvent], dict[str, str]] = {}


def _field_types(cls: type[RoutingEvent]) -> dict[str, str]:
    """Each field's annotation as written (``int``, ``str | None``, ...)."""
    found = _FIELD_TYPES.get(cls)
    if found is None:
        hints = get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        found = _FIELD_TYPES[cls] = {
            name: _spell(hint) for name, hint in hints.items() if name in names
        }
    return found


def _spell(hint: object) -> str:
    return " | ".join(
        "None" if arm is type(None) else getattr(arm, "__name__", str(arm))
        for arm in getattr(hint, "__args__", (hint,))
    )


_CHECKS: dict[str, type] = {"int": int, "str": str, "bool": bool}


def _is_a(value: object, spelled: str) -> bool:
    for arm in spelled.split(" | "):
        if arm == "None":
            if value is None:
                return True
        elif arm == "int":
            # bool is an int to Python, not to the wire contract.
            if isinstance(value, int) and not isinstance(value, bool):
                return True
        elif isinstance(value, _CHECKS[arm]):
            return True
    return False
