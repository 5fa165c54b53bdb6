"""The mail worker: sends what the mail outbox holds, until each mail is done.

One per hub process, owned by the app's lifespan, on the loop of ``runtime.outbox_worker``
like ``billing_worker.py``: woken
when this process made a mail due, polling every ``mail_poll_s`` for the rest; claims rows
for a lease, renders each from the stored transcript at send time (a burst of replies that
arrived meanwhile is in it), sends it with aiosmtplib and marks it sent. A failure backs off
(doubling up to ``mail_retry_s``); a process killed mid-send loses its lease to any other.

Exactly once: a row is claimed by one process at a time and marked sent right after the
server's 250. The one window left — killed after the 250 and before that commit — sends the
same mail again with the same Message-ID, which receiving servers and clients collapse.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, select_autoescape

from chatserver.backends import mail_outbox as outbox
from chatserver.backends.store import Store, now_ms
from chatserver.core.mail import reply_address
from chatserver.core.mail_phrases import language_of, phrases
from chatserver.runtime.outbox_worker import OutboxWorker

log = logging.getLogger("livedesk.mail")
CLAIM_BATCH = 32
# Mails of one claimed batch in flight at once, each on its own SMTP connection: one
# connection's round trips (EHLO, MAIL, RCPT, DATA, QUIT) would otherwise bound the rate.
CONCURRENCY = 8
TEMPLATES = Path(__file__).parent / "mail_templates"


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool  # TLS from the first byte (smtps)
    start_tls: bool | None  # None: STARTTLS when the server offers it


def parse_smtp_url(url: str) -> SmtpTarget:
    """``smtp://`` (STARTTLS when offered), ``smtps://`` (TLS), ``smtp+plain://`` (never TLS)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps", "smtp+plain", "smtp+starttls"):
        raise ValueError(f"LIVEDESK_SMTP_URL: unknown scheme {parts.scheme!r}")
    default_port = {"smtps": 465, "smtp+plain": 25}.get(scheme, 587)
    return SmtpTarget(
        host=parts.hostname or "localhost",
        port=parts.port or default_port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=scheme == "smtps",
        start_tls={"smtp+plain": False, "smtp+starttls": True}.get(scheme),
    )


_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    # User text is escaped in the HTML part; the text part is text.
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    trim_blocks=False,
    keep_trailing_newline=True,
)


