"""Who answers what: agents, capacity, the queue, the policy, staffing maths, a simulator.

Pure Python (stdlib only): events in, decisions out; time is always passed in. The hub's side
of the contract, per decision, in list order:

* ``Offer``: reserve the conversation's ``weight`` (a chat 1, lighter ones less, from
  ``QueuedConversation.weight``) in the capacity ledger
  (``reserve(agent, conv, ledger_cap, override, weight)``; ``force=True`` when ``override``). If refused, skip the rest of that conversation's
  decisions in this list and call ``Router.offer_failed`` (carry out what it returns).
  Otherwise show the offer (``auto_accept`` False: with its ``deadline``).
* ``Assigned``: the chat is active with the agent (stored, published, bot steps back).
* ``SlotFreed``: release that ledger slot. Nothing else touches the ledger.
* ``Queued`` / ``QueueUpdate``: tell the visitor their position and wait estimate.
* ``Requeued``: the chat left ``agent_id`` (remove it from their console); it waits again,
  and may be offered again later in the same list.
* ``OfferExpired``: withdraw the offer from the agent's console.
* ``AgentLeft``: tell the visitor their agent has gone (they keep their place in front).
* ``Transferred`` / ``LanguageFallback``: store and log (``override`` must be logged).
* ``ReplyWarning``: tell the agent, naming the chat, that it moves at ``moves_at`` (None:
  the warning is withdrawn). No chat moves for silence without one first.

Call ``tick(now)`` whenever ``next_deadline()`` passes (re-read it after every call).
"""

from router.capacity import InMemoryCapacityLedger
from router.config import RouterConfig
from router.model import (
    MAX_CAP,
    MIN_CAP,
    RECOMMENDED_CAP_BAND,
    AgentInfo,
    AgentLeft,
    AgentSnapshot,
    AgentStatus,
    Assigned,
    Decision,
    LanguageFallback,
    NoRoom,
    Offer,
    OfferExpired,
    Policy,
    Queued,
    QueuedConversation,
    QueueUpdate,
    ReplyWarning,
    Requeued,
    RouterError,
    SlotFreed,
    Snapshot,
    Transferred,
    UnknownAgent,
    UnknownConversation,
    cap_outside_recommended,
    validate_cap,
)
from router.router import Router
from router.simulate import SimConfig, SimResult, simulate
from router.staffing import (
    CONCURRENCY_FACTOR,
    StaffingResult,
    concurrency_factor,
    erlang_b,
    erlang_c,
    erlang_c_metrics,
    erlang_c_staffing,
)

__all__ = [
    "CONCURRENCY_FACTOR",
    "MAX_CAP",
    "MIN_CAP",
    "RECOMMENDED_CAP_BAND",
    "AgentInfo",
    "AgentLeft",
    "AgentSnapshot",
    "AgentStatus",
    "Assigned",
    "Decision",
    "InMemoryCapacityLedger",
    "LanguageFallback",
    "NoRoom",
    "Offer",
    "OfferExpired",
    "Policy",
    "QueueUpdate",
    "Queued",
    "QueuedConversation",
    "ReplyWarning",
    "Requeued",
    "Router",
    "RouterConfig",
    "RouterError",
    "SimConfig",
    "SimResult",
    "SlotFreed",
    "Snapshot",
    "StaffingResult",
    "Transferred",
    "UnknownAgent",
    "UnknownConversation",
    "cap_outside_recommended",
    "concurrency_factor",
    "erlang_b",
    "erlang_c",
    "erlang_c_metrics",
    "erlang_c_staffing",
    "simulate",
    "validate_cap",
]
