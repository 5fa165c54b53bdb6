"""Random event sequences against the router, checked against a model kept from decisions.

The test plays the hub: it carries decisions out on an in-memory capacity ledger and
derives, from the decisions alone, what each conversation may match (exclusions, language
fallback, team changes, front-of-queue requeues). The invariants:

* no agent ever holds more than its cap (and the ledger agrees with the router);
* no conversation is held by two agents;
* nothing waits while an agent it may go to is available with room;
* an agent pulling from the queue takes the first it may take in priority/FIFO/aging order;
* a visitor's position is their rank in that order within their queue.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from router import (
    AgentInfo,
    Assigned,
    Decision,
    InMemoryCapacityLedger,
    NoRoom,
    Offer,
    OfferExpired,
    Queued,
    QueuedConversation,
    QueueUpdate,
    Requeued,
    Router,
    RouterConfig,
    SlotFreed,
    Transferred,
)

AGENTS = ["a0", "a1", "a2", "a3"]
TEAMS = ["sales", "billing"]
LANGS = ["en", "de"]
AGING = 120.0
EAGER = 3
FALLBACK = 60.0
EXCLUDING = {"declined", "accept_timeout", "no_first_reply", "transfer"}
FRONT = {"agent_gone", "transfer"}


class RouterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.seq = 0
        self.ledger = InMemoryCapacityLedger()
        self.infos: dict[str, AgentInfo] = {}
        self.conv: dict[str, QueuedConversation] = {}
        self.team: dict[str, str | None] = {}
        self.excluded: dict[str, set[str]] = {}
        self.key: dict[str, tuple[int, float, int]] = {}
        self.pending: dict[str, str] = {}
        self.saturated: dict[str, float] = {}
        self.last_decisions: list[Decision] = []
        self.told: dict[str, int] = {}  # the position each visitor was last told
        self.check_order = False

    @initialize(
        auto=st.booleans(),
        policy=st.sampled_from(["least_loaded", "round_robin"]),
        first_reply=st.sampled_from([None, 50.0]),
    )
    def setup(self, auto: bool, policy: str, first_reply: float | None) -> None:
        self.router = Router(
            RouterConfig(
                policy=policy,  # type: ignore[arg-type]
                auto_accept=auto,
                accept_timeout_s=20,
                disconnect_grace_s=15,
                language_fallback_s=FALLBACK,
                first_reply_timeout_s=first_reply,
                aging_s_per_class=AGING,
                ledger_backoff_s=5,
                eager_positions=EAGER,
            )
        )

    # --- carrying decisions out, like the hub -------------------------------------------------

    def apply(self, ds: list[Decision], check_order: bool = True) -> None:
        self.last_decisions = ds
        self.check_order = check_order
        for d in ds:
            if isinstance(d, Offer):
                assert self.ledger.reserve(d.agent_id, d.conv_id, d.ledger_cap), d
                if not d.auto_accept:
                    self.pending[d.conv_id] = d.agent_id
            elif isinstance(d, Assigned | OfferExpired):
                self.pending.pop(d.conv_id, None)
            elif isinstance(d, SlotFreed):
                assert self.ledger.release(d.agent_id, d.conv_id), d
            elif isinstance(d, Requeued):
                if d.reason in EXCLUDING and d.agent_id is not None:
                    self.excluded.setdefault(d.conv_id, set()).add(d.agent_id)
                if d.reason in FRONT:
                    band, k, s = self.key[d.conv_id]
                    self.key[d.conv_id] = (0, k, s)
            elif isinstance(d, Queued | QueueUpdate):
                self.told[d.conv_id] = d.position
            elif isinstance(d, Transferred):
                if d.to_team is not None:
                    self.team[d.conv_id] = d.to_team
                if d.to_agent is None:  # a fresh start in the queue, minus the old agent
                    self.excluded[d.conv_id] = {d.from_agent} if d.from_agent else set()

    # --- rules --------------------------------------------------------------------------------

    @rule(
        agent=st.sampled_from(AGENTS),
        cap=st.integers(1, 3),
        teams=st.frozensets(st.sampled_from(TEAMS), max_size=2),
        langs=st.frozensets(st.sampled_from(LANGS), max_size=2),
    )
    def online(self, agent: str, cap: int, teams: frozenset[str], langs: frozenset[str]) -> None:
        known = self.infos.get(agent)
        if known is not None:  # a profile change while holding chats could exceed a lower cap
            cap = max(cap, known.cap)
        info = AgentInfo(id=agent, cap=cap, teams=teams, languages=langs)
        self.infos[agent] = info
        self.apply(self.router.agent_online(info, self.now))

    @rule(agent=st.sampled_from(AGENTS), status=st.sampled_from(["online", "away", "offline"]))
    def status(self, agent: str, status: str) -> None:
        if agent in self.infos:
            self.apply(self.router.agent_status(agent, status, self.now))  # type: ignore[arg-type]

    @rule(agent=st.sampled_from(AGENTS))
    def disconnect(self, agent: str) -> None:
        if agent in self.infos:
            self.apply(self.router.agent_disconnected(agent, self.now))

    @rule(agent=st.sampled_from(AGENTS))
    def reconnect(self, agent: str) -> None:
        if agent in self.infos:
            self.apply(self.router.agent_reconnected(agent, self.now))

    @rule(
        priority=st.integers(0, 2),
        team=st.sampled_from([None, *TEAMS]),
        lang=st.sampled_from([None, *LANGS]),
        previous=st.sampled_from([None, *AGENTS]),
    )
    def enqueue(
        self, priority: int, team: str | None, lang: str | None, previous: str | None
    ) -> None:
        self.seq += 1
        cid = f"c{self.seq}"
        qc = QueuedConversation(cid, priority, team, lang, previous, self.now)
        self.conv[cid] = qc
        self.team[cid] = team
        self.key[cid] = (1, self.now - priority * AGING, self.seq)
        self.apply(self.router.enqueue(qc, self.now))

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        if self.conv:
            cid = data.draw(st.sampled_from(sorted(self.conv)))
            state = self.router.conversation_state(cid)
            if state is not None and state[1] is not None:
                self.saturated.pop(state[1], None)  # a slot given back ends the back-off
            self.apply(self.router.release(cid, self.now))
            del self.conv[cid]

    @rule(data=st.data(), accept=st.booleans())
    def answer_offer(self, data: st.DataObject, accept: bool) -> None:
        if self.pending:
            cid = data.draw(st.sampled_from(sorted(self.pending)))
            agent = self.pending[cid]
            if accept:
                self.apply(self.router.accept(cid, agent, self.now))
            else:
                self.apply(self.router.decline(cid, agent, self.now))

    @rule(data=st.data())
    def ledger_refuses(self, data: st.DataObject) -> None:
        held = [d for d in self.last_decisions if isinstance(d, Offer) and d.conv_id in self.conv]
        if held:
            offer = data.draw(st.sampled_from(held))
            state = self.router.conversation_state(offer.conv_id)
            if state is None or state[1] != offer.agent_id:
                return
            # The hub would not have reserved: undo what apply() did for this offer.
            self.ledger.release(offer.agent_id, offer.conv_id)
            self.pending.pop(offer.conv_id, None)
            self.saturated[offer.agent_id] = self.now + 5
            self.apply(self.router.offer_failed(offer.conv_id, offer.agent_id, self.now))

    @rule(data=st.data())
    def reply(self, data: st.DataObject) -> None:
        if self.conv:
            cid = data.draw(st.sampled_from(sorted(self.conv)))
            state = self.router.conversation_state(cid)
            if state is not None and state[0] == "active":
                self.apply(self.router.first_human_reply(cid, self.now))

    @rule(
        data=st.data(),
        to_agent=st.sampled_from([None, *AGENTS]),
        to_team=st.sampled_from([None, *TEAMS]),
    )
    def transfer(self, data: st.DataObject, to_agent: str | None, to_team: str | None) -> None:
        if not self.conv or (to_agent is not None and to_agent not in self.infos):
            return
        cid = data.draw(st.sampled_from(sorted(self.conv)))
        state = self.router.conversation_state(cid)
        if state is None or (to_agent is not None and state[1] == to_agent):
            return
        try:
            ds = self.router.transfer(cid, self.now, to_agent=to_agent, to_team=to_team, by="s")
        except NoRoom:
            return
        self.apply(ds, check_order=False)

    @rule(dt=st.sampled_from([1.0, 5.0, 16.0, 21.0, 61.0]))
    def advance(self, dt: float) -> None:
        target = self.now + dt
        # One timer at a time, as a hub woken by next_deadline() would.
        while True:
            deadline = self.router.next_deadline()
            if deadline is None or deadline > target:
                break
            self.now = max(self.now, deadline)
            self.apply(self.router.tick(self.now))
            self.router_invariants()
        self.now = target
        self.apply(self.router.tick(self.now))
        for agent, until in list(self.saturated.items()):
            if until <= self.now:
                del self.saturated[agent]

    # --- invariants ---------------------------------------------------------------------------

    def fallen_back(self, cid: str) -> bool:
        # Timers up to self.now have all run, and the language wait counts from arrival
        # whatever happened since (it may have run out while the chat was with an agent).
        qc = self.conv[cid]
        return qc.language is None or self.now >= qc.enqueued_at + FALLBACK

    def matches(self, cid: str, agent: AgentInfo) -> bool:
        qc = self.conv[cid]
        team = self.team[cid]
        if team is not None and team not in agent.teams:
            return False
        if not self.fallen_back(cid) and qc.language not in agent.languages:
            return False
        return agent.id not in self.excluded.get(cid, set())

    @invariant()
    def router_invariants(self) -> None:
        if not hasattr(self, "router"):
            return
        snap = self.router.snapshot(self.now)
        owner: dict[str, str] = {}
        available: list[AgentInfo] = []
        for a in snap.agents:
            assert len(a.chats) <= a.cap, (a.id, a.chats, a.cap)
            assert self.ledger.count(a.id) == len(a.chats)
            for cid in a.chats:
                assert cid not in owner, f"{cid} held by {owner[cid]} and {a.id}"
                owner[cid] = a.id
                assert self.router.conversation_state(cid) in (
                    ("offered", a.id),
                    ("active", a.id),
                )
            if (
                a.status == "online"
                and a.connected
                and a.id not in self.saturated
                and len(a.chats) < a.cap
            ):
                available.append(self.infos[a.id])
        queued = [
            cid
            for cid in self.conv
            if (state := self.router.conversation_state(cid)) is not None and state[0] == "queued"
        ]
        assert len(queued) == snap.queued
        # Positions are ranks by (front band, aged arrival, arrival order) within one queue.
        queues: dict[tuple[str | None, str | None], list[str]] = {}
        for cid in queued:
            lang = None if self.fallen_back(cid) else self.conv[cid].language
            queues.setdefault((self.team[cid], lang), []).append(cid)
        for members in queues.values():
            members.sort(key=lambda c: self.key[c])
            for rank, cid in enumerate(members, start=1):
                info = self.router.queue_info(cid)
                assert info is not None and info[0] == rank, (cid, info, rank)
                if rank <= EAGER:  # the head of a queue is told at once, never stale
                    assert self.told.get(cid) == rank, (cid, self.told.get(cid), rank)
        for cid in queued:
            for agent in available:
                assert not self.matches(cid, agent), f"{cid} waits while {agent.id} has room"
        if self.check_order:
            for d in self.last_decisions:
                if not isinstance(d, Offer) or d.conv_id not in self.key:
                    continue
                if any(
                    isinstance(x, Assigned) and x.conv_id == d.conv_id and x.returning
                    for x in self.last_decisions
                ):
                    continue
                agent = self.infos[d.agent_id]
                for cid in queued:
                    if self.matches(cid, agent):
                        assert self.key[cid] > self.key[d.conv_id], (
                            f"{d.agent_id} took {d.conv_id} before {cid}"
                        )


RouterMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_router_invariants_hold_over_random_event_sequences = RouterMachine.TestCase