class MailWorker(OutboxWorker):
    def __init__(
        self,
        store: Store,
        settings: Any,
        *,
        visitor_online: Callable[[str], bool] = lambda visitor_id: False,
        resume_link: Callable[[str, str, str | None], str | None] = lambda v, s, lang: None,
    ) -> None:
        super().__init__("mail", log, poll_s=settings.mail_poll_s, retry_s=settings.mail_retry_s)
        self.store = store
        self.engine = store.engine
        self.settings = settings
        self.target = parse_smtp_url(settings.smtp_url)
        self.visitor_online = visitor_online
        self.resume_link = resume_link

    async def drain(self) -> None:
        """Until nothing is due that this process may take."""
        while await outbox.anything_due(self.engine, now_ms()):
            claimed_ms = now_ms()
            due = await outbox.claim(self.engine, claimed_ms, self.retry_ms, CLAIM_BATCH)
            if not due:
                return  # another process claimed them in between
            await self._send_batch(due, claimed_ms + self.retry_ms // 2)

    async def _send_batch(self, due: list[outbox.DueMail], deadline_ms: int) -> None:
        """Up to ``CONCURRENCY`` lanes, each with one SMTP connection it sends mail after
        mail on (a connection per mail would spend most of its time saying hello)."""
        pending = collections.deque(due)
        late: list[int] = []

        async def lane() -> None:
            client: aiosmtplib.SMTP | None = None
            try:
                while pending:
                    mail = pending.popleft()
                    if now_ms() > deadline_ms:
                        late.append(mail.id)  # given back, not worked on past half the lease
                        continue
                    client = await self._carry_out(mail, client)
                if client is not None:
                    with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                        await client.quit()
            finally:
                if client is not None and client.is_connected:
                    client.close()

        await asyncio.gather(*(lane() for _ in range(min(CONCURRENCY, len(due)))))
        await outbox.release(self.engine, late)

    async def _carry_out(
        self, mail: outbox.DueMail, client: aiosmtplib.SMTP | None
    ) -> aiosmtplib.SMTP | None:
        """Send one mail and mark it; the connection to go on with (None after a failure)."""
        try:
            outcome, upto_seq, client = await self.send_one(mail, client)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            wait_ms = self.retry_delay_ms(mail.attempts)
            log.warning(
                "mail %d failed (attempt %d); again in %.1fs: %r",
                mail.id,
                mail.attempts,
                wait_ms / 1000,
                exc,
            )
            await outbox.retry_later(self.engine, mail.id, repr(exc), now_ms() + wait_ms)
            if client is not None and client.is_connected:
                client.close()
            return None
        ts = now_ms()
        await self.store.write(lambda conn: outbox.finish(conn, mail, outcome, upto_seq, ts))
        return client

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.target.host,
            port=self.target.port,
            username=self.target.username,
            password=self.target.password,
            use_tls=self.target.use_tls,
            start_tls=self.target.start_tls,
            timeout=self.settings.smtp_timeout_s,
            cert_bundle=self.settings.smtp_ca_file,
        )
        await client.connect()  # STARTTLS and login too, as the target says
        return client

    async def _deliver(
        self, message: EmailMessage, client: aiosmtplib.SMTP | None
    ) -> aiosmtplib.SMTP:
        if client is not None and client.is_connected:
            try:
                await client.send_message(message)
                return client
            except aiosmtplib.SMTPServerDisconnected:
                # The server closed an idle connection before taking this mail: nothing
                # was accepted, so a fresh connection may send it.
                client.close()
        client = await self._connect()
        await client.send_message(message)
        return client

    async def send_one(
        self, mail: outbox.DueMail, client: aiosmtplib.SMTP | None = None
    ) -> tuple[str, int | None, aiosmtplib.SMTP | None]:
        """Render and send one claimed mail: ``(outcome, last seq it covers, connection)``."""
        conv = await self.store.get_conversation(mail.conversation_id)
        if conv is None:
            return "refused:gone", None, client
        since = 0
        if mail.kind == outbox.CONTINUITY:
            since = await self.store.read(lambda conn: outbox.last_mailed_seq(conn, conv.id))
            # The visitor came back (a socket open now, or the replies seen): no mail.
            if self.visitor_online(conv.visitor_id) or conv.visitor_seen_seq >= conv.last_seq:
                return "seen", conv.last_seq, client
        rows = await self.store.messages_after(conv.id, 0, limit=10_000)
        texts = [r for r in rows if r["kind"] == "text"]
        if mail.kind == outbox.CONTINUITY:
            fresh = [r for r in texts if r["seq"] > since and r["author"] == "agent"]
            if not fresh:
                return "seen", conv.last_seq, client
            first_fresh = fresh[0]["seq"]
            earlier = [r for r in texts if r["seq"] < first_fresh]
            earlier = earlier[-self.settings.mail_thread_messages :]
        else:
            fresh, earlier = texts, []
        upto = max((r["seq"] for r in rows), default=0)
        visitor = await self.store.get_visitor(conv.visitor_id)
        message = self.render(
            mail,
            fresh,
            earlier,
            self.resume_link(conv.visitor_id, conv.site, mail.language),
            visitor.name if visitor else None,
        )
        client = await self._deliver(message, client)
        return "sent", upto, client

    def render(
        self,
        mail: outbox.DueMail,
        fresh: list[dict[str, Any]],
        earlier: list[dict[str, Any]],
        link: str | None,
        visitor_name: str | None,
    ) -> EmailMessage:
        lang = language_of(mail.language)
        p = phrases(lang)

        def line(row: dict[str, Any]) -> dict[str, str]:
            who = p["you"] if row["author"] == "visitor" else (row["author_name"] or "Support")
            return {"who": who, "body": row["body"]}

        subject = p["reply_subject" if mail.kind == outbox.CONTINUITY else "transcript_subject"]
        context = {
            "kind": mail.kind,
            "lang": lang,
            "p": p,
            "subject": subject,
            "fresh": [line(r) for r in fresh],
            "earlier": [line(r) for r in earlier],
            "link": link,
        }
        msg = EmailMessage()
        msg["Subject"] = subject
        msg["From"] = self.settings.mail_from
        msg["To"] = formataddr((visitor_name or "", mail.to_addr))
        msg["Reply-To"] = reply_address(
            self.settings.secret_key, mail.conversation_id, self.settings.mail_reply_domain
        )
        msg["Message-ID"] = mail.message_id
        msg["Date"] = formatdate(localtime=False)
        # RFC 3834: an answer machines must not answer.
        msg["Auto-Submitted"] = (
            "auto-replied" if mail.kind == outbox.CONTINUITY else "auto-generated"
        )
        msg["X-Livedesk-Conversation"] = mail.conversation_id
        msg.set_content(_env.get_template("mail.txt").render(context))
        msg.add_alternative(_env.get_template("mail.html").render(context), subtype="html")
        return msg
