"""Every Redis key and pub/sub channel livedesk uses, named in one place.

All names start with a prefix (``livedesk`` unless configured), so several deployments,
or the tests, can share one Redis without meeting. Keys read together by one script share
a hash tag (``{...}``), so the scripts also run on Redis Cluster.
"""

from __future__ import annotations

import os
import socket
import uuid

KEY_PREFIX = "livedesk"

# Pub/sub: the bus channel ``conv:abc`` is published as ``livedesk:bus:conv:abc``.
BUS_SEGMENT = "bus"
# Presence: one sorted set of live nodes (scored by lease expiry, Redis time) and one set
# of connected agents per node, all under one hash tag.
PRESENCE_TAG = "{presence}"
# The router lease and the queue of routing events forwarded to the leader.
LEADER_SEGMENT = "leader"
ROUTER_EVENTS_SEGMENT = "router:events"


def bus_channel(channel: str, prefix: str = KEY_PREFIX) -> str:
    return f"{prefix}:{BUS_SEGMENT}:{channel}"


def bus_channel_prefix(prefix: str = KEY_PREFIX) -> str:
    """What ``bus_channel`` puts before the hub's channel name."""
    return f"{prefix}:{BUS_SEGMENT}:"


def presence_nodes_key(prefix: str = KEY_PREFIX) -> str:
    return f"{prefix}:{PRESENCE_TAG}:nodes"


def presence_agents_key(node_id: str, prefix: str = KEY_PREFIX) -> str:
    return f"{prefix}:{PRESENCE_TAG}:agents:{node_id}"


def presence_visitors_key(node_id: str, prefix: str = KEY_PREFIX) -> str:
    """The visitors with a socket on one node (rewritten by its heartbeat)."""
    return f"{prefix}:{PRESENCE_TAG}:visitors:{node_id}"


def leader_key(name: str = "router", prefix: str = KEY_PREFIX) -> str:
    return f"{prefix}:{LEADER_SEGMENT}:{name}"


def router_events_key(prefix: str = KEY_PREFIX) -> str:
    return f"{prefix}:{ROUTER_EVENTS_SEGMENT}"


def new_node_id() -> str:
    """A node id unique per process start: host and pid help a human reading Redis, the
    random part keeps a restarted process (same pid in a container) from being taken for
    its former self, whose echoes and leases must not count as its own."""
    host = socket.gethostname().split(".")[0][:32] or "node"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


# One agent's capacity ledger: both keys share the hash tag ``{agent}`` (one shard).
def slots_key(agent_id: str, prefix: str = KEY_PREFIX) -> str:
    return f"{prefix}:cap:{{{agent_id}}}"


def owners_key(agent_id: str, prefix: str = KEY_PREFIX) -> str:
    return f"{prefix}:capown:{{{agent_id}}}"


def weights_key(agent_id: str, prefix: str = KEY_PREFIX) -> str:
    """What each held conversation weighs (thousandths of a chat; absent: a whole chat)."""
    return f"{prefix}:capw:{{{agent_id}}}"
