"""The mail worker: sends what the mail outbox holds, until each mail is done.

One per hub process, owned by the app's lifespan, on the loop every outbox worker runs
(``runtime/outbox_worker.py``, as ``billing_worker.py``): woken
when this process made a mail due, polling every ``mail_poll_s`` for the rest; claims rows
for a lease, renders each from the stored transcript at send time (a burst of replies that
arrived meanwhile is in it), sends it with aiosmtplib and marks it sent. A failure backs off
(doubling up to ``mail_retry_s``); a process killed mid-send loses its lease to any other.

Exactly once: a row is claimed by one process at a time and marked sent right after the
server's 250. The one window left — killed after the 250 and before that commit — sends the
same mail again with the same Message-ID, which receiving servers and clients collapse.

Throughput: a claimed batch goes out on ``smtp_connections`` connections at once, each kept
for the whole pass; what one mail needs from the store is read in one hop; the marks of
mails sent meanwhile are committed together (a group commit: a lane waits for its own mark,
the lanes' marks share a transaction); the message is built with the stdlib's compat32 MIME
classes and handed to SMTP as bytes (the default policy's header parsing cost more than the
rest of the send together).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import formataddr, formatdate, parseaddr
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Connection

from chatserver.backends import mail_outbox as outbox
from chatserver.backends.models import Conversation, Message, Visitor
from chatserver.backends.store import Store, now_ms
from chatserver.core.mail import reply_address
from chatserver.core.mail_phrases import language_of, phrases
from chatserver.core.settings import Settings
from chatserver.runtime.outbox_worker import OutboxWorker

log = logging.getLogger("livedesk.mail")
# Mails claimed at once per connection: enough that every connection has work while the
# next claim commits, few enough that a lease is not spent waiting in a queue.
CLAIM_PER_CONNECTION = 8
TEMPLATES = Path(__file__).parent / "mail_templates"
# The bodies as quoted-printable: readable as source, 8-bit clean over any relay.
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP

_conversations: sa.Table = Conversation.__table__  # type: ignore[attr-defined]
_messages: sa.Table = Message.__table__  # type: ignore[attr-defined]
_visitors: sa.Table = Visitor.__table__  # type: ignore[attr-defined]


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
    auto_reload=False,  # shipped files: compiled once, never stat()ed per mail
)
_TEXT = _env.get_template("mail.txt")
_HTML = _env.get_template("mail.html")


@dataclass(frozen=True, slots=True)
class MailInput:
    """What one mail needs from the store, read in one hop (None: the conversation is gone)."""

    visitor_id: str
    site: str
    visitor_name: str | None
    online_skip: bool  # the visitor saw every reply already
    last_seq: int
    since: int  # the last seq an earlier continuity mail covered
    rows: list[dict[str, Any]]


def read_input(conn: Connection, mail: outbox.DueMail) -> MailInput | None:
    conv = conn.execute(
        sa.select(
            _conversations.c.visitor_id,
            _conversations.c.site,
            _conversations.c.last_seq,
            _conversations.c.visitor_seen_seq,
        ).where(_conversations.c.id == mail.conversation_id)
    ).first()
    if conv is None:
        return None
    since = 0
    if mail.kind == outbox.CONTINUITY:
        since = outbox.last_mailed_seq(conn, mail.conversation_id)
    name = conn.execute(
        sa.select(_visitors.c.name).where(_visitors.c.id == conv.visitor_id)
    ).scalar_one_or_none()
    rows = conn.execute(
        sa.select(
            _messages.c.seq,
            _messages.c.kind,
            _messages.c.author,
            _messages.c.author_name,
            _messages.c.body,
        )
        .where(_messages.c.conversation_id == mail.conversation_id)
        .order_by(_messages.c.seq)
        .limit(10_000)
    )
    return MailInput(
        visitor_id=conv.visitor_id,
        site=conv.site,
        visitor_name=name,
        online_skip=conv.visitor_seen_seq >= conv.last_seq,
        last_seq=conv.last_seq,
        since=since,
        rows=[dict(r._mapping) for r in rows],
    )


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A rendered mail: the envelope and the bytes that go after DATA."""

    sender: str
    recipient: str
    data: bytes
    message_id: str


