"""Many hub processes on one Redis: the shared capacity ledger, presence, and one routing
leader. Every node serves sockets; only the leader runs the router. The others forward
routing events to it over Redis; its decisions reach every node through the bus and the
store, so a user cannot tell which node they are on."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING, Any, Protocol, cast

import msgpack

from chatserver.backends.bus_redis import redis_client
from chatserver.backends.capacity_redis import RedisCapacityLedger
from chatserver.backends.leader import LeaderLease, RouterInbox, RouterOutbox
from chatserver.backends.presence_redis import RedisPresence
from chatserver.backends.redis_keys import KEY_PREFIX
from chatserver.core.events import MalformedEvent, RoutingEvent, from_wire, to_wire
from chatserver.runtime.tasks import InOrderPerKey, TaskSet
from router import AgentSnapshot, Snapshot

if TYPE_CHECKING:
    from chatserver.core.settings import Settings


class ClusterRouting(Protocol):
    """What the cluster drives: the routing host (``services.dispatch.Dispatcher``). It is
    built with the cluster's parts (``ClusterParts``: ledger, presence, ``forward``) and
    then handed to ``Cluster``'s constructor by the composition root."""

    is_leader: bool
    shared_snapshot: Snapshot | None

    async def agent_connected(self, agent_id: int) -> str: ...
    async def lead(self, online_agents: set[int]) -> None: ...
    async def follow(self) -> None: ...
    async def handle_forwarded(self, event: RoutingEvent) -> None: ...
    def snapshot(self) -> Snapshot: ...


log = logging.getLogger("livedesk.cluster")

SNAPSHOT_EVERY_S = 1.0
# Forwarded routing events the leader works on at once (each may wait on the store).
FORWARDED_IN_FLIGHT = 32


class ClusterParts:
    """A node's Redis parts, made before the routing host because they go into its
    constructor (and it into ``Cluster``'s): the client, the capacity ledger, presence,
    the leader lease and the outbox ``forward`` hands routing events to."""

    def __init__(self, settings: Settings, node_id: str) -> None:
        assert settings.cluster.redis_url is not None
        # Fails fast, no hidden retries (a retried push could queue an event twice); the
        # inbox blocks on BLPOP for a second, well inside the 5 s socket timeout.
        self.redis = redis_client(settings.cluster.redis_url)
        self.node_id = node_id
        self.ledger = RedisCapacityLedger(
            self.redis, node_id, lease_ttl_s=settings.cluster.capacity_lease_ttl_s
        )
        self.presence = RedisPresence(self.redis, node_id, ttl_s=settings.cluster.presence_ttl_s)
        self.lease = LeaderLease(self.redis, node_id, ttl_s=settings.cluster.leader_lease_ttl_s)
        self.outbox = RouterOutbox(self.redis)

    async def forward(self, event: RoutingEvent) -> None:
        """A node that does not route: hand ``event`` to whichever node leads."""
        await self.outbox.send(to_wire(event))


