"""Carries out the router's decisions: the capacity ledger, the store, the sockets.

The router is pure and single-threaded; here every call into it, and the execution of the
decisions it returns, runs under one lock, in order. A timer task calls ``tick`` when the
router's next deadline comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from chatserver.backends.bus import agent_channel
from chatserver.backends.capacity_memory import LocalCapacityLedger
from chatserver.backends.models import Agent, Conversation
from chatserver.backends.store import Store, now_ms
from chatserver.core.errors import Conflict, LivedeskError
from chatserver.core.events import (
    AgentChanged,
    AgentConnected,
    AgentDisconnected,
    AgentStatusChanged,
    AgentWorking,
    AnswerOffer,
    ConversationEnded,
    ConversationWaiting,
    FirstHumanReply,
    RoutingEvent,
    SetAside,
    Transfer,
    VisitorWrote,
)
from chatserver.core.hours import BusinessHours, desk_team_hours
from chatserver.core.settings import Settings
from chatserver.runtime import metrics
from chatserver.runtime.backoff import Backoff
from chatserver.runtime.tasks import InOrderPerKey
from router import (
    AgentInfo,
    AgentLeft,
    AgentStatus,
    Assigned,
    Decision,
    LanguageFallback,
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
    Snapshot,
    Transferred,
)

if TYPE_CHECKING:
    from chatserver.services.hub import Hub

log = logging.getLogger("livedesk.dispatch")
# A routing event Redis refused is offered again for most of a minute (backoff up to 5 s).
FORWARD_ATTEMPTS = 16


def router_config(settings: Settings) -> RouterConfig:
    return settings.routing.router_config()


def _split(text: str) -> frozenset[str]:
    return frozenset(t.strip() for t in text.split(",") if t.strip())


def agent_info(agent: Agent) -> AgentInfo:
    return AgentInfo(
        id=str(agent.id),
        cap=agent.cap,
        teams=_split(agent.teams),
        languages=_split(agent.languages),
        name=agent.name,
    )


def _settle(future: asyncio.Future[None], _: object) -> None:
    """However the hand-over task ended, whoever waits for its first try goes on."""
    if not future.done():
        future.set_result(None)


class Dispatcher:
    def __init__(
        self,
        hub: Hub,
        store: Store,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
        *,
        ledger: Any = None,
        presence: Any = None,
        forward: Callable[[RoutingEvent], Awaitable[None]] | None = None,
    ):
        """One process: the defaults. In a cluster (``backends.cluster``), the Redis capacity
        ledger and presence, and ``forward`` (hands an event to the leader): this node then
        follows until ``Cluster`` makes it ``lead``."""
        self.hub = hub
        self.store = store
        self.settings = settings
        self.clock = clock
        self.router = Router(router_config(settings))
        self.ledger: Any = ledger if ledger is not None else LocalCapacityLedger()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self._visitor_of: dict[str, str] = {}
        # Conversations handed to ``conversation_waiting``, for its handler (no re-read).
        self._fresh: dict[str, Conversation] = {}
        self._first_visits: set[str] = set()  # of those, whose visitor is new (no history)
        # Decisions still being carried out, in order per conversation (see ``_then``).
        self._pending = InOrderPerKey(hub.tasks)
        # Events handed to the leader, one after another per ``ordering_key``: one Redis
        # refused (or is slow to refuse) holds back the later ones with its key.
        self._forwarding = InOrderPerKey(hub.tasks)
        self._queued_seen = 0  # the queue length boards were last woken for
        # Cluster mode: only the leader routes; the others forward events to it.
        self.is_leader = forward is None
        self.presence: Any = presence
        self.shared_snapshot: Snapshot | None = None
        self.forward = forward
        # Languages some agent of this desk speaks: a visitor's language outside it is no
        # routing preference (else the chat would sit out the whole fallback wait).
        self.desk_languages: set[str] = set()
        self.hours = BusinessHours.parse(
            settings.routing.business_hours, settings.routing.holidays, settings.routing.timezone
        )
        self.team_hours = desk_team_hours(settings.routing)
        # Told of each chat offered to (or, with auto-accept, put before) an agent: Web Push
        # reaches an agent whose console is not in front of them.
        self.offer_listeners: list[Callable[[int, str], None]] = []

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """One process routes for itself at once; in a cluster, ``Cluster`` makes this node
        ``lead`` when it wins the leader lease."""
        agents = await self.store.list_agents()
        for agent in agents:
            self.desk_languages |= agent_info(agent).languages
        if self.forward is None:
            await self.lead(set())
        self._timer = asyncio.create_task(self._timer_loop(), name="livedesk-router-timer")

    async def lead(self, online_agents: set[int]) -> None:
        """Start routing: rebuild the router from the store. Active chats keep their agents
        (who get the disconnect grace to come back unless ``online_agents`` says they are
        connected somewhere), waiting ones queue again in their old order, except those
        the transcript shows set aside (the bot's article helped: nobody needs to come)."""
        async with self._lock:
            self.router = Router(router_config(self.settings))
            now = self.clock()
            wall = now_ms()
            agents = {a.id: a for a in await self.store.list_agents()}
            decisions: list[Decision] = []
            restored: dict[str, list[str]] = {}
            weights: dict[str, float] = {}
            convs = await self.store.open_conversations()
            aside = await self._set_aside_of([c.id for c in convs if c.state == "bot"])
            for conv in convs:
                self._visitor_of[conv.id] = conv.visitor_id
                if conv.id in aside:
                    continue
                waited = max(0.0, (wall - conv.created_ms) / 1000)
                if conv.state == "active" and conv.agent_id in agents:
                    agent = agents[conv.agent_id]
                    assigned_ago = max(0.0, (wall - (conv.assigned_ms or wall)) / 1000)
                    weights[conv.id] = self.weight_of(conv)
                    decisions += self.router.restore_active(
                        conv.id,
                        str(agent.id),
                        now,
                        conv=QueuedConversation(
                            id=conv.id, enqueued_at=now - waited, weight=weights[conv.id]
                        ),
                        agent=agent_info(agent),
                        assigned_at=now - assigned_ago,
                        first_reply_done=conv.first_human_reply_ms is not None,
                    )
                    restored.setdefault(str(agent.id), []).append(conv.id)
                    continue
                if conv.state == "offered":
                    with contextlib.suppress(Conflict):
                        await self.store.transition(conv.id, "bot", "system:restart", agent_id=None)
                decisions += self.router.enqueue(
                    QueuedConversation(
                        id=conv.id,
                        language=self.routing_language(conv.language),
                        enqueued_at=now - waited,
                        weight=self.weight_of(conv),
                    ),
                    now,
                )
            for agent_key, conv_ids in restored.items():
                # This node's leases become exactly what the store says the agent holds.
                await self.ledger.reconcile(
                    agent_key, conv_ids, weights={c: weights[c] for c in conv_ids}
                )
            for agent_id in sorted(online_agents):
                if agent_id in agents:
                    decisions += self.router.agent_online(agent_info(agents[agent_id]), now)
            self.is_leader = True
            await self._carry_out(decisions)
        self._wake.set()

    async def _set_aside_of(self, conv_ids: list[str]) -> set[str]:
        """Which of these waiting chats the bot's fold of their transcripts shows set aside."""
        assist = self.hub.assist
        if assist is None or not conv_ids:
            return set()
        try:
            states = await asyncio.gather(*(assist.bot_state(c) for c in conv_ids))
        except LivedeskError as exc:  # queue them all: a person too many, never one too few
            log.warning("set-aside chats not read, all queued: %s", exc)
            return set()
        return {c for c, state in zip(conv_ids, states, strict=True) if state.set_aside}

    async def follow(self) -> None:
        """Stop routing (another node leads): forget the router's state."""
        async with self._lock:
            self.is_leader = False
            self.router = Router(router_config(self.settings))
        self._wake.set()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None

    async def _timer_loop(self) -> None:
        while True:
            deadline = self.router.next_deadline()
            self._wake.clear()
            timeout = None if deadline is None else max(0.0, deadline - self.clock())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
                continue  # something changed: recompute the deadline
            except TimeoutError:
                pass
            try:
                await self._call(self.router.tick)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("router tick failed")
                await asyncio.sleep(1.0)  # back off rather than spin on a persistent fault

    async def _call(self, step: Callable[[float], list[Decision]], *, strict: bool = False) -> None:
        """Run one router step and carry out its decisions. ``strict``: a refusal is the
        caller's to report (RouterError raised); otherwise it is logged."""
        async with self._lock:
            try:
                decisions = step(self.clock())
            except RouterError as exc:
                if strict:
                    raise
                log.warning("router refused: %s", exc)
                return
            await self._carry_out(decisions)
        self._wake.set()

    # ------------------------------------------------------------------ events from the hub
    # Each event runs here when this node routes (one process, or the cluster's leader);
    # otherwise it is forwarded to the leader (``forward``), which runs the same handler.

    async def _event(self, event: RoutingEvent) -> str | None:
        if self.forward is not None and not self.is_leader:
            key = event.ordering_key
            behind = self._forwarding.last(key) is not None
            first_try: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            task = self._forwarding.spawn(key, lambda: self._hand_over(event, first_try))
            task.add_done_callback(functools.partial(_settle, first_try))
            if not behind:
                # The caller goes on (to the bot's answer, say) once the event is handed over
                # or refused: not waiting made cross-node assignment several times slower
                # (benchmarks/multinode.py).
                await first_try
            return None
        return await self._run_event(event)

    async def _hand_over(self, event: RoutingEvent, first_try: asyncio.Future[None]) -> None:
        """Forward ``event`` to the leader. While Redis is away, what caused the event is
        already stored and acknowledged, so the socket is not failed: the event is offered
        again with backoff (and the later events with its key wait behind it)."""
        assert self.forward is not None
        backoff = Backoff(base_s=0.2, cap_s=5.0)
        for attempt in range(FORWARD_ATTEMPTS):
            try:
                await self.forward(event)
                return
            except LivedeskError as exc:
                if attempt == 0:
                    log.warning("routing event %s not forwarded (%s); retrying", event.op, exc)
            finally:
                if not first_try.done():
                    first_try.set_result(None)
            await asyncio.sleep(backoff.next_delay())
        log.error("routing event dropped after %d attempts: %r", FORWARD_ATTEMPTS, event)

    async def _run_event(self, event: RoutingEvent) -> str | None:
        """Run an event's handler, then wait until what it decided for its own conversation
        is carried out: a visitor's first message must find the chat already assigned, not
        still with the bot. A bot turn (``VisitorWrote``) is queued behind the conversation's
        other work and not waited for: it is slow (the knowledge base), and nobody needs its
        outcome."""
        result = await self._handle(event)
        if isinstance(event, VisitorWrote):
            return result
        conv_id = getattr(event, "conv_id", None)
        pending = self._pending.last(conv_id) if conv_id is not None else None
        if pending is not None:
            await asyncio.wait([pending])
        return result

    async def _handle(self, event: RoutingEvent) -> str | None:
        match event:
            case AgentConnected(agent_id=agent_id):
                return await self._on_agent_connected(agent_id)
            case AgentDisconnected(agent_id=agent_id):
                await self._call(lambda now: self.router.agent_disconnected(str(agent_id), now))
            case AgentStatusChanged(agent_id=agent_id, status=status):
                await self._on_agent_status(agent_id, status)
            case AgentChanged(agent_id=agent_id, cap=cap):
                await self._on_agent_changed(agent_id, cap)
            case ConversationWaiting(conv_id=conv_id):
                await self._on_conversation_waiting(conv_id)
            case ConversationEnded(conv_id=conv_id):
                await self._call(lambda now: self.router.release(conv_id, now))
                self._visitor_of.pop(conv_id, None)
                self.hub.forget(conv_id)
            case FirstHumanReply(conv_id=conv_id):
                await self._call(lambda now: self.router.first_human_reply(conv_id, now))
            case AgentWorking(conv_id=conv_id, agent_id=agent_id):
                await self._call(lambda now: self.router.agent_working(conv_id, str(agent_id), now))
            case SetAside(conv_id=conv_id):
                await self._call(lambda now: self.router.set_aside(conv_id, now))
            case VisitorWrote(conv_id=conv_id, seq=seq):
                self._pending.spawn(conv_id, functools.partial(self._bot_turn, conv_id, seq))
            case AnswerOffer(conv_id=conv_id, agent_id=agent_id, accept=accept):
                # An answer for an offer that already moved on (timeout) raises RouterError:
                # the routing node tells the agent; forwarded, the leader logs it.
                await self._call(
                    lambda now: (self.router.accept if accept else self.router.decline)(
                        conv_id, str(agent_id), now
                    ),
                    strict=True,
                )
            case Transfer() as transfer:
                await self._on_transfer(transfer)
            case _:
                log.warning("no handler for routing event %r", event)
        return None

    async def handle_forwarded(self, event: RoutingEvent) -> None:
        """The leader's side of ``forward``: run an event another node sent."""
        try:
            await self._run_event(event)
        except (RouterError, LivedeskError) as exc:
            log.warning("forwarded %s refused: %s", event.op, exc)

    async def agent_connected(self, agent_id: int) -> str:
        return await self._event(AgentConnected(agent_id)) or "online"

    async def agent_disconnected(self, agent_id: int) -> None:
        await self._event(AgentDisconnected(agent_id))

    async def agent_status(self, agent_id: int, status: str) -> None:
        await self._event(AgentStatusChanged(agent_id, status))

    async def conversation_waiting(self, conv: Conversation, *, first_visit: bool = False) -> None:
        """``first_visit``: the visitor's row was written with this conversation, so they
        had no agent before (routed here, that read is skipped)."""
        # Routed here, the handler takes the conversation as it was just read or written
        # rather than reading it again (forwarded, the leader reads it).
        self._fresh[conv.id] = conv
        if first_visit:
            self._first_visits.add(conv.id)
        try:
            await self._event(ConversationWaiting(conv.id))
        finally:
            self._fresh.pop(conv.id, None)
            self._first_visits.discard(conv.id)

    async def conversation_ended(self, conv: Conversation) -> None:
        await self._event(ConversationEnded(conv.id))

    async def first_human_reply(self, conv_id: str) -> None:
        await self._event(FirstHumanReply(conv_id))

    async def agent_changed(self, agent_id: int, *, cap: int | None = None) -> None:
        """The agent's cap, teams or languages changed: routing follows now. The stored
        agent is re-read; ``cap`` is the cap in effect when it is not the stored one (the
        adaptive mode). An agent not on the floor takes it all at their next login."""
        await self._event(AgentChanged(agent_id, cap))

    async def apply_settings(self, settings: Settings) -> None:
        """The effective settings changed (an admin saved them, on any node): business hours
        apply here at once; the routing node rebuilds its router's config."""
        self.settings = settings
        self.hours = BusinessHours.parse(
            settings.routing.business_hours, settings.routing.holidays, settings.routing.timezone
        )
        self.team_hours = desk_team_hours(settings.routing)
        if self.is_leader:
            config = router_config(settings)
            await self._call(lambda now: self.router.reconfigure(config, now))

    async def agent_working(self, conv_id: str, agent_id: int) -> None:
        """The agent types in the chat or holds a draft for it: work, which restarts the
        first-reply clock. Nothing to do (and nothing forwarded) while that clock is off."""
        if self.router.config.first_reply_timeout_s is None:
            return
        await self._event(AgentWorking(conv_id, agent_id))

    async def answer_offer(self, conv_id: str, agent_id: int, *, accept: bool) -> None:
        """Manual accept: the agent takes the offered chat, or passes it to the next."""
        await self._event(AnswerOffer(conv_id, agent_id, accept))

    async def transfer(
        self,
        conv_id: str,
        by: str,
        *,
        to_agent: int | None = None,
        to_team: str | None = None,
        note: str = "",
        override: bool = False,
    ) -> None:
        """Hand a conversation to an agent with room (beyond the cap only with ``override``,
        which only supervisors may ask for) or back to a team's queue. Raises RouterError
        (NoRoom when the agent is full) for the caller to report — on the routing node;
        elsewhere the request is forwarded and its outcome shows as events."""
        await self._event(Transfer(conv_id, by, to_agent, to_team, note, override))

    async def set_aside(self, conv_id: str) -> None:
        """The bot's article helped the visitor: out of the queue, still open."""
        await self._event(SetAside(conv_id))

    # ------------------------------------------------------------------ the handlers

    async def _on_agent_connected(self, agent_id: int) -> str:
        agent = await self.store.get_agent(agent_id)
        if agent is None:
            return "offline"
        info = agent_info(agent)
        self.desk_languages |= info.languages
        snapshot = {a.id: a for a in self.router.snapshot().agents}
        known = snapshot.get(info.id)
        if known is not None and known.status != "offline" and not known.connected:
            await self._call(lambda now: self.router.agent_reconnected(info.id, now))
            return known.status
        if known is not None and known.status == "away":
            return "away"
        await self._call(lambda now: self.router.agent_online(info, now))
        return "online"

    async def _on_agent_changed(self, agent_id: int, cap: int | None) -> None:
        agent = await self.store.get_agent(agent_id)
        if agent is None:
            return
        info = agent_info(agent)
        if cap is not None:
            info = replace(info, cap=cap)  # validates the cap
        self.desk_languages |= info.languages
        await self._call(lambda now: self.router.agent_changed(info, now))

    async def _on_agent_status(self, agent_id: int, status: str) -> None:
        # The router checks the status (ValueError for one it does not know).
        known = cast(AgentStatus, status)
        await self._call(lambda now: self.router.agent_status(str(agent_id), known, now))

    async def _on_conversation_waiting(self, conv_id: str) -> None:
        """A conversation wants a human: queued with its priority class (paying customers
        first), or, when no human will come, held by the bot alone."""
        conv = self._fresh.pop(conv_id, None) or await self.store.get_conversation(conv_id)
        first_visit = conv_id in self._first_visits
        self._first_visits.discard(conv_id)
        if conv is None or conv.state not in ("bot", "offered"):
            return
        if self.router.conversation_state(conv.id) is not None:
            return  # routed already (a set-aside chat asked again twice, say)
        self._visitor_of[conv.id] = conv.visitor_id
        if not self.is_open(conv.team):
            # Closed: the welcome said nobody is available, and so it is; the bot holds
            # the chat alone and offers the offline form (one truth, not an agent after all).
            await self.hub.bot_greet(conv.id, None, None)
            return
        priority: int | None = 0
        previous: int | None
        if self.hub.credits is not None:
            # Two independent reads: side by side, as routing waits on both.
            priority, previous = await asyncio.gather(
                self.hub.credits.priority(conv.visitor_id),
                self._previous_agent(conv, first_visit),
            )
            if priority is None:
                await self.hub.bot_greet(conv.id, None, None)
                return
        else:
            previous = await self._previous_agent(conv, first_visit)
        assert priority is not None  # None returned above: the bot holds it alone
        queued = QueuedConversation(
            id=conv.id,
            priority=priority,
            language=self.routing_language(conv.language),
            team=conv.team,
            previous_agent=str(previous) if previous is not None else None,
            enqueued_at=self.clock(),
            weight=self.weight_of(conv),
        )
        await self._call(lambda now: self.router.enqueue(queued, now))

    async def _previous_agent(self, conv: Conversation, first_visit: bool) -> int | None:
        if first_visit:
            return None
        return await self.store.previous_agent_of(conv.visitor_id, conv.id)

    async def visitor_wrote(self, conv_id: str, seq: int) -> None:
        """A visitor wrote where the bot may hold the chat: the bot's turn is the routing
        node's, so it comes after the routing of the conversation (its greeting first)."""
        await self._event(VisitorWrote(conv_id, seq))

    async def _bot_turn(self, conv_id: str, seq: int) -> None:
        """One bot turn, in order with the conversation's routing; what it asks of routing
        is done here at once (an event would wait behind this very turn)."""
        try:
            outcome = await self.hub.bot_turn(conv_id, seq)
            if outcome == "set_aside":
                await self._call(lambda now: self.router.set_aside(conv_id, now))
            elif outcome == "waiting":
                await self._on_conversation_waiting(conv_id)
        except LivedeskError as exc:  # the store is down: the visitor's next message retries
            log.warning("bot turn for %s failed: %s", conv_id, exc)

    async def _on_transfer(self, t: Transfer) -> None:
        await self._call(
            lambda now: self.router.transfer(
                t.conv_id,
                now,
                to_agent=str(t.to_agent) if t.to_agent is not None else None,
                to_team=t.to_team,
                note=t.note,
                override=t.override,
                by=t.by,
            ),
            strict=True,
        )

    def weight_of(self, conv: Conversation) -> float:
        """What the conversation weighs against its agent's cap: an e-mail one the
        ``mail_weight`` setting, a chat a whole slot."""
        return float(self.settings.mail.mail_weight) if conv.channel == "email" else 1.0

    def routing_language(self, language: str | None) -> str | None:
        """The visitor's language as the router should prefer it: ``sr-Cyrl`` and ``sr``
        meet on the agents' ``sr``; a language no agent lists is no preference."""
        if not language:
            return None
        for candidate in (language, language.split("-")[0]):
            if candidate in self.desk_languages:
                return candidate
        return None

    def is_open(self, team: str | None = None) -> bool:
        """Inside business hours now: the team's own, if it has some, else the desk's."""
        return self.open_at(datetime.now(UTC), team) is not False

    def open_at(self, moment: datetime, team: str | None = None) -> bool | None:
        """Inside business hours at ``moment``: the team's own, if it has some, else the
        desk's; None when that team (or the desk) has no hours at all."""
        hours = self.team_hours[team] if team in self.team_hours else self.hours
        return None if hours is None else hours.is_open(moment)

    def any_open(self) -> bool:
        """Some chat may reach a person now: the desk's hours or one team's are open."""
        return self.is_open() or any(self.is_open(team) for team in self.team_hours)

    async def available(self, team: str | None = None, snapshot: Snapshot | None = None) -> bool:
        """Can a visitor expect a human now: inside business hours (the team's, for a chat
        the widget sends to a team), someone online. ``snapshot``: the router's, if the
        caller has just taken one."""
        if not self.is_open(team):
            return False
        if self.is_leader:
            snapshot = snapshot or self.router.snapshot()
            return any(a.status == "online" and a.connected for a in snapshot.agents)
        try:
            return bool(await self.presence.online_agents())
        except LivedeskError:
            return True  # unknown: offer the chat rather than turn the visitor away

    def snapshot(self) -> Snapshot:
        """The router's view for dashboards: agents' status and load, queue lengths. A node
        that does not route shows the leader's, as the cluster last shared it."""
        if not self.is_leader and self.shared_snapshot is not None:
            return self.shared_snapshot
        return self.router.snapshot(self.clock())

    # ------------------------------------------------------------------ decisions

    async def _carry_out(self, decisions: list[Decision]) -> None:
        """Hand the decisions on, per conversation and in order (see ``_then``): the router
        lock is held only while the router decides, so one slow ledger or store round trip
        no longer holds up every other routing event."""
        by_conv: dict[str, list[Decision]] = {}
        for decision in decisions:
            by_conv.setdefault(decision.conv_id, []).append(decision)
        for conv_id, steps in by_conv.items():
            self._then(conv_id, steps)
        queued = self.router.queued_count
        metrics.QUEUED.set(queued)
        if queued != self._queued_seen:
            self._queued_seen = queued
            self.hub.wake_boards()

    def _then(self, conv_id: str, steps: list[Decision]) -> None:
        """Carry out ``steps`` after whatever is still pending for the conversation."""
        self._pending.spawn(conv_id, lambda: self._carry_out_steps(steps))

    async def _carry_out_steps(self, steps: list[Decision]) -> None:
        replanned = False
        for d in steps:
            if replanned and not isinstance(d, SlotFreed):
                continue  # the router changed its plan for this conversation
            try:
                if isinstance(d, Offer) and not await self._reserve(d):
                    # Another node's lease filled the agent, or the ledger could not say:
                    # the router re-plans, and its new decisions queue behind this task.
                    await self._call(
                        functools.partial(self.router.offer_failed, d.conv_id, d.agent_id)
                    )
                    replanned = True
                    continue
                if isinstance(d, SlotFreed):
                    await self.ledger.release(d.agent_id, d.conv_id)
                await self._effects(d)
            except LivedeskError as exc:  # ledger or store down: the next event retries
                log.warning("could not carry out %s: %s", d, exc)

    async def _reserve(self, d: Offer) -> bool:
        """A slot in the capacity ledger, which every node shares, before any offer. A
        reservation that raised is a refusal: the slot may not be there, so nobody may be
        told the agent joined; the router backs off the agent and offers again later."""
        try:
            granted = await self.ledger.reserve(
                d.agent_id, d.conv_id, d.ledger_cap, d.override, d.weight
            )
        except Exception as exc:  # Redis down or failing: not granted
            log.warning("capacity reservation for %s failed, refused: %r", d.conv_id, exc)
            return False
        if not granted:
            return False
        if d.override:
            log.warning("supervisor override: %s assigned beyond cap to %s", d.conv_id, d.agent_id)
        return True

    async def _effects(self, d: Decision) -> None:
        """The store's and the sockets' part of a decision."""
        if isinstance(d, Offer):
            for listener in self.offer_listeners:
                listener(int(d.agent_id), d.conv_id)
            if not d.auto_accept:
                await self._transition(d.conv_id, "offered", agent_id=int(d.agent_id))
                self.hub.publish(
                    agent_channel(int(d.agent_id)),
                    {
                        "type": "offer",
                        "conversation_id": d.conv_id,
                        "deadline_s": self.settings.routing.accept_timeout_s,
                    },
                )
        elif isinstance(d, Assigned):
            # The move and the event the visitor waits for in one transaction: one write
            # less per assignment, and the visitor hears of it at the commit, not one group
            # commit later.
            agent_id = int(d.agent_id)
            event = self.hub.assigned_event(agent_id, await self.hub.agent_name(agent_id))
            conv = await self._transition(
                d.conv_id, "active", agent_id=agent_id, assigned_ms=now_ms(), event=event
            )
            if conv is None:  # closed meanwhile: give the agent's slot back
                await self._call(lambda now: self.router.release(d.conv_id, now))
                return
            await self.hub.assigned(conv, agent_id)
        elif isinstance(d, (Queued, QueueUpdate)):
            visitor_id = self._visitor_of.get(d.conv_id)
            if visitor_id is not None:
                eta = d.eta_s if d.eta_s is not None else -1
                self.hub.queue_update(d.conv_id, visitor_id, d.position, eta)
            if isinstance(d, Queued):
                # The bot holds the conversation while it waits (it greets once per spell),
                # before any bot turn queued behind this conversation's routing.
                greet = functools.partial(self.hub.bot_greet, d.conv_id, d.position, d.eta_s)
                self._pending.spawn(d.conv_id, greet)
        elif isinstance(d, Requeued):
            if d.agent_id is not None:
                await self._transition(d.conv_id, "bot", agent_id=None)
                self.hub.unassigned(d.conv_id, int(d.agent_id), d.reason)
            if d.reason == "no_first_reply":
                # It goes straight on to a colleague (the next decisions): the visitor only
                # hears who joined; staff see why it moved.
                self.hub.post_event(
                    d.conv_id, "moved", {"reason": d.reason, "from_agent_id": d.agent_id}
                )
            else:
                self.hub.post_event(d.conv_id, "requeued", {"reason": d.reason})
        elif isinstance(d, ReplyWarning):
            moves_in = None if d.moves_at is None else max(0, round(d.moves_at - self.clock()))
            self.hub.publish(
                agent_channel(int(d.agent_id)),
                {
                    "type": "reply_warning",
                    "conversation_id": d.conv_id,
                    "moves_in_s": moves_in,
                },
            )
        elif isinstance(d, OfferExpired):
            self.hub.publish(
                agent_channel(int(d.agent_id)),
                {"type": "offer_withdrawn", "conversation_id": d.conv_id, "reason": d.reason},
            )
        elif isinstance(d, AgentLeft):
            self.hub.post_event(d.conv_id, "agent_left", {"agent_id": int(d.agent_id)})
        elif isinstance(d, Transferred):
            if d.from_agent is not None and d.to_agent is not None:
                # Agent to agent: the old agent's console drops the chat at once (a team
                # transfer says so through its Requeued decision).
                self.hub.unassigned(d.conv_id, int(d.from_agent))
            if d.override:
                log.warning("transfer beyond cap by %s: %s → %s", d.by, d.conv_id, d.to_agent)
            self.hub.post_event(
                d.conv_id,
                "transferred",
                {
                    "to_agent": d.to_agent,
                    "to_team": d.to_team,
                    "note": d.note,
                    "override": d.override,
                },
            )
        elif isinstance(d, LanguageFallback):
            log.info("language fallback for %s (%s)", d.conv_id, d.language)

    async def _transition(self, conv_id: str, state: str, **values: Any) -> Conversation | None:
        try:
            return await self.store.transition(conv_id, state, "router", **values)
        except Conflict:
            return None  # closed meanwhile: the router hears of it through release()
