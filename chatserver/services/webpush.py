"""Web Push for agents: an offer (or an auto-accepted chat), and a visitor's new messages in
a chat the agent holds, reach the agent's browsers through their push services while no
console of theirs is in front of them (a background or closed tab, the browser in the
tray). A burst of messages is one push per conversation: the first message opens a batch
that is pushed, with its count, ``push_message_batch_s`` later. Each push is encrypted to
each subscription (RFC 8291) and
signed with the server's VAPID key (RFC 8292), which is made once and kept in the
database so that every node signs alike and subscriptions survive a restart."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async
from sqlalchemy.exc import IntegrityError

from chatserver.backends import push_queries as pq
from chatserver.backends.store import Store, now_ms
from chatserver.core.settings import Settings
from chatserver.runtime.tasks import TaskSet

log = logging.getLogger("livedesk.push")

# A push that waits longer than this is of no use: the offer will have lapsed.
OFFER_TTL_S = 60
# New messages still want an answer after a while, but not after the visitor has left.
MESSAGES_TTL_S = 15 * 60
SEND_TIMEOUT_S = 10
GONE = (404, 410)
# Most agents never subscribe, and asking the store before every visitor message cost two
# reads a message, so each node keeps which agents have a subscription and re-reads it this
# often: a subscription made through another node is honoured within this many seconds
# (this node's own changes at once).
SUBSCRIBERS_TTL_S = 10.0


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def application_server_key(vapid: Vapid) -> str:
    """The public key as the browser's ``pushManager.subscribe`` wants it."""
    point = vapid.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return _b64url(point)


class WebPush:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.tasks = TaskSet("push")
        self._vapid: Vapid | None = None
        # Conversations with a batch of visitor messages waiting to be pushed: how many.
        self._batches: dict[str, int] = {}
        # Agents with at least one subscription (None: not read yet); a cache of the store.
        self._subscribers: set[int] | None = None
        self._subscribers_read_at = -SUBSCRIBERS_TTL_S
        self._reading_subscribers: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        await self.tasks.stop()

    async def vapid(self) -> Vapid:
        """The key pair: the stored one, or a new one stored (the first node wins)."""
        if self._vapid is not None:
            return self._vapid
        stored = await self.store.read(pq.key_pair)
        if stored is None:
            fresh = Vapid()
            fresh.generate_keys()
            pem = fresh.private_pem().decode("ascii")
            try:
                await self.store.write(
                    lambda c: pq.save_key_pair(c, pem, application_server_key(fresh), now_ms())
                )
            except IntegrityError:
                pass  # another node's pair is the one
            stored = await self.store.read(pq.key_pair)
            assert stored is not None
        self._vapid = Vapid.from_pem(stored[0].encode("ascii"))
        return self._vapid

    async def public_key(self) -> str:
        return application_server_key(await self.vapid())

    def may_push_to(self, agent_id: int) -> bool:
        """False when the agent is known to have no subscription: nothing to read or send.
        Re-reads the set in the background when it is older than ``SUBSCRIBERS_TTL_S``."""
        stale = time.monotonic() - self._subscribers_read_at >= SUBSCRIBERS_TTL_S
        if stale and self._reading_subscribers is None:
            self._reading_subscribers = self.tasks.spawn(self._read_subscribers())
        return self._subscribers is None or agent_id in self._subscribers

    async def subscribers_read(self) -> None:
        """Wait for the read of the set that is under way, if one is."""
        if self._reading_subscribers is not None:
            await asyncio.shield(self._reading_subscribers)

    async def _read_subscribers(self) -> None:
        try:
            self._subscribers = await self.store.read(pq.subscribed_agents)
            self._subscribers_read_at = time.monotonic()
        finally:
            self._reading_subscribers = None

    def subscriptions_changed(self, agent_id: int, subscribed: bool) -> None:
        """This node stored or removed one of the agent's subscriptions."""
        if subscribed and self._subscribers is not None:
            self._subscribers.add(agent_id)
        # Removing one may leave others: the next look reads the set again.
        self._subscribers_read_at = -SUBSCRIBERS_TTL_S

    def offered(self, agent_id: int, conversation_id: str) -> None:
        """The dispatcher's hook: push in the background (a slow push service never holds
        routing up)."""
        if self.may_push_to(agent_id):
            self.tasks.spawn(self.push_offer(agent_id, conversation_id))

    async def push_offer(self, agent_id: int, conversation_id: str) -> int:
        """Push the offer to each of the agent's subscriptions unless a console of theirs is
        in front of them; how many push services took it."""
        body = {"type": "offer", "conversation_id": conversation_id}
        return await self._push(agent_id, body, OFFER_TTL_S)

    def visitor_wrote(self, conversation_id: str, agent_id: int) -> None:
        """The hub's hook for a visitor's message in a chat an agent holds: the first of a
        burst opens the conversation's batch, the rest only count in it."""
        if conversation_id in self._batches:
            self._batches[conversation_id] += 1
            return
        if not self.may_push_to(agent_id):
            return
        self._batches[conversation_id] = 1
        self.tasks.spawn(self._push_batch(conversation_id))

    async def _push_batch(self, conversation_id: str) -> int:
        try:
            await asyncio.sleep(self.settings.push.push_message_batch_s)
        finally:
            count = self._batches.pop(conversation_id, 0)
        # Read again: the chat may have been closed or handed to someone else meanwhile.
        conv = await self.store.get_conversation(conversation_id)
        if conv is None or conv.state != "active" or conv.agent_id is None:
            return 0
        payload = {"type": "messages", "conversation_id": conversation_id, "count": count}
        return await self._push(conv.agent_id, payload, MESSAGES_TTL_S)

    async def _push(self, agent_id: int, body: dict[str, Any], ttl_s: int) -> int:
        """Push ``body`` to each of the agent's subscriptions unless a console of theirs is
        in front of them (it rings there itself); how many push services took it."""
        subs = await self.store.read(lambda c: self._to_push(c, agent_id))
        if not subs:
            return 0
        payload = json.dumps(body)
        vapid = await self.vapid()
        sent = 0
        for sub in subs:
            if await self._send(vapid, sub, payload, ttl_s):
                sent += 1
        return sent

    @staticmethod
    def _to_push(conn: Any, agent_id: int) -> list[dict[str, Any]]:
        """The agent's subscriptions, none while a console of theirs is in front of them:
        one read, and for the many agents without a subscription one query (an offer is
        made for every chat that arrives)."""
        subs = pq.subscriptions(conn, agent_id)
        if not subs or pq.focused(conn, agent_id, now_ms()):
            return []
        return list(subs)

    async def _send(self, vapid: Vapid, sub: dict[str, Any], payload: str, ttl_s: int) -> bool:
        info = {"endpoint": sub["endpoint"], "keys": {"p256dh": sub["p256dh"], "auth": sub["auth"]}}
        try:
            await webpush_async(
                subscription_info=info,
                data=payload,
                vapid_private_key=vapid,
                vapid_claims={"sub": self.settings.push.push_subject},
                ttl=ttl_s,
                timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT_S),
            )
        except WebPushException as exc:
            status = exc.status_code
            if status in GONE:
                # The browser unsubscribed or the push service expired it.
                await self.store.write(lambda c: pq.forget_endpoint(c, sub["endpoint"]))
                self._subscribers_read_at = -SUBSCRIBERS_TTL_S
            log.warning("push to %s refused: %s", sub["endpoint"][:60], status)
            return False
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("push to %s failed: %r", sub["endpoint"][:60], exc)
            return False
        return True