class Cluster:
    """A node's part in the cluster: it renews its capacity leases, stands for leader, and
    drives ``dispatcher`` (leading: it runs the events other nodes forward; following: it
    reads the leader's snapshot for the dashboards)."""

    def __init__(self, parts: ClusterParts, dispatcher: ClusterRouting) -> None:
        self.parts = parts
        self.dispatcher = dispatcher
        self._inbox: RouterInbox | None = None
        self.tasks = TaskSet("cluster")

    async def start(self) -> None:
        await self.parts.presence.start()
        self.tasks.spawn(self._renew_capacity_leases())
        self.tasks.spawn(self._share_snapshot())
        self.tasks.spawn(self.parts.lease.run(self._elected, self._lost))

    async def stop(self) -> None:
        if self._inbox is not None:
            self._inbox.close()
        await self.tasks.stop()
        await self.parts.presence.stop()
        await self.parts.redis.aclose()

    async def redis_back(self) -> None:
        """Redis returned (perhaps empty, perhaps with a new leader elected before this
        node's next heartbeat): say at once which agents are here, and tell whoever routes
        that they are connected, so none of them is taken for gone."""
        try:
            await self.parts.presence.heartbeat()
        except Exception as exc:  # the regular heartbeat retries
            log.warning("presence after Redis came back: %r", exc)
        for agent_id in sorted(self.parts.presence.local_agents()):
            try:
                await self.dispatcher.agent_connected(agent_id)
            except Exception as exc:
                log.warning("agent %s not re-announced: %r", agent_id, exc)

    async def _elected(self) -> None:
        log.info("node %s routes for the cluster", self.parts.node_id)
        await self.dispatcher.lead(await self.parts.presence.online_agents())
        self._inbox = RouterInbox(self.parts.redis)
        self.tasks.spawn(self._consume(self._inbox))

    async def _lost(self) -> None:
        log.warning("node %s no longer routes", self.parts.node_id)
        if self._inbox is not None:
            self._inbox.close()
            self._inbox = None
        await self.dispatcher.follow()

    async def _consume(self, inbox: RouterInbox) -> None:
        """Run forwarded events as they come: one after another for the same agent or
        conversation (a connect must not overtake the disconnect before it), side by side
        otherwise, so the store reads an event needs before it reaches the router overlap
        instead of queueing every node's events behind each other."""
        in_flight = asyncio.Semaphore(FORWARDED_IN_FLIGHT)
        ordered = InOrderPerKey(self.tasks)
        async for data in inbox:
            try:
                event = from_wire(data)
            except MalformedEvent as exc:  # another version's, or garbage: not ours to run
                log.warning("routing event dropped: %s", exc)
                continue
            await in_flight.acquire()
            task = ordered.spawn(event.ordering_key, functools.partial(self._handle, event))
            task.add_done_callback(lambda _: in_flight.release())

    async def _handle(self, event: RoutingEvent) -> None:
        try:
            await self.dispatcher.handle_forwarded(event)
        except Exception:  # one bad event must not stop the leader's routing
            log.exception("routing event failed: %r", event)

    async def _share_snapshot(self) -> None:
        """Dashboards on any node show the whole desk: the leader shares its router's
        snapshot every second; the others read it."""
        key = snapshot_key()
        while True:
            await asyncio.sleep(SNAPSHOT_EVERY_S)
            try:
                if self.dispatcher.is_leader:
                    data = msgpack.packb(snapshot_to_wire(self.dispatcher.snapshot()))
                    await self.parts.redis.set(key, data, px=int(SNAPSHOT_EVERY_S * 5000))
                else:
                    raw = await self.parts.redis.get(key)
                    self.dispatcher.shared_snapshot = (
                        snapshot_from_wire(msgpack.unpackb(cast(bytes, raw))) if raw else None
                    )
            except Exception as exc:  # Redis down: dashboards keep the last one
                log.warning("router snapshot not shared: %r", exc)

    async def _renew_capacity_leases(self) -> None:
        """Keep this node's capacity leases alive; a node that dies lets them lapse."""
        while True:
            await asyncio.sleep(self.parts.ledger.heartbeat_interval_s)
            try:
                lost = await self.parts.ledger.renew()
            except Exception as exc:  # Redis down: the next round retries
                log.warning("capacity lease renewal failed: %r", exc)
                continue
            if lost:
                log.warning("capacity leases lapsed: %s", lost)


def snapshot_key() -> str:
    return f"{KEY_PREFIX}:router:snapshot"


def snapshot_to_wire(snap: Snapshot) -> dict[str, Any]:
    return {
        "agents": [
            {
                "id": a.id,
                "name": a.name,
                "status": a.status,
                "connected": a.connected,
                "cap": a.cap,
                "load": a.load,
                "chats": list(a.chats),
                "teams": sorted(a.teams),
                "languages": sorted(a.languages),
                "cap_warning": a.cap_warning,
            }
            for a in snap.agents
        ],
        "queued": snap.queued,
        # msgpack maps need keys: None (no team / no language) travels as "".
        "by_team": [[k or "", v] for k, v in snap.queued_by_team.items()],
        "by_language": [[k or "", v] for k, v in snap.queued_by_language.items()],
        "oldest_wait_s": snap.oldest_wait_s,
        "mean_handle_s": snap.mean_handle_s,
    }


def snapshot_from_wire(data: dict[str, Any]) -> Snapshot:
    return Snapshot(
        agents=tuple(
            AgentSnapshot(
                id=a["id"],
                name=a["name"],
                status=a["status"],
                connected=a["connected"],
                cap=a["cap"],
                load=a["load"],
                chats=tuple(a["chats"]),
                teams=frozenset(a["teams"]),
                languages=frozenset(a["languages"]),
                cap_warning=a["cap_warning"],
            )
            for a in data["agents"]
        ),
        queued=data["queued"],
        queued_by_team={k or None: v for k, v in data["by_team"]},
        queued_by_language={k or None: v for k, v in data["by_language"]},
        oldest_wait_s=data["oldest_wait_s"],
        mean_handle_s=data["mean_handle_s"],
    )
