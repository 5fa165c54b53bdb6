"""Values that cross the router's boundary: what the hub tells it, what it decides.

Everything here is immutable so a decision list can be handed to the hub, logged and
replayed without the router's later state leaking into it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AgentStatus = Literal["online", "away", "offline"]
Policy = Literal["least_loaded", "round_robin"]

MIN_CAP = 1
MAX_CAP = 10
RECOMMENDED_CAP_BAND = (4, 6)


class RouterError(Exception):
    """An event the router's current state does not allow (the hub's bug or a race)."""


class UnknownConversation(RouterError):
    """The conversation id is not one the router holds."""


class UnknownAgent(RouterError):
    """The agent id is not one the router has seen."""


class NoRoom(RouterError):
    """The target agent is full and the caller did not ask for an override."""


def validate_cap(cap: int) -> int:
    """The supported range is 1–10; anything else is a configuration error."""
    if isinstance(cap, bool) or not isinstance(cap, int) or not MIN_CAP <= cap <= MAX_CAP:
        raise ValueError(f"cap must be an integer in {MIN_CAP}..{MAX_CAP}, got {cap!r}")
    return cap


def cap_outside_recommended(cap: int) -> bool:
    """True when the dashboard should warn: the cap is legal but outside 4–6."""
    low, high = RECOMMENDED_CAP_BAND
    return not low <= cap <= high


@dataclass(frozen=True, slots=True)
class AgentInfo:
    id: str
    cap: int = 5
    teams: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    name: str = ""

    def __post_init__(self) -> None:
        validate_cap(self.cap)


@dataclass(frozen=True, slots=True)
class QueuedConversation:
    """A conversation that wants a human. ``priority``: higher is served first."""

    id: str
    priority: int = 0
    team: str | None = None
    language: str | None = None
    previous_agent: str | None = None
    enqueued_at: float = 0.0
    # What it weighs against the agent's cap: a chat 1, an e-mail conversation less (the
    # hub's setting). Counted in thousandths, so sums of weights are exact.
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.weight <= MAX_CAP:
            raise ValueError(f"weight must be in (0, {MAX_CAP}], got {self.weight!r}")

    @property
    def weight_milli(self) -> int:
        return milli(self.weight)


def milli(units: float) -> int:
    """Capacity in thousandths of a chat: the unit every ledger counts in."""
    return round(units * 1000)


# --- decisions -------------------------------------------------------------------------------
# The hub carries these out in list order. Ledger contract: reserve a slot on ``Offer``,
# release it on ``SlotFreed``; nothing else touches the capacity ledger.


@dataclass(frozen=True, slots=True)
class Offer:
    """Reserve ``weight`` of the agent's capacity (at most ``ledger_cap`` held in all),
    then show the chat.

    ``deadline`` is None for auto-accept offers (an ``Assigned`` follows in the same list).
    If the ledger refuses, call ``Router.offer_failed``.
    """

    conv_id: str
    agent_id: str
    auto_accept: bool
    deadline: float | None
    ledger_cap: float
    override: bool = False
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Assigned:
    """The chat is now the agent's: state ``active``. ``returning``: back to the previous agent."""

    conv_id: str
    agent_id: str
    override: bool = False
    returning: bool = False


@dataclass(frozen=True, slots=True)
class Queued:
    """The conversation waits (the bot holds it). Position is 1-based within its queue."""

    conv_id: str
    position: int
    eta_s: float | None


@dataclass(frozen=True, slots=True)
class QueueUpdate:
    """A waiting visitor's position or wait estimate changed."""

    conv_id: str
    position: int
    eta_s: float | None


@dataclass(frozen=True, slots=True)
class Requeued:
    """The conversation left ``agent_id`` (if any) and wants a human again.

    reason: ``agent_gone`` | ``accept_timeout`` | ``declined`` | ``no_first_reply`` |
    ``transfer`` | ``ledger_full``. It may be offered again later in the same list.
    """

    conv_id: str
    reason: str
    agent_id: str | None = None


@dataclass(frozen=True, slots=True)
class OfferExpired:
    """Withdraw a pending offer from the agent's console."""

    conv_id: str
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class AgentLeft:
    """Tell the visitor their agent has gone (disconnect grace over, or went offline)."""

    conv_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class SlotFreed:
    """Release the agent's capacity-ledger reservation for this conversation."""

    conv_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class Transferred:
    """A transfer happened; the hub stores and logs it (``override`` must be logged)."""

    conv_id: str
    from_agent: str | None
    to_agent: str | None
    to_team: str | None
    note: str
    by: str
    override: bool = False


@dataclass(frozen=True, slots=True)
class LanguageFallback:
    """The visitor waited too long for their language; any agent may now take the chat."""

    conv_id: str
    language: str


@dataclass(frozen=True, slots=True)
class ReplyWarning:
    """Tell the agent, naming the chat, that it moves to a colleague at ``moves_at`` unless
    they reply or keep working on it (typing, a draft). ``moves_at`` None: the warning is
    off (they went back to work on it)."""

    conv_id: str
    agent_id: str
    moves_at: float | None


Decision = (
    Offer
    | Assigned
    | Queued
    | QueueUpdate
    | Requeued
    | OfferExpired
    | AgentLeft
    | SlotFreed
    | Transferred
    | LanguageFallback
    | ReplyWarning
)


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    id: str
    name: str
    status: AgentStatus
    connected: bool
    cap: int
    load: float
    chats: tuple[str, ...]
    teams: frozenset[str]
    languages: frozenset[str]
    cap_warning: bool


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the supervisor dashboard shows; computed on demand (O(agents + queued))."""

    agents: tuple[AgentSnapshot, ...]
    queued: int
    queued_by_team: dict[str | None, int] = field(default_factory=dict)
    queued_by_language: dict[str | None, int] = field(default_factory=dict)
    oldest_wait_s: float | None = None
    mean_handle_s: float = 0.0
