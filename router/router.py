"""The router: events in, decisions out. No clock, no I/O; the hub passes ``now``.

States of a conversation here: ``queued`` (in a bucket) → ``offered`` (a slot is reserved for
one agent) → ``active``; ``release`` forgets it. An offered or active chat counts against its
agent's cap. Invariant kept after every public call: no queued conversation has an eligible
agent with room that it may go to (same team, its language until fallback, not excluded).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

from router.config import RouterConfig
from router.model import (
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
)
from router.policy import AgentPools, PoolKey, pool_keys, rank
from router.queue import Bucket, BucketKey, QueueKey, make_key, to_front

_EPS: Final = 1e-9

# timer kinds
_ACCEPT: Final = 0
_GRACE: Final = 1
_LANG: Final = 2
_REPLY: Final = 3
_PARK: Final = 4
_SAT: Final = 5
_REFRESH: Final = 6
_REOFFER: Final = 7
_WARN: Final = 8

QUEUED: Final = "queued"
OFFERED: Final = "offered"
ACTIVE: Final = "active"


class _Agent:
    __slots__ = (
        "info",
        "status",
        "connected",
        "chats",
        "parked",
        "held_milli",
        "parked_milli",
        "version",
        "last_assigned_at",
        "rr_seq",
        "grace_token",
        "grace_deadline",
        "sat_token",
        "saturated",
        "keys",
        "counted",
    )

    def __init__(self, info: AgentInfo, now: float, rr_seq: int) -> None:
        self.info = info
        self.status: AgentStatus = "offline"
        self.connected = False
        self.chats: dict[str, None] = {}  # insertion-ordered set
        self.parked = 0
        # The weights of the chats held and of those parked, in thousandths of a chat.
        self.held_milli = 0
        self.parked_milli = 0
        self.version = 0
        self.last_assigned_at = now
        self.rr_seq = rr_seq
        self.grace_token = 0
        self.grace_deadline: float | None = None
        self.sat_token = 0
        self.saturated = False
        self.keys: tuple[PoolKey, ...] = pool_keys(info.teams, info.languages)
        self.counted = False


class _Conv:
    __slots__ = (
        "conv",
        "weight",
        "team",
        "fell_back",
        "state",
        "agent_id",
        "key",
        "queued_in",
        "excluded",
        "reoffer_token",
        "offer_token",
        "lang_token",
        "reply_token",
        "warn_token",
        "reply_due",
        "warned",
        "park_token",
        "assigned_at",
        "first_reply_done",
        "last_activity",
        "parked",
        "last_pos",
        "last_eta",
    )

    def __init__(self, conv: QueuedConversation, key: QueueKey) -> None:
        self.conv = conv
        self.weight = conv.weight_milli
        self.team = conv.team
        self.fell_back = conv.language is None
        self.state = QUEUED
        self.agent_id: str | None = None
        self.key = key
        self.queued_in: BucketKey | None = None
        # Agents this conversation must not go to, each until a time (inf: for good).
        self.excluded: dict[str, float] | None = None
        self.reoffer_token = 0
        self.offer_token = 0
        self.lang_token = 0
        self.reply_token = 0
        self.warn_token = 0
        self.reply_due = 0.0
        self.warned = False
        self.park_token = 0
        self.assigned_at = 0.0
        self.first_reply_done = False
        self.last_activity = 0.0
        self.parked = False
        self.last_pos = 0
        self.last_eta: float | None = None

    @property
    def bucket_key(self) -> BucketKey:
        return (self.team, None if self.fell_back else self.conv.language)


@dataclass(frozen=True, slots=True)
class QueueInfo:
    position: int
    eta_s: float | None


class Router:
    """Who answers what. Every mutating method returns the decisions the hub carries out."""

    def __init__(self, config: RouterConfig | None = None) -> None:
        self.config = config or RouterConfig()
        self._agents: dict[str, _Agent] = {}
        self._convs: dict[str, _Conv] = {}
        self._buckets: dict[BucketKey, Bucket] = {}
        self._pools = AgentPools(self._agent_current)
        self._timers: list[tuple[float, int, int, str]] = []
        self._seq = 0
        self._dirty: set[BucketKey] = set()
        self._tail_stale = False
        self._refresh_token = 0
        # A refresh sweep in progress: bucket keys to visit, and where we are.
        self._sweep: list[BucketKey] | None = None
        self._sweep_at = (0, 0)
        self._queued = 0
        # While tick() runs several timers, placements wait and are settled together in
        # queue order, so simultaneous timers cannot hand a younger chat an agent first.
        self._deferring = False
        self._deferred: list[_Conv] = []
        self._deferred_agents: dict[str, _Agent] = {}
        self._fallen: set[str] = set()
        self._mean_handle = self.config.default_handle_s
        self._auto = self.config.auto_accept
        self._keep_eager = self.config.eager_positions
        # Set once a conversation that is not a whole chat arrives: from then on a free
        # fraction of an agent is checked against each conversation's weight.
        self._weighted = False
        self._queued_light = 0  # queued conversations lighter than a chat

    def reconfigure(self, config: RouterConfig, now: float) -> list[Decision]:
        """New knobs while running (an admin changed them): later offers, timers and ranks
        use them; timers already armed keep their deadlines. Every agent is re-ranked (the
        policy may have changed) and may be filled (auto-accept may have come on)."""
        self.config = config
        self._auto = config.auto_accept
        self._keep_eager = config.eager_positions
        out: list[Decision] = []
        for a in list(self._agents.values()):
            self._touch(a)
            self._fill_agent(a, now, out)
        self._flush(out, now)
        return out

    # --- agents -------------------------------------------------------------------------------

    def agent_online(self, agent: AgentInfo, now: float) -> list[Decision]:
        """The agent logged in (or changed cap/teams/languages): online and connected."""
        out: list[Decision] = []
        a = self._agents.get(agent.id)
        if a is None:
            self._seq += 1
            a = self._agents[agent.id] = _Agent(agent, now, self._seq)
        elif a.info != agent:
            self._uncount(a)
            a.info = agent
            a.keys = pool_keys(agent.teams, agent.languages)
        if a.status == "offline":
            a.last_assigned_at = now  # idle since now, not since their last shift
        a.status = "online"
        a.connected = True
        a.grace_token = 0
        a.grace_deadline = None
        self._touch(a)
        self._fill_agent(a, now, out)
        self._flush(out, now)
        return out

    def agent_changed(self, agent: AgentInfo, now: float) -> list[Decision]:
        """An admin changed a known agent's cap, teams or languages: their status stays; a
        larger cap lets them take waiting chats at once, a smaller one takes nothing away
        (they just get no more until they are under it). Unknown agents: nothing to do."""
        out: list[Decision] = []
        a = self._agents.get(agent.id)
        if a is None or a.info == agent:
            return out
        self._uncount(a)
        a.info = agent
        a.keys = pool_keys(agent.teams, agent.languages)
        self._touch(a)
        self._fill_agent(a, now, out)
        self._flush(out, now)
        return out

    def agent_status(self, agent_id: str, status: AgentStatus, now: float) -> list[Decision]:
        """``away`` keeps chats and takes none; ``offline`` hands every chat back at once."""
        if status not in ("online", "away", "offline"):
            raise ValueError(f"unknown status {status!r}")
        a = self._agent(agent_id)
        out: list[Decision] = []
        if status == "offline":
            connected = a.connected  # their console may stay open while they are offline
            self._agent_gone(a, now, out)
            a.connected = connected
        else:
            if a.status == "offline":
                a.last_assigned_at = now
            a.status = status
            self._touch(a)
            if status == "online":
                self._fill_agent(a, now, out)
        self._flush(out, now)
        return out

    def agent_disconnected(self, agent_id: str, now: float) -> list[Decision]:
        """The agent's last socket closed: they keep their chats for the grace period."""
        a = self._agent(agent_id)
        out: list[Decision] = []
        if not a.connected or a.status == "offline":
            return out
        a.connected = False
        self._touch(a)
        grace = self.config.disconnect_grace_s
        if grace <= 0:
            self._agent_gone(a, now, out)
        else:
            a.grace_deadline = now + grace
            a.grace_token = self._timer(now + grace, _GRACE, agent_id)
        self._flush(out, now)
        return out

    def agent_reconnected(self, agent_id: str, now: float) -> list[Decision]:
        a = self._agent(agent_id)
        out: list[Decision] = []
        if a.status == "offline":
            return out  # grace already ran out: they must come online again
        a.connected = True
        a.grace_token = 0
        a.grace_deadline = None
        self._touch(a)
        self._fill_agent(a, now, out)
        self._flush(out, now)
        return out

    def set_cap(self, agent_id: str, cap: int, now: float) -> list[Decision]:
        """A new cap for a known agent: ``agent_changed`` with only the cap changed (chats
        already held above a lowered cap stay; new ones wait for room)."""
        a = self._agents.get(agent_id)
        if a is None:
            return []
        return self.agent_changed(replace(a.info, cap=cap), now)  # replace validates the cap

    # --- conversations ------------------------------------------------------------------------

    def enqueue(self, conv: QueuedConversation, now: float) -> list[Decision]:
        """A conversation wants a human: offered at once if someone has room, else queued."""
        if conv.id in self._convs:
            raise RouterError(f"conversation {conv.id!r} is already routed")
        self._seq += 1
        key = make_key(
            conv.priority, conv.enqueued_at, self._seq, conv.id, self.config.aging_s_per_class
        )
        cs = _Conv(conv, key)
        self._convs[conv.id] = cs
        self._weighted = self._weighted or cs.weight != 1000
        out: list[Decision] = []
        if not cs.fell_back:
            fallback = self.config.language_fallback_s
            if fallback is not None:
                due = conv.enqueued_at + fallback
                if due <= now:
                    cs.fell_back = True
                else:
                    cs.lang_token = self._timer(due, _LANG, conv.id)
        self._place(cs, now, out, returning_ok=True)
        self._flush(out, now)
        return out

    def accept(self, conv_id: str, agent_id: str, now: float) -> list[Decision]:
        cs = self._conv(conv_id)
        if cs.state != OFFERED or cs.agent_id != agent_id:
            raise RouterError(f"{conv_id!r} is not offered to {agent_id!r}")
        out: list[Decision] = []
        cs.offer_token = 0
        self._activate(cs, now, out, override=False, returning=False)
        self._flush(out, now)
        return out

    def decline(self, conv_id: str, agent_id: str, now: float) -> list[Decision]:
        cs = self._conv(conv_id)
        if cs.state != OFFERED or cs.agent_id != agent_id:
            raise RouterError(f"{conv_id!r} is not offered to {agent_id!r}")
        out: list[Decision] = []
        self._bounce(cs, now, out, "declined")
        self._flush(out, now)
        return out

    def offer_failed(self, conv_id: str, agent_id: str, now: float) -> list[Decision]:
        """The ledger refused the reservation: another node filled the agent.

        The hub skips the rest of that conversation's decisions in the list it was carrying
        out. We stop offering to the agent for ``ledger_backoff_s`` and try someone else.
        """
        cs = self._conv(conv_id)
        if cs.state == QUEUED or cs.agent_id != agent_id:
            raise RouterError(f"{conv_id!r} has no offer to {agent_id!r}")
        out: list[Decision] = []
        a = self._agents[agent_id]
        self._detach(cs, out, emit_freed=False)
        a.saturated = True
        a.sat_token = self._timer(now + self.config.ledger_backoff_s, _SAT, agent_id)
        self._touch(a)
        out.append(Requeued(conv_id, "ledger_full", agent_id))
        self._place(cs, now, out, returning_ok=False)
        self._flush(out, now)
        return out

    def release(self, conv_id: str, now: float) -> list[Decision]:
        """Closed or abandoned: forget it, free its slot and fill that slot at once.

        Unknown ids are ignored so that a double close is harmless.
        """
        cs = self._convs.pop(conv_id, None)
        out: list[Decision] = []
        if cs is None:
            return out
        cs.lang_token = 0
        if cs.state == QUEUED:
            self._unqueue(cs)
        else:
            if cs.state == ACTIVE:
                alpha = self.config.handle_ewma_alpha
                handle = max(0.0, now - cs.assigned_at)
                self._mean_handle += alpha * (handle - self._mean_handle)
            a = self._agents[cs.agent_id] if cs.agent_id is not None else None
            if cs.state == OFFERED and a is not None:
                out.append(OfferExpired(conv_id, a.info.id, "closed"))
            self._detach(cs, out, emit_freed=True)
            if a is not None:
                if a.saturated:
                    # We just gave a slot back to the shared ledger: worth trying again now
                    # rather than after the back-off.
                    a.saturated = False
                    a.sat_token = 0
                    self._touch(a)
                self._fill_agent(a, now, out)
        self._flush(out, now)
        return out

    def set_aside(self, conv_id: str, now: float) -> list[Decision]:
        """A waiting visitor was helped (the bot's article answered them): out of the queue,
        not closed. The chat no longer waits for anyone and the visitors behind it move up;
        ``enqueue`` it again if the visitor asks for a person after all. A chat already
        offered or active, or one the router does not hold: nothing changes."""
        cs = self._convs.get(conv_id)
        out: list[Decision] = []
        if cs is None or cs.state != QUEUED:
            return out
        del self._convs[conv_id]
        cs.lang_token = 0
        cs.reoffer_token = 0
        self._unqueue(cs)
        self._flush(out, now)
        return out

    def restore_active(
        self,
        conv_id: str,
        agent_id: str,
        now: float,
        *,
        conv: QueuedConversation | None = None,
        agent: AgentInfo | None = None,
        assigned_at: float | None = None,
        first_reply_done: bool = True,
    ) -> list[Decision]:
        """Rebuild an active chat from the store at hub start (its ledger lease is reconciled
        separately). An agent we have not seen yet starts disconnected, inside their grace."""
        if conv_id in self._convs:
            raise RouterError(f"conversation {conv_id!r} is already routed")
        out: list[Decision] = []
        a = self._agents.get(agent_id)
        if a is None:
            info = agent or AgentInfo(id=agent_id, cap=self.config.default_cap)
            self._seq += 1
            a = self._agents[agent_id] = _Agent(info, now, self._seq)
        if a.status == "offline":
            # Not connected to this hub yet: they get the grace period to come back.
            a.status = "online"
            a.connected = False
            grace = self.config.disconnect_grace_s
            a.grace_deadline = now + grace
            a.grace_token = self._timer(now + grace, _GRACE, agent_id)
        self._seq += 1
        qc = conv or QueuedConversation(id=conv_id, enqueued_at=now)
        aging = self.config.aging_s_per_class
        cs = _Conv(qc, make_key(qc.priority, qc.enqueued_at, self._seq, conv_id, aging))
        self._weighted = self._weighted or cs.weight != 1000
        cs.fell_back = True
        cs.first_reply_done = first_reply_done
        self._convs[conv_id] = cs
        cs.state = OFFERED
        cs.agent_id = agent_id
        a.chats[conv_id] = None
        a.held_milli += cs.weight
        self._activate(cs, now, out, override=False, returning=False, silent=True)
        if assigned_at is not None:
            cs.assigned_at = assigned_at
        self._touch(a)
        self._flush(out, now)
        return out

    def first_human_reply(self, conv_id: str, now: float) -> list[Decision]:
        """An agent answered: no reassignment for silence any more. Unknown ids: ignored."""
        cs = self._convs.get(conv_id)
        if cs is None:
            return []
        out = self._unwarn(cs)
        cs.first_reply_done = True
        cs.reply_token = 0
        cs.warn_token = 0
        return out + self.activity(conv_id, now)

    def agent_working(self, conv_id: str, agent_id: str, now: float) -> list[Decision]:
        """The agent is typing in the chat or holds a draft for it: that is work, so the
        first-reply clock starts again (and a warning already given is withdrawn). Also
        activity for parking. Unknown ids, or an agent the chat is not with: ignored."""
        cs = self._convs.get(conv_id)
        if cs is None or cs.state != ACTIVE or cs.agent_id != agent_id:
            return []
        out: list[Decision] = []
        if not cs.first_reply_done:
            out.extend(self._unwarn(cs))
            self._arm_reply(cs, now)
        out.extend(self.activity(conv_id, now))
        return out

    def _unwarn(self, cs: _Conv) -> list[Decision]:
        if not cs.warned or cs.agent_id is None:
            return []
        cs.warned = False
        return [ReplyWarning(cs.conv.id, cs.agent_id, None)]

    def activity(self, conv_id: str, now: float) -> list[Decision]:
        """A message on either side: keeps the chat from being parked, or unparks it."""
        cs = self._convs.get(conv_id)
        out: list[Decision] = []
        if cs is None:
            return out
        cs.last_activity = now
        if cs.parked and cs.agent_id is not None:
            cs.parked = False
            a = self._agents[cs.agent_id]
            a.parked -= 1
            a.parked_milli -= cs.weight
            self._touch(a)
            self._arm_park(cs)
        return out

    def transfer(
        self,
        conv_id: str,
        now: float,
        to_agent: str | None = None,
        to_team: str | None = None,
        note: str = "",
        override: bool = False,
        by: str = "",
    ) -> list[Decision]:
        """To an agent with room (beyond the cap only with ``override``), or to a team queue
        (or, with neither, back to the queue), at the front; the old agent is not offered it
        again."""
        cs = self._conv(conv_id)
        out: list[Decision] = []
        old = cs.agent_id
        old_agent = self._agents[old] if old is not None else None
        if to_agent is not None:
            target = self._agent(to_agent)
            if to_agent == old:
                raise RouterError(f"{conv_id!r} is already with {to_agent!r}")
            normal = self._eligible(target) and self._fits(target, cs.weight)
            if not normal and not override:
                raise NoRoom(f"agent {to_agent!r} has no room or is not available")
            beyond = not normal
            out.append(Transferred(conv_id, old, to_agent, to_team, note, by, beyond))
            if cs.state == QUEUED:
                self._unqueue(cs)
            else:
                if cs.state == OFFERED and old is not None:
                    out.append(OfferExpired(conv_id, old, "transfer"))
                self._detach(cs, out, emit_freed=True)
            if to_team is not None:
                cs.team = to_team
            self._offer(cs, target, now, out, override=beyond, force_accept=True)
        else:
            out.append(Transferred(conv_id, old, None, to_team, note, by, False))
            if cs.state == QUEUED:
                self._unqueue(cs)
            else:
                if cs.state == OFFERED and old is not None:
                    out.append(OfferExpired(conv_id, old, "transfer"))
                self._detach(cs, out, emit_freed=True)
            if to_team is not None:
                cs.team = to_team
            cs.excluded = {old: math.inf} if old is not None else None
            cs.key = to_front(cs.key)
            out.append(Requeued(conv_id, "transfer", old))
            self._place(cs, now, out, returning_ok=False)
        if old_agent is not None:
            self._fill_agent(old_agent, now, out)
        self._flush(out, now)
        return out

    # --- time ---------------------------------------------------------------------------------

    def tick(self, now: float) -> list[Decision]:
        """Run every timer due by ``now``, in deadline order."""
        out: list[Decision] = []
        self._deferring = True
        try:
            self._run_timers(now, out)
        finally:
            self._deferring = False
        self._settle(now, out)
        self._flush(out, now)
        return out

    def _run_timers(self, now: float, out: list[Decision]) -> None:
        timers = self._timers
        swept = False
        while timers and timers[0][0] <= now:
            if timers[0][2] == _REFRESH and swept:
                break  # one sweep chunk per call: the hub gets the loop back in between
            when, token, kind, ident = heapq.heappop(timers)
            if kind == _REFRESH:
                if token == self._refresh_token:
                    self._refresh_token = 0
                    swept = True
                    self._refresh_chunk(now, out)
                continue
            if kind == _GRACE or kind == _SAT:
                a = self._agents.get(ident)
                if a is None:
                    continue
                if kind == _GRACE and a.grace_token == token:
                    a.grace_token = 0
                    self._agent_gone(a, when, out)
                elif kind == _SAT and a.sat_token == token:
                    a.sat_token = 0
                    a.saturated = False
                    self._touch(a)
                    self._fill_agent(a, when, out)
                continue
            cs = self._convs.get(ident)
            if cs is None:
                continue
            if kind == _ACCEPT and cs.offer_token == token:
                self._bounce(cs, when, out, "accept_timeout")
            elif kind == _LANG and cs.lang_token == token:
                cs.lang_token = 0
                self._language_fallback(cs, when, out)
            elif kind == _REPLY and cs.reply_token == token:
                cs.reply_token = 0
                self._no_first_reply(cs, when, out)
            elif kind == _WARN and cs.warn_token == token:
                cs.warn_token = 0
                self._warn(cs, out)
            elif kind == _PARK and cs.park_token == token:
                cs.park_token = 0
                self._maybe_park(cs, when, out)
            elif kind == _REOFFER and cs.reoffer_token == token:
                cs.reoffer_token = 0
                self._reoffer(cs, when, out)

    def _settle(self, now: float, out: list[Decision]) -> None:
        """Place what the timers set loose: queue it all silently, let agents with room
        take their best in queue order, then tell whoever still waits where they stand."""
        deferred, self._deferred = self._deferred, []
        agents, self._deferred_agents = self._deferred_agents, {}
        fallen, self._fallen = self._fallen, set()
        waiting: list[_Conv] = []
        seen: set[str] = set()
        for cs in sorted(deferred, key=lambda c: c.key):
            cid = cs.conv.id
            if cid in seen or self._convs.get(cid) is not cs or cs.agent_id is not None:
                continue
            seen.add(cid)
            if cs.queued_in is None:
                self._enqueue_entry(cs, None)
            waiting.append(cs)
        for cs in waiting:
            while cs.queued_in is not None:
                aid = self._pools.best(cs.bucket_key, cs.excluded, self._fits_for(cs))
                if aid is None:
                    break
                a = self._agents[aid]
                held = len(a.chats)
                self._fill_agent(a, now, out)
                if len(a.chats) == held:  # cannot happen: the agent may take cs at least
                    raise AssertionError(f"{aid} has room for {cs.conv.id} but took nothing")
        for a in agents.values():
            self._fill_agent(a, now, out)
        for cs in waiting:
            if cs.state == QUEUED and cs.queued_in is not None:
                pos = self._buckets[cs.queued_in].index(cs.key) + 1
                eta = self._eta(cs.queued_in, pos)
                cs.last_pos = pos
                cs.last_eta = eta
                kind = QueueUpdate if cs.conv.id in fallen else Queued
                out.append(kind(cs.conv.id, pos, eta))

    def next_deadline(self) -> float | None:
        """When the hub must call ``tick`` next (None: nothing pending)."""
        timers = self._timers
        while timers:
            when, token, kind, ident = timers[0]
            if self._timer_live(token, kind, ident):
                return when
            heapq.heappop(timers)
        return None

    # --- read side ----------------------------------------------------------------------------

    def queue_info(self, conv_id: str) -> tuple[int, float | None] | None:
        """(1-based position, wait estimate in seconds) while queued, else None."""
        cs = self._convs.get(conv_id)
        if cs is None or cs.state != QUEUED or cs.queued_in is None:
            return None
        pos = self._buckets[cs.queued_in].index(cs.key) + 1
        return pos, self._eta(cs.queued_in, pos)

    def conversation_state(self, conv_id: str) -> tuple[str, str | None] | None:
        """(state, agent id) or None if the router does not hold it."""
        cs = self._convs.get(conv_id)
        return None if cs is None else (cs.state, cs.agent_id)

    def agent_chats(self, agent_id: str) -> tuple[str, ...]:
        return tuple(self._agent(agent_id).chats)

    def agent_load(self, agent_id: str) -> float:
        return self._load(self._agent(agent_id))

    @property
    def mean_handle_s(self) -> float:
        return self._mean_handle

    @property
    def queued_count(self) -> int:
        return self._queued

    def snapshot(self, now: float | None = None) -> Snapshot:
        agents = tuple(
            AgentSnapshot(
                id=a.info.id,
                name=a.info.name,
                status=a.status,
                connected=a.connected,
                cap=a.info.cap,
                load=self._load(a),
                chats=tuple(a.chats),
                teams=a.info.teams,
                languages=a.info.languages,
                cap_warning=cap_outside_recommended(a.info.cap),
            )
            for a in self._agents.values()
        )
        by_team: dict[str | None, int] = {}
        by_lang: dict[str | None, int] = {}
        oldest: float | None = None
        for (team, lang), bucket in self._buckets.items():
            if not bucket:
                continue
            by_team[team] = by_team.get(team, 0) + len(bucket)
            by_lang[lang] = by_lang.get(lang, 0) + len(bucket)
        if now is not None:
            for cs in self._convs.values():
                if cs.state == QUEUED:
                    wait = now - cs.conv.enqueued_at
                    if oldest is None or wait > oldest:
                        oldest = wait
        return Snapshot(
            agents=agents,
            queued=self._queued,
            queued_by_team=by_team,
            queued_by_language=by_lang,
            oldest_wait_s=oldest,
            mean_handle_s=self._mean_handle,
        )

    # --- internals: agents --------------------------------------------------------------------

    def _agent(self, agent_id: str) -> _Agent:
        a = self._agents.get(agent_id)
        if a is None:
            raise UnknownAgent(agent_id)
        return a

    def _conv(self, conv_id: str) -> _Conv:
        cs = self._convs.get(conv_id)
        if cs is None:
            raise UnknownConversation(conv_id)
        return cs

    def _agent_current(self, agent_id: str, version: int) -> bool:
        a = self._agents.get(agent_id)
        return a is not None and a.version == version

    def _load(self, a: _Agent) -> float:
        if a.parked:
            return (a.held_milli - a.parked_milli * (1.0 - self.config.parked_weight)) / 1000
        return a.held_milli / 1000

    def _has_room(self, a: _Agent) -> bool:
        """Any room at all (the pools hold such agents): strictly under the cap."""
        return self._load(a) < a.info.cap - _EPS

    def _fits(self, a: _Agent, weight_milli: int) -> bool:
        """Room for a conversation of this weight: its weight fits under the cap. With parked
        chats any fraction of free slot takes one more chat, so one parked chat never blocks
        one (with whole chats both rules are load <= cap - 1)."""
        if a.parked:
            return self._has_room(a)
        return a.held_milli + weight_milli <= a.info.cap * 1000

    def _fits_for(self, cs: _Conv) -> Callable[[str], bool] | None:
        """The pools' filter for this conversation; None while every weight is whole (then
        any agent with room has room for it)."""
        if not self._weighted:
            return None
        agents = self._agents
        return lambda aid: self._fits(agents[aid], cs.weight)

    @staticmethod
    def _eligible(a: _Agent) -> bool:
        return a.status == "online" and a.connected and not a.saturated

    def _touch(self, a: _Agent) -> None:
        """Re-rank the agent after any change to its load, status or profile."""
        a.version += 1
        eligible = self._eligible(a)
        if eligible != a.counted:
            if eligible:
                self._pools.count_online(a.keys, a.info.cap, 1)
                a.counted = True
            else:
                self._uncount(a)
            if self._queued:
                self._tail_stale = True  # capacity changed: so did every wait estimate
        if eligible and self._has_room(a):
            primary, secondary = rank(
                self.config.policy, self._load(a), a.info.cap, a.last_assigned_at, a.rr_seq
            )
            self._pools.push(a.keys, (primary, secondary, a.version, a.info.id), len(self._agents))

    def _uncount(self, a: _Agent) -> None:
        if a.counted:
            self._pools.count_online(a.keys, a.info.cap, -1)
            a.counted = False

    def _agent_gone(self, a: _Agent, now: float, out: list[Decision]) -> None:
        """Grace over or explicit offline: every chat goes back to the front of its queue."""
        a.status = "offline"
        a.connected = False
        a.grace_token = 0
        a.grace_deadline = None
        self._touch(a)
        aid = a.info.id
        # In queue order, so the longest-waiting of them gets the first free agent.
        for cs in sorted((self._convs[c] for c in a.chats), key=lambda c: c.key):
            conv_id = cs.conv.id
            if cs.state == OFFERED:
                out.append(OfferExpired(conv_id, aid, "agent_gone"))
            else:
                out.append(AgentLeft(conv_id, aid))
            self._detach(cs, out, emit_freed=True)
            cs.key = to_front(cs.key)
            out.append(Requeued(conv_id, "agent_gone", aid))
            self._place(cs, now, out, returning_ok=False)

    def _fill_agent(self, a: _Agent, now: float, out: list[Decision]) -> None:
        """Give the agent the best waiting conversations it may take, while it has room."""
        if self._deferring:
            self._deferred_agents[a.info.id] = a
            return
        if not self._queued:
            return
        aid = a.info.id
        buckets = self._buckets
        while self._eligible(a) and self._has_room(a):
            if self._weighted and not self._queued_light and not self._fits(a, 1000):
                return  # less than a chat left, and nothing lighter waits: no scan
            best: QueueKey | None = None
            best_bucket: BucketKey | None = None
            for key in a.keys:
                bucket = buckets.get(key)
                if not bucket:
                    continue
                for entry in bucket.entries:
                    cs = self._convs[entry[4]]
                    # A chat too heavy for what is left is passed over, not waited for:
                    # a lighter one behind it may take the rest.
                    if (cs.excluded is None or aid not in cs.excluded) and (
                        not self._weighted or self._fits(a, cs.weight)
                    ):
                        if best is None or entry < best:
                            best = entry
                            best_bucket = key
                        break
            if best is None or best_bucket is None:
                return
            cs = self._convs[best[4]]
            self._offer(cs, a, now, out, override=False, force_accept=False)

    # --- internals: conversations -------------------------------------------------------------

    def _place(self, cs: _Conv, now: float, out: list[Decision], returning_ok: bool) -> None:
        """Offer to the best agent with room, else queue."""
        if self._deferring:
            self._deferred.append(cs)
            return
        if returning_ok:
            prev = cs.conv.previous_agent
            if prev is not None:
                a = self._agents.get(prev)
                if a is not None and self._eligible(a) and self._fits(a, cs.weight):
                    self._offer(cs, a, now, out, override=False, force_accept=False, returning=True)
                    return
        aid = self._pools.best(cs.bucket_key, cs.excluded, self._fits_for(cs))
        if aid is not None:
            self._offer(cs, self._agents[aid], now, out, override=False, force_accept=False)
            return
        self._enqueue_entry(cs, out)

    def _enqueue_entry(self, cs: _Conv, out: list[Decision] | None) -> None:
        """Queue it; announce with ``Queued`` unless ``out`` is None (settled later)."""
        bkey = cs.bucket_key
        bucket = self._buckets.get(bkey)
        if bucket is None:
            bucket = self._buckets[bkey] = Bucket()
        index = bucket.insert(cs.key)
        cs.state = QUEUED
        cs.queued_in = bkey
        self._queued += 1
        if cs.weight < 1000:
            self._queued_light += 1
        if out is not None:
            pos = index + 1
            eta = self._eta(bkey, pos)
            cs.last_pos = pos
            cs.last_eta = eta
            out.append(Queued(cs.conv.id, pos, eta))
        if index + 1 < len(bucket):
            self._mark_dirty(bkey, index, len(bucket))

    def _unqueue(self, cs: _Conv) -> None:
        bkey = cs.queued_in
        if bkey is None:
            return
        bucket = self._buckets[bkey]
        index = bucket.remove(cs.key)
        cs.queued_in = None
        self._queued -= 1
        if cs.weight < 1000:
            self._queued_light -= 1
        if index < len(bucket):
            self._mark_dirty(bkey, index, len(bucket))

    def _mark_dirty(self, bkey: BucketKey, index: int, size: int) -> None:
        """Positions from ``index`` on moved: eagerly for the head, by refresh beyond it."""
        if index < self._keep_eager:
            self._dirty.add(bkey)
        if size > self._keep_eager:
            self._tail_stale = True

    def _offer(
        self,
        cs: _Conv,
        a: _Agent,
        now: float,
        out: list[Decision],
        override: bool,
        force_accept: bool,
        returning: bool = False,
    ) -> None:
        if cs.state == QUEUED:
            self._unqueue(cs)
        aid = a.info.id
        cs.state = OFFERED
        cs.agent_id = aid
        a.chats[cs.conv.id] = None
        a.held_milli += cs.weight
        a.last_assigned_at = now
        self._seq += 1
        a.rr_seq = self._seq
        # The ledger knows nothing of parking: what the router lets an agent hold beyond
        # the cap for parked chats, the ledger is told to allow.
        ledger_cap = max(a.info.cap * 1000, a.held_milli) / 1000
        weight = cs.conv.weight
        if self._auto or force_accept:
            out.append(Offer(cs.conv.id, aid, True, None, ledger_cap, override, weight))
            self._activate(cs, now, out, override=override, returning=returning)
        else:
            deadline = now + self.config.accept_timeout_s
            out.append(Offer(cs.conv.id, aid, False, deadline, ledger_cap, override, weight))
            cs.offer_token = self._timer(deadline, _ACCEPT, cs.conv.id)
        self._touch(a)

    def _activate(
        self,
        cs: _Conv,
        now: float,
        out: list[Decision],
        override: bool,
        returning: bool,
        silent: bool = False,
    ) -> None:
        cs.state = ACTIVE
        cs.offer_token = 0
        # The language-fallback timer stays armed: if this chat comes back to the queue
        # later, it must not wait for its language forever.
        cs.assigned_at = now
        cs.last_activity = now
        assert cs.agent_id is not None
        if not silent:
            out.append(Assigned(cs.conv.id, cs.agent_id, override, returning))
        self._arm_reply(cs, now)
        self._arm_park(cs)

    def _arm_reply(self, cs: _Conv, now: float) -> None:
        """(Re)start the first-reply clock: the warning ``first_reply_warning_s`` ahead of
        the move, the move itself at the deadline. Earlier tokens die."""
        timeout = self.config.first_reply_timeout_s
        cs.warned = False
        cs.warn_token = 0
        cs.reply_token = 0
        if timeout is None or cs.first_reply_done:
            return
        due = now + max(timeout, 1.0)
        cs.reply_due = due
        cs.reply_token = self._timer(due, _REPLY, cs.conv.id)
        warn = self.config.first_reply_warning_s
        if warn > 0:
            cs.warn_token = self._timer(max(now, due - warn), _WARN, cs.conv.id)

    def _arm_park(self, cs: _Conv) -> None:
        after = self.config.parked_after_s
        if after is not None and cs.park_token == 0:
            cs.park_token = self._timer(cs.last_activity + after, _PARK, cs.conv.id)

    def _detach(self, cs: _Conv, out: list[Decision], emit_freed: bool) -> None:
        """Take the conversation off its agent (no queueing here)."""
        aid = cs.agent_id
        cs.offer_token = 0
        cs.reply_token = 0
        cs.warn_token = 0
        cs.warned = False
        cs.park_token = 0
        if aid is None:
            return
        a = self._agents[aid]
        del a.chats[cs.conv.id]
        a.held_milli -= cs.weight
        if cs.parked:
            a.parked -= 1
            a.parked_milli -= cs.weight
            cs.parked = False
        cs.agent_id = None
        if emit_freed:
            out.append(SlotFreed(cs.conv.id, aid))
        self._touch(a)

    def _bounce(self, cs: _Conv, now: float, out: list[Decision], reason: str) -> None:
        """An offer ended unaccepted: try the next agent, keep its place in the queue."""
        aid = cs.agent_id
        assert aid is not None
        a = self._agents[aid]
        out.append(OfferExpired(cs.conv.id, aid, reason))
        self._detach(cs, out, emit_freed=True)
        after = self.config.reoffer_after_s
        self._exclude(cs, aid, math.inf if after is None else now + after)
        if after is not None and not cs.reoffer_token:
            cs.reoffer_token = self._timer(now + after, _REOFFER, cs.conv.id)
        out.append(Requeued(cs.conv.id, reason, aid))
        self._place(cs, now, out, returning_ok=False)
        self._fill_agent(a, now, out)

    @staticmethod
    def _exclude(cs: _Conv, agent_id: str, until: float = math.inf) -> None:
        if cs.excluded is None:
            cs.excluded = {agent_id: until}
        else:
            cs.excluded[agent_id] = until

    def _reoffer(self, cs: _Conv, now: float, out: list[Decision]) -> None:
        """Agents who let this conversation's offer pass may be offered it again: else,
        once every agent had passed once, the visitor would wait for ever."""
        if not cs.excluded:
            return
        for agent_id, until in list(cs.excluded.items()):
            if until <= now + _EPS:
                del cs.excluded[agent_id]
        if cs.excluded:
            soonest = min(cs.excluded.values())
            if soonest != math.inf:
                cs.reoffer_token = self._timer(soonest, _REOFFER, cs.conv.id)
        else:
            cs.excluded = None
        if cs.state == QUEUED:
            aid = self._pools.best(cs.bucket_key, cs.excluded)
            if aid is not None:
                self._fill_agent(self._agents[aid], now, out)

    def _language_fallback(self, cs: _Conv, now: float, out: list[Decision]) -> None:
        if cs.fell_back:
            return
        language = cs.conv.language
        cs.fell_back = True
        if cs.state != QUEUED:
            return  # assigned in time; later requeues go to any agent anyway
        assert language is not None
        self._unqueue(cs)
        out.append(LanguageFallback(cs.conv.id, language))
        # It already saw a Queued; if it waits on, what changed for it is its position.
        self._fallen.add(cs.conv.id)
        self._deferred.append(cs)

    def _move_target(self, cs: _Conv) -> str | None:
        """Who a chat nobody answered may move to: an agent with room in its team who
        speaks its language whenever its agent does (a language fallback that let it reach
        an agent without the language does not send it on to another such agent)."""
        assert cs.agent_id is not None
        old = self._agents[cs.agent_id]
        excluded = {old.info.id, *(cs.excluded or ())}
        language = cs.conv.language
        if language is not None and language in old.info.languages:
            return self._pools.best((cs.team, language), excluded)
        return self._pools.best(cs.bucket_key, excluded)

    def _warn(self, cs: _Conv, out: list[Decision]) -> None:
        """Ahead of the move: tell the agent which chat moves and when, if it would."""
        if cs.state != ACTIVE or cs.first_reply_done or cs.agent_id is None:
            return
        if self._move_target(cs) is None:
            return  # nobody to move it to: the deadline will look again
        cs.warned = True
        out.append(ReplyWarning(cs.conv.id, cs.agent_id, cs.reply_due))

    def _no_first_reply(self, cs: _Conv, now: float, out: list[Decision]) -> None:
        """Nobody answered in time: move to another agent with room (same team, the
        language kept), if there is one, and never without a warning first."""
        if cs.state != ACTIVE or cs.first_reply_done or cs.agent_id is None:
            return
        aid = self._move_target(cs)
        if aid is None:
            # Moving it to the queue would make the visitor wait for the same silence; keep it
            # and look again later (warning again first).
            self._arm_reply(cs, now)
            return
        warn = self.config.first_reply_warning_s
        if warn > 0 and not cs.warned:
            # Someone with room appeared only now: warn, and move after the warning's time.
            cs.warned = True
            cs.reply_due = now + warn
            cs.reply_token = self._timer(cs.reply_due, _REPLY, cs.conv.id)
            out.append(ReplyWarning(cs.conv.id, cs.agent_id, cs.reply_due))
            return
        old = self._agents[cs.agent_id]
        oid = old.info.id
        self._detach(cs, out, emit_freed=True)
        self._exclude(cs, oid)
        out.append(Requeued(cs.conv.id, "no_first_reply", oid))
        # Straight to the colleague found above (not through the queue, which may have
        # fallen back to any language): the visitor never waits in the queue again.
        self._offer(cs, self._agents[aid], now, out, override=False, force_accept=True)
        self._fill_agent(old, now, out)

    def _maybe_park(self, cs: _Conv, now: float, out: list[Decision]) -> None:
        after = self.config.parked_after_s
        if after is None or cs.state != ACTIVE or cs.parked or cs.agent_id is None:
            return
        due = cs.last_activity + after
        if due > now:
            cs.park_token = self._timer(due, _PARK, cs.conv.id)
            return
        cs.parked = True
        a = self._agents[cs.agent_id]
        a.parked += 1
        a.parked_milli += cs.weight
        self._touch(a)
        self._fill_agent(a, now, out)

    # --- internals: timers and positions ------------------------------------------------------

    def _timer(self, when: float, kind: int, ident: str) -> int:
        self._seq += 1
        heapq.heappush(self._timers, (when, self._seq, kind, ident))
        return self._seq

    def _timer_live(self, token: int, kind: int, ident: str) -> bool:
        if kind == _REFRESH:
            return token == self._refresh_token
        if kind == _GRACE or kind == _SAT:
            a = self._agents.get(ident)
            if a is None:
                return False
            return (a.grace_token if kind == _GRACE else a.sat_token) == token
        cs = self._convs.get(ident)
        if cs is None:
            return False
        if kind == _ACCEPT:
            return cs.offer_token == token
        if kind == _LANG:
            return cs.lang_token == token
        if kind == _REPLY:
            return cs.reply_token == token
        if kind == _REOFFER:
            return cs.reoffer_token == token
        if kind == _WARN:
            return cs.warn_token == token
        return cs.park_token == token

    def _eta(self, bkey: BucketKey, position: int) -> float | None:
        """Slots in this pool free up at about online_cap / mean_handle per second."""
        per = self._seconds_per_slot(bkey)
        if per is None:
            return None
        gran = self.config.eta_granularity_s
        return math.ceil(position * per / gran) * gran

    def _seconds_per_slot(self, bkey: BucketKey) -> float | None:
        cap = self._pools.online_cap.get(bkey, 0)
        return self._mean_handle / cap if cap > 0 else None

    def _update_positions(
        self, bkey: BucketKey, entries: list[QueueKey], start: int, stop: int, out: list[Decision]
    ) -> None:
        """QueueUpdate for each of entries[start:stop] whose position or estimate changed."""
        per = self._seconds_per_slot(bkey)
        gran = self.config.eta_granularity_s
        convs = self._convs
        ceil = math.ceil
        for index in range(start, stop):
            cs = convs[entries[index][4]]
            pos = index + 1
            eta = None if per is None else ceil(pos * per / gran) * gran
            if pos != cs.last_pos or eta != cs.last_eta:
                cs.last_pos = pos
                cs.last_eta = eta
                out.append(QueueUpdate(cs.conv.id, pos, eta))

    def _flush(self, out: list[Decision], now: float) -> None:
        """Push position changes: the head of each changed queue now, the tail on refresh."""
        if self._dirty:
            k = self._keep_eager
            for bkey in self._dirty:
                bucket = self._buckets.get(bkey)
                if bucket:
                    entries = bucket.entries
                    self._update_positions(bkey, entries, 0, min(k, len(entries)), out)
            self._dirty.clear()
        interval = self.config.queue_refresh_s
        if (
            self._tail_stale
            and interval is not None
            and self._refresh_token == 0
            and self._sweep is None
            and self._queued
        ):
            self._refresh_token = self._timer(now + interval, _REFRESH, "")

    def _refresh_chunk(self, now: float, out: list[Decision]) -> None:
        """Refresh positions and estimates of every waiting visitor, ``refresh_chunk`` at a
        time: a full sweep of 10,000 would hold the hub's event loop for tens of ms."""
        if self._sweep is None:
            self._tail_stale = False  # changes from here on need another sweep
            self._sweep = [key for key, bucket in self._buckets.items() if bucket]
            self._sweep_at = (0, 0)
        budget = self.config.refresh_chunk
        bucket_i, entry_i = self._sweep_at
        sweep = self._sweep
        while bucket_i < len(sweep) and budget > 0:
            bkey = sweep[bucket_i]
            bucket = self._buckets.get(bkey)
            entries = bucket.entries if bucket is not None else []
            stop = min(len(entries), entry_i + budget)
            self._update_positions(bkey, entries, entry_i, stop, out)
            budget -= max(0, stop - entry_i)
            if stop >= len(entries):
                bucket_i, entry_i = bucket_i + 1, 0
            else:
                entry_i = stop
        if bucket_i < len(sweep):
            self._sweep_at = (bucket_i, entry_i)
            self._refresh_token = self._timer(now, _REFRESH, "")  # due at once: next tick
        else:
            self._sweep = None  # tick()'s flush schedules the next if anything changed