class _Marks:
    """Group commit of "sent": each caller waits for its own mark; the marks made while a
    commit runs go together in the next."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pending: list[tuple[outbox.DueMail, str, int | None, asyncio.Future[None]]] = []
        self.task: asyncio.Task[None] | None = None

    async def mark(self, mail: outbox.DueMail, outcome: str, upto_seq: int | None) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((mail, outcome, upto_seq, done))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._flush(), name="livedesk-mail-marks")
        await done

    async def _flush(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, []
            marks = [(mail, outcome, upto) for mail, outcome, upto, _ in batch]
            try:
                await self.store.write(partial(_finish_all, marks, now_ms()))
            except Exception as exc:
                for *_, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for *_, done in batch:
                    if not done.done():
                        done.set_result(None)


class MailWorker(OutboxWorker):
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        visitor_online: Callable[[str], Awaitable[bool]] | None = None,
        resume_link: Callable[[str, str, str | None], str | None] = lambda v, s, lang: None,
    ) -> None:
        super().__init__(
            "mail", log, poll_s=settings.mail.mail_poll_s, retry_s=settings.mail.mail_retry_s
        )
        self.store = store
        self.engine = store.engine
        self.settings = settings
        # Made only when SMTP_URL is set (the app's lifespan checks it).
        assert settings.mail.smtp_url is not None, "the mail worker needs SMTP_URL"
        self.target = parse_smtp_url(settings.mail.smtp_url)
        self.connections = int(settings.mail.smtp_connections)
        self.visitor_online = visitor_online or _nobody_online
        self.resume_link = resume_link
        name, address = parseaddr(settings.mail.mail_from)
        self.sender = address or settings.mail.mail_from
        self.from_header = formataddr((name, self.sender))  # non-ASCII names RFC 2047-encoded
        self._marks = _Marks(store)

    async def drain(self) -> None:
        """Until nothing is due that this process may take. The connections live for the
        whole pass (one per lane), so a run of batches says hello once per connection."""
        clients: list[aiosmtplib.SMTP | None] = [None] * self.connections
        try:
            while await outbox.anything_due(self.engine, now_ms()):
                claimed_ms = now_ms()
                due = await outbox.claim(
                    self.engine, claimed_ms, self.retry_ms, self.connections * CLAIM_PER_CONNECTION
                )
                if not due:
                    return  # another process claimed them in between
                await self._send_batch(due, claimed_ms + self.retry_ms // 2, clients)
        finally:
            await asyncio.gather(*(_quit(c) for c in clients))

    async def _send_batch(
        self,
        due: list[outbox.DueMail],
        deadline_ms: int,
        clients: list[aiosmtplib.SMTP | None],
    ) -> None:
        """One lane per connection, each sending mail after mail from the batch."""
        pending = collections.deque(due)
        late: list[int] = []

        async def lane(k: int) -> None:
            while pending:
                mail = pending.popleft()
                if now_ms() > deadline_ms:
                    late.append(mail.id)  # given back, not worked on past half the lease
                    continue
                clients[k] = await self._carry_out(mail, clients[k])

        await asyncio.gather(*(lane(k) for k in range(min(self.connections, len(due)))))
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
        await self._marks.mark(mail, outcome, upto_seq)
        return client

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.target.host,
            port=self.target.port,
            username=self.target.username,
            password=self.target.password,
            use_tls=self.target.use_tls,
            start_tls=self.target.start_tls,
            timeout=self.settings.mail.smtp_timeout_s,
            cert_bundle=self.settings.mail.smtp_ca_file,
        )
        await client.connect()  # STARTTLS and login too, as the target says
        return client

    async def _deliver(self, mail: Outgoing, client: aiosmtplib.SMTP | None) -> aiosmtplib.SMTP:
        if client is not None and client.is_connected:
            try:
                await client.sendmail(mail.sender, [mail.recipient], mail.data)
                return client
            except aiosmtplib.SMTPServerDisconnected:
                # The server closed an idle connection before taking this mail: nothing
                # was accepted, so a fresh connection may send it.
                client.close()
        client = await self._connect()
        await client.sendmail(mail.sender, [mail.recipient], mail.data)
        return client

    async def send_one(
        self, mail: outbox.DueMail, client: aiosmtplib.SMTP | None = None
    ) -> tuple[str, int | None, aiosmtplib.SMTP | None]:
        """Render and send one claimed mail: ``(outcome, last seq it covers, connection)``."""
        got = await self.store.read(lambda conn: read_input(conn, mail))
        if got is None:
            return "refused:gone", None, client
        if mail.kind == outbox.CONTINUITY and (
            got.online_skip or await self.visitor_online(got.visitor_id)
        ):
            return "seen", got.last_seq, client  # the visitor came back: no mail
        texts = [r for r in got.rows if r["kind"] == "text"]
        if mail.kind == outbox.CONTINUITY:
            fresh = [r for r in texts if r["seq"] > got.since and r["author"] == "agent"]
            if not fresh:
                return "seen", got.last_seq, client
            first_fresh = fresh[0]["seq"]
            earlier = [r for r in texts if r["seq"] < first_fresh]
            earlier = earlier[-self.settings.mail.mail_thread_messages :]
        else:
            fresh, earlier = texts, []
        upto = max((r["seq"] for r in got.rows), default=0)
        outgoing = self.render(
            mail,
            fresh,
            earlier,
            self.resume_link(got.visitor_id, got.site, mail.language),
            got.visitor_name,
        )
        client = await self._deliver(outgoing, client)
        return "sent", upto, client

    def render(
        self,
        mail: outbox.DueMail,
        fresh: list[dict[str, Any]],
        earlier: list[dict[str, Any]],
        link: str | None,
        visitor_name: str | None,
    ) -> Outgoing:
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
        msg = MIMEMultipart("alternative")
        msg["Subject"] = Header(subject, "utf-8").encode()
        msg["From"] = self.from_header
        msg["To"] = formataddr((visitor_name or "", mail.to_addr))
        msg["Reply-To"] = reply_address(
            self.settings.security.secret_key,
            mail.conversation_id,
            self.settings.mail.mail_reply_domain,
        )
        msg["Message-ID"] = mail.message_id
        msg["Date"] = formatdate(localtime=False)
        # RFC 3834: an answer machines must not answer.
        msg["Auto-Submitted"] = (
            "auto-replied" if mail.kind == outbox.CONTINUITY else "auto-generated"
        )
        msg["X-Livedesk-Conversation"] = mail.conversation_id
        msg.attach(_text_part(_TEXT.render(context), "plain"))
        msg.attach(_text_part(_HTML.render(context), "html"))
        return Outgoing(self.sender, mail.to_addr, msg.as_bytes(), mail.message_id)


async def _nobody_online(visitor_id: str) -> bool:
    return False


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part.set_payload(text, _UTF8_QP)
    return part


def _finish_all(
    marks: list[tuple[outbox.DueMail, str, int | None]], ts: int, conn: Connection
) -> None:
    for mail, outcome, upto in marks:
        outbox.finish(conn, mail, outcome, upto, ts)


async def _quit(client: aiosmtplib.SMTP | None) -> None:
    if client is None:
        return
    try:
        if client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()
    finally:
        if client.is_connected:
            client.close()
