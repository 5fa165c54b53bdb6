"""Inbound mail: a reply threads back into its conversation.

Both ways in — the SMTP listener (``mail_smtpd.py``) and ``POST /api/mail/inbound`` — hand
the raw message to ``MailIngest.ingest``, which applies ``core/mail.py``'s rules and
stores the new text as the visitor's message. What it refuses it raises as ``MailRefused``
(an SMTP code and an HTTP status); what it drops on purpose (auto-replies, bounces: an
answer could start a loop) it reports as ``ignored:<why>``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from chatserver.backends import mail_outbox as outbox
from chatserver.backends.models import OPEN_STATES, Conversation, Visitor
from chatserver.backends.store import Append, Store, now_ms
from chatserver.core.errors import BadData
from chatserver.core.mail import (
    MailRefused,
    dedup_id,
    machine_sent,
    read_inbound,
    reply_tokens,
    verify_token,
)
from chatserver.core.ratelimit import KeyedLimiter
from chatserver.core.settings import Settings

log = logging.getLogger("livedesk.mail")


class MailIngest:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        on_opened: Callable[[Conversation], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        # A conversation a mail to the support address opened: the hub queues it.
        self.on_opened = on_opened
        self.settings = settings
        self.max_bytes = int(settings.mail.mail_max_bytes)
        self.max_text = int(settings.limits.max_text_chars)
        self.per_sender = KeyedLimiter(settings.mail.mail_per_min_per_sender)

    async def ingest(
        self, raw: bytes, envelope_from: str | None = None, rcpts: list[str] | None = None
    ) -> str:
        """``stored``, ``duplicate`` or ``ignored:<why>``; raises ``MailRefused``."""
        if len(raw) > self.max_bytes:
            raise MailRefused("message too large", 552, 413)
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(msg, EmailMessage)
        why = machine_sent(msg, envelope_from)
        if why is not None:
            log.info("inbound mail ignored: %s", why)
            return f"ignored:{why}"
        mail = read_inbound(msg, rcpts)
        conversation_id = await self._conversation_of(mail.recipients, mail.in_reply_to)
        if not self.per_sender.allow(mail.sender or "<none>"):
            raise MailRefused("too many mails from this sender; try later", 451, 429)
        opened: Conversation | None = None
        if conversation_id is None:
            opened, created = await self._open_for(mail.sender, mail.sender_name)
            conversation_id = opened.id
            if not created:
                opened = None  # the sender's open conversation: the mail joins it
        conv = await self.store.get_conversation(conversation_id)
        if conv is None:
            raise MailRefused("no such conversation", 550, 404)
        if conv.state not in OPEN_STATES:
            # An answer to a conversation that has ended: the same visitor's open one, or a
            # new one on the email channel, queued like a chat (a closed one never reopens).
            conv, created = await self.store.open_conversation(
                conv.visitor_id, conv.site, conv.language, channel="email"
            )
            conversation_id = conv.id
            opened = conv if created else None
        text = mail.text
        if mail.attachments:
            # Listed, never opened or stored: the agent asks for another way if needed.
            listed = ", ".join(
                f"{a.filename} ({a.content_type}, {a.size} B)" for a in mail.attachments
            )
            text = f"{text}\n[attachments not kept: {listed}]".strip()
        if not text:
            return "ignored:empty"
        key = mail.message_id or "<" + hashlib.sha256(raw).hexdigest() + ">"
        item = Append(
            conversation_id,
            "visitor",
            text[: self.max_text],
            author_id=conv.visitor_id,
            author_name=mail.sender_name or None,
            data={
                "channel": "email",
                "attachments": [
                    {"filename": a.filename, "content_type": a.content_type, "size": a.size}
                    for a in mail.attachments
                ],
            },
            client_msg_id=dedup_id(key),
        )
        try:
            appended = await self.store.writer.append(item)
        except BadData as exc:
            raise MailRefused(f"not storable: {exc}", 550, 422) from exc
        if opened is not None and self.on_opened is not None:
            await self.on_opened(opened)
        return "duplicate" if appended.duplicate else "stored"

    async def _open_for(self, sender: str, name: str) -> tuple[Conversation, bool]:
        """The sender's open conversation, or a new one on the ``email`` channel. The From
        address is not proof of who wrote: it is kept as the visitor's e-mail, never as a
        verified customer's (no credits are read or spent on its word)."""
        if not sender or "@" not in sender:
            raise MailRefused("no sender address", 550, 422)
        visitor_id = mail_visitor_id(self.settings.security.secret_key, sender)
        if await self.store.get_visitor(visitor_id) is None:
            ts = now_ms()
            await self.store.save_visitor(
                Visitor(
                    id=visitor_id,
                    site=self.settings.security.site_key,
                    created_ms=ts,
                    last_seen_ms=ts,
                    email=sender,
                    name=name or None,
                )
            )
        return await self.store.open_conversation(
            visitor_id, self.settings.security.site_key, None, channel="email"
        )

    async def _conversation_of(self, recipients: list[str], in_reply_to: list[str]) -> str | None:
        tokens = reply_tokens(recipients, self.settings.mail.mail_reply_domain)
        for token in tokens:
            conversation_id = verify_token(self.settings.security.secret_key, token)
            if conversation_id is not None:
                return conversation_id
        if tokens:
            # A reply address of ours whose signature does not hold: threads nowhere.
            raise MailRefused("unknown reply address", 550, 403)
        conversation_id = await outbox.conversation_of(self.store.engine, in_reply_to)
        if conversation_id is not None:
            return conversation_id
        support = (self.settings.mail.support_address or "").lower()
        if support and support in (r.strip().strip("<>").lower() for r in recipients):
            return None  # new mail to the support address: a conversation of its own
        raise MailRefused("no conversation for this mail", 550, 404)


def mail_visitor_id(secret_key: str, sender: str) -> str:
    """One visitor per sender address: a keyed hash, so ids reveal no address."""
    digest = hmac.new(secret_key.encode(), b"mail:" + sender.encode(), hashlib.sha256)
    return "m" + digest.hexdigest()[:31]
