"""E-mail as a channel, over real SMTP: an agent's reply a visitor has not seen goes out
by mail from the outbox (a burst as one mail, sent once even across kill -9), and the
visitor's answer — through the SMTP listener or the HTTP endpoint — threads back into the
same conversation; a forged reply address threads nowhere."""

from __future__ import annotations

import asyncio
import csv
import io
import smtplib
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from chatserver.backends import mail_outbox as outbox
from chatserver.backends.db import upgrade
from chatserver.backends.models import OfflineMessage, Visitor
from chatserver.backends.presence import InMemoryPresence
from chatserver.backends.store import Append, MailContinuity, Store, now_ms
from chatserver.core.mail import reply_address
from chatserver.core.settings import Settings
from chatserver.services.mail_ingest import MailIngest
from chatserver.services.mail_smtpd import SmtpListener
from chatserver.services.mail_worker import MailWorker
from chatserver.testing.loadtest import HubProcess, free_port
from tests.cluster_nodes import until
from tests.integration.conftest import AGENT_PASSWORD, Backend, add_agents, make_settings
from tests.live import LiveServer, connect_agent, connect_visitor, login_cookie
from tests.mail_catcher import MailCatcher

# The tests that use the ``store`` fixture run on memory+sqlite and on redis+postgres.
pytestmark = pytest.mark.conformance

VISITOR_EMAIL = "ana@example.com"
DOMAIN = "mail.test"


@pytest.fixture
def catcher() -> Iterator[MailCatcher]:
    c = MailCatcher()
    c.start()
    try:
        yield c
    finally:
        c.stop()


def mail_settings(tmp_path: Path, catcher: MailCatcher, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "smtp_url": catcher.url,
        "mail_reply_domain": DOMAIN,
        "mail_from": "Support <support@mail.test>",
        "mail_continuity_after_s": 0,
        "mail_poll_s": 0.05,
        "mail_retry_s": 1,
        "smtp_ingest_port": 0,
        "mail_inbound_secret": "inbound-secret",
    }
    return make_settings(tmp_path, **{**values, **overrides})


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    """The store on SQLite and (the module is a conformance one) on PostgreSQL."""
    url = backend.database_url or f"sqlite:///{backend.tmp_path / 'livedesk.db'}"
    if backend.database_url is None:
        await asyncio.to_thread(upgrade, url)
    s = Store(url, mail=MailContinuity(0, DOMAIN))
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def conversation(store: Store, language: str | None = "sl") -> SimpleNamespace:
    ts = now_ms()
    visitor_id = f"v{ts}"
    await store.save_visitor(
        Visitor(
            id=visitor_id,
            site="default",
            created_ms=ts,
            last_seen_ms=ts,
            email=VISITOR_EMAIL,
            name="Ana",
            language=language,
        )
    )
    agent = await store.get_agent_by_email("mia@example.com")
    if agent is None:
        agent = await store.add_agent("mia@example.com", "Mia", "x")
    conv, _ = await store.open_conversation(visitor_id, "default", language)
    await store.transition(conv.id, "active", "test", agent_id=agent.id, assigned_ms=ts)
    await store.append(Append(conv.id, "visitor", "Is my order shipped?", author_id=visitor_id))
    return SimpleNamespace(id=conv.id, visitor_id=visitor_id, agent_id=str(agent.id))


async def agent_says(store: Store, conv: SimpleNamespace, text: str) -> None:
    await store.append(Append(conv.id, "agent", text, author_id=conv.agent_id, author_name="Mia"))


def reply_mail(to: str, text: str, message_id: str, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Ana <{VISITOR_EMAIL}>"
    msg["To"] = to
    msg["Subject"] = "Re: your conversation"
    msg["Message-ID"] = message_id
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    return msg


async def texts_of(store: Store, conv_id: str) -> list[tuple[str, str]]:
    rows = await store.messages_after(conv_id, 0)
    return [(r["author"], r["body"]) for r in rows if r["kind"] == "text"]


def body_of(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


# ------------------------------------------------------------------------- outbound


async def test_a_burst_of_unseen_replies_goes_out_as_one_multipart_mail_in_the_visitors_language(
    tmp_path: Path, store: Store, catcher: MailCatcher
) -> None:
    conv = await conversation(store, "sl")
    await agent_says(store, conv, "Yes, it left today.")
    await agent_says(store, conv, "<b>Tracking</b>: 123 & more")
    rows = await outbox.mails(store.engine, conv.id)
    assert len(rows) == 1, "a burst is one pending mail"
    worker = MailWorker(store, mail_settings(tmp_path, catcher))
    await worker.drain()
    (msg,) = await catcher.wait_for(1)
    assert msg["Subject"] == "Nov odgovor v vašem pogovoru"
    assert msg["Message-ID"] == rows[0]["message_id"]
    assert msg["Auto-Submitted"] == "auto-replied"
    assert str(msg["Reply-To"]).startswith("reply+") and str(msg["Reply-To"]).endswith(DOMAIN)
    text, html = body_of(msg, "plain"), body_of(msg, "html")
    assert "Yes, it left today." in text and "<b>Tracking</b>: 123 & more" in text
    assert "&lt;b&gt;Tracking&lt;/b&gt;: 123 &amp; more" in html and "<b>Tracking" not in html
    assert "Is my order shipped?" in text, "the recent thread is quoted"
    (row,) = await outbox.mails(store.engine, conv.id)
    assert row["outcome"] == "sent" and row["sent_ms"] is not None
    # Sent means sent: another pass sends nothing; the next reply is the next mail.
    await worker.drain()
    await agent_says(store, conv, "Anything else?")
    await worker.drain()
    got = await catcher.wait_for(2)
    assert len(got) == 2 and got[1]["Message-ID"] != msg["Message-ID"]
    assert "Anything else?" in body_of(got[1], "plain")
    assert "Yes, it left today." not in body_of(got[1], "plain").split("---")[0]


async def test_a_reply_the_visitor_has_seen_is_not_mailed(
    tmp_path: Path, store: Store, catcher: MailCatcher
) -> None:
    conv = await conversation(store)
    await agent_says(store, conv, "Seen in the widget")
    presence = InMemoryPresence()
    presence.watch_visitors(lambda: {conv.visitor_id})  # on a socket, as presence says
    worker = MailWorker(
        store, mail_settings(tmp_path, catcher), visitor_online=presence.visitor_online
    )
    await worker.drain()
    (row,) = await outbox.mails(store.engine, conv.id)
    assert row["outcome"] == "seen"
    assert catcher.received() == []


async def test_an_smtp_server_that_refuses_is_retried_until_the_mail_goes_out_once(
    tmp_path: Path, store: Store, catcher: MailCatcher
) -> None:
    conv = await conversation(store)
    await agent_says(store, conv, "Retry me")
    down = free_port()  # nothing listens here
    worker = MailWorker(
        store, mail_settings(tmp_path, catcher, smtp_url=f"smtp+plain://127.0.0.1:{down}")
    )
    await worker.drain()
    (row,) = await outbox.mails(store.engine, conv.id)
    assert row["sent_ms"] is None and row["last_error"] and row["not_before_ms"] > now_ms()
    worker = MailWorker(store, mail_settings(tmp_path, catcher))
    worker.start()
    try:
        await catcher.wait_for(1)

        async def marked_sent() -> bool:
            (row,) = await outbox.mails(store.engine, conv.id)
            return row["outcome"] == "sent"

        await until(marked_sent, "the mail marked sent", timeout=20)
    finally:
        await worker.stop()
    (row,) = await outbox.mails(store.engine, conv.id)
    assert row["attempts"] == 2
    assert len(catcher.received()) == 1


async def test_a_mail_stored_but_not_sent_when_the_hub_is_killed_goes_out_once_after_restart(
    tmp_path: Path, catcher: MailCatcher
) -> None:
    hub = HubProcess(
        agents=1,
        db_dir=str(tmp_path),
        LIVEDESK_SMTP_URL=catcher.url,
        LIVEDESK_MAIL_REPLY_DOMAIN=DOMAIN,
        LIVEDESK_MAIL_CONTINUITY_AFTER_S="0",
        LIVEDESK_MAIL_POLL_S="0.1",
        LIVEDESK_MAIL_RETRY_S="1",
    )
    await hub.seed()
    store = Store(hub.url_db, mail=MailContinuity(0, DOMAIN))
    await store.start()
    try:
        conv = await conversation(store)
        await agent_says(store, conv, "Stored, not yet sent")
    finally:
        await store.stop()
    catcher.stall()  # the hub reaches RCPT and waits there: stored, claimed, not sent
    hub.start()
    try:
        assert await asyncio.to_thread(catcher.rcpt_reached.wait, 30)
        hub.kill()
        catcher.release()
        assert catcher.received() == []
        hub.start()
        (msg,) = await catcher.wait_for(1, timeout=30)
        assert "Stored, not yet sent" in body_of(msg, "plain")
        store = Store(hub.url_db)
        await store.start()
        try:

            async def marked_sent() -> bool:
                rows = await outbox.mails(store.engine, conv.id)
                return rows[0]["sent_ms"] is not None

            await until(marked_sent, "the outbox row marked sent", timeout=20)
            (row,) = await outbox.mails(store.engine, conv.id)
            assert row["message_id"] == msg["Message-ID"]
        finally:
            await store.stop()
        await asyncio.sleep(0)  # a later pass would show a second copy; the row is done
        assert len(catcher.received()) == 1
    finally:
        hub.stop()


# -------------------------------------------------------------------------- inbound


@pytest.fixture
async def listener(
    tmp_path: Path, store: Store, catcher: MailCatcher
) -> AsyncIterator[SmtpListener]:
    settings = mail_settings(tmp_path, catcher)
    lst = SmtpListener(MailIngest(store, settings), settings)
    await lst.start()
    try:
        yield lst
    finally:
        await lst.stop()


def deliver(port: int, msg: EmailMessage, mail_from: str = VISITOR_EMAIL) -> dict[str, Any]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        return smtp.send_message(msg, from_addr=mail_from)


async def test_a_reply_to_the_signed_address_threads_into_its_conversation_once(
    tmp_path: Path, store: Store, listener: SmtpListener, catcher: MailCatcher
) -> None:
    conv = await conversation(store)
    other = await conversation(store)
    to = reply_address(mail_settings(tmp_path, catcher).security.secret_key, conv.id, DOMAIN)
    text = "Thanks, got it!\n\nOn Mon, 1 Dec 2026, Mia wrote:\n> Yes, it left today.\n"
    msg = reply_mail(to, text, "<r1@example.com>")
    await asyncio.to_thread(deliver, listener.port, msg)
    await asyncio.to_thread(deliver, listener.port, msg)  # the provider retries
    assert (await texts_of(store, conv.id))[-1] == ("visitor", "Thanks, got it!")
    assert [t for t in await texts_of(store, conv.id) if t[1] == "Thanks, got it!"] == [
        ("visitor", "Thanks, got it!")
    ]
    assert ("visitor", "Thanks, got it!") not in await texts_of(store, other.id)


async def test_a_forged_reply_address_is_refused_with_550_and_stores_nothing(
    tmp_path: Path, store: Store, listener: SmtpListener
) -> None:
    conv = await conversation(store)
    forged = reply_address("not-the-secret", conv.id, DOMAIN)
    before = await texts_of(store, conv.id)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(deliver, listener.port, reply_mail(forged, "let me in", "<f@x>"))
    assert refused.value.smtp_code == 550
    assert await texts_of(store, conv.id) == before


async def test_an_auto_reply_and_a_bounce_are_taken_but_never_stored(
    tmp_path: Path, store: Store, listener: SmtpListener, catcher: MailCatcher
) -> None:
    conv = await conversation(store)
    to = reply_address(mail_settings(tmp_path, catcher).security.secret_key, conv.id, DOMAIN)
    before = await texts_of(store, conv.id)
    vacation = reply_mail(to, "I am away", "<a1@example.com>", Auto_Submitted="auto-replied")
    await asyncio.to_thread(deliver, listener.port, vacation)
    bounce = reply_mail(to, "Undeliverable", "<b1@example.com>")
    await asyncio.to_thread(deliver, listener.port, bounce, "")
    assert await texts_of(store, conv.id) == before


async def test_a_reply_without_the_address_threads_by_in_reply_to_and_html_becomes_text(
    tmp_path: Path, store: Store, listener: SmtpListener, catcher: MailCatcher
) -> None:
    conv = await conversation(store)
    await agent_says(store, conv, "Shipped")
    await MailWorker(store, mail_settings(tmp_path, catcher)).drain()
    (sent,) = await catcher.wait_for(1)
    msg = EmailMessage()
    msg["From"] = VISITOR_EMAIL
    msg["To"] = "support@mail.test"
    msg["Message-ID"] = "<h1@example.com>"
    msg["In-Reply-To"] = sent["Message-ID"]
    msg.set_content("<p>Great <b>news</b><script>alert(1)</script></p>", subtype="html")
    msg.add_attachment(
        b"MZ\x90\x00", maintype="application", subtype="octet-stream", filename="run.exe"
    )
    await asyncio.to_thread(deliver, listener.port, msg)
    author, body = (await texts_of(store, conv.id))[-1]
    assert author == "visitor"
    assert body.startswith("Great news") and "alert" not in body and "<" not in body.split("[")[0]
    assert "run.exe (application/octet-stream, 4 B)" in body


async def test_the_http_endpoint_takes_a_raw_message_with_the_shared_secret_only(
    tmp_path: Path, catcher: MailCatcher
) -> None:
    settings = mail_settings(tmp_path, catcher, smtp_ingest_port=None)
    await asyncio.to_thread(upgrade, settings.server.database_url)
    server = LiveServer(settings).start()
    store = Store(settings.server.database_url)  # this loop's own view of the hub's database
    await store.start()
    try:
        conv = await conversation(store)
        to = reply_address(settings.security.secret_key, conv.id, DOMAIN)
        raw = reply_mail(to, "Via the webhook", "<w1@example.com>").as_bytes()
        url = f"{server.url}/api/mail/inbound"
        async with httpx.AsyncClient() as http:
            bad = await http.post(url, content=raw, headers={"x-livedesk-mail-secret": "nope"})
            assert bad.status_code == 403
            ok = await http.post(
                url, content=raw, headers={"x-livedesk-mail-secret": "inbound-secret"}
            )
            assert ok.status_code == 201, ok.text
            again = await http.post(
                url, content=raw, headers={"x-livedesk-mail-secret": "inbound-secret"}
            )
            assert again.json() == {"outcome": "duplicate"}
            forged = reply_mail(reply_address("x", conv.id, DOMAIN), "no", "<w2@example.com>")
            refused = await http.post(
                url, content=forged.as_bytes(), headers={"x-livedesk-mail-secret": "inbound-secret"}
            )
            assert refused.status_code == 403
        assert [t for t in await texts_of(store, conv.id) if t[1] == "Via the webhook"] == [
            ("visitor", "Via the webhook")
        ]
    finally:
        await store.stop()
        server.stop()


# ------------------------------------------------------------- the e-mail channel, whole


async def test_new_mail_to_the_support_address_opens_a_routed_email_conversation_that_mails_back(
    tmp_path: Path, catcher: MailCatcher
) -> None:
    """A stranger writes to support; an agent gets the conversation like a chat and
    answers in the console; the answer goes out by mail; the stranger's reply threads in
    and reaches the agent live."""
    ingest_port = free_port()
    settings = mail_settings(
        tmp_path, catcher, smtp_ingest_port=ingest_port, support_address="help@mail.test"
    )
    await add_agents(settings, ("ana@example.com", "agent", 5))
    server = LiveServer(settings).start()
    try:
        cookie = await login_cookie(server, "ana@example.com", AGENT_PASSWORD)
        agent = await connect_agent(server, cookie)
        await agent.recv_type("welcome")
        first = EmailMessage()
        first["From"] = "Bo <bo@example.org>"
        first["To"] = "help@mail.test"
        first["Subject"] = "Refund?"
        first["Message-ID"] = "<new1@example.org>"
        first.set_content("Can I get a refund?")
        await asyncio.to_thread(deliver, ingest_port, first, "bo@example.org")
        assigned = await agent.recv_type("assigned", timeout=20)
        conv_id = assigned["conversation"]["conversation_id"]
        store = Store(settings.server.database_url)
        await store.start()
        try:
            conv = await store.get_conversation(conv_id)
            assert conv is not None and conv.channel == "email"
            assert (await texts_of(store, conv_id))[0] == ("visitor", "Can I get a refund?")
        finally:
            await store.stop()
        await agent.send_text("Yes, within 30 days.", conversation_id=conv_id)
        (sent,) = await catcher.wait_for(1)
        assert sent["To"].addresses[0].addr_spec == "bo@example.org"
        assert "Yes, within 30 days." in body_of(sent, "plain")
        answer = reply_mail(str(sent["Reply-To"]), "Great, thanks!", "<new2@example.org>")
        answer.replace_header("From", "bo@example.org")
        await asyncio.to_thread(deliver, ingest_port, answer, "bo@example.org")
        frame = await agent.recv_until(
            lambda f: f.get("type") == "message" and f.get("text") == "Great, thanks!",
            timeout=20,
        )
        assert frame["conversation_id"] == conv_id and frame["author"] == "visitor"
    finally:
        server.stop()


async def test_an_agent_with_cap_one_holds_two_half_weight_mails_and_no_chat_beside_them(
    tmp_path: Path, catcher: MailCatcher
) -> None:
    """Mail weighs ``MAIL_WEIGHT`` (0.5) against the cap: two mails fill a cap of one,
    and a chat arriving then waits for a whole free slot."""
    ingest_port = free_port()
    settings = mail_settings(
        tmp_path, catcher, smtp_ingest_port=ingest_port, support_address="help@mail.test"
    )
    await add_agents(settings, ("ana@example.com", "agent", 1))
    server = LiveServer(settings).start()
    try:
        cookie = await login_cookie(server, "ana@example.com", AGENT_PASSWORD)
        agent = await connect_agent(server, cookie)
        await agent.recv_type("welcome")
        held = []
        for n in (1, 2):
            sender = f"writer{n}@example.org"
            first = EmailMessage()
            first["From"] = sender
            first["To"] = "help@mail.test"
            first["Subject"] = "Question"
            first["Message-ID"] = f"<weight{n}@example.org>"
            first.set_content(f"Question {n}")
            await asyncio.to_thread(deliver, ingest_port, first, sender)
            assigned = await agent.recv_type("assigned", timeout=20)
            held.append(assigned["conversation"]["conversation_id"])
        assert len(set(held)) == 2
        visitor, _ = await connect_visitor(server)
        await visitor.recv_type("welcome")
        await visitor.send_text("A chat while two mails fill the cap")
        queued = await visitor.recv_type("queue", timeout=20)
        assert queued["position"] == 1
    finally:
        server.stop()


async def test_too_many_mails_from_one_sender_get_a_451_and_a_huge_one_a_552(
    tmp_path: Path, store: Store, catcher: MailCatcher
) -> None:
    settings = mail_settings(tmp_path, catcher, mail_per_min_per_sender=2, mail_max_bytes=4096)
    lst = SmtpListener(MailIngest(store, settings), settings)
    await lst.start()
    try:
        conv = await conversation(store)
        to = reply_address(settings.security.secret_key, conv.id, DOMAIN)
        for i in range(2):
            await asyncio.to_thread(deliver, lst.port, reply_mail(to, f"m{i}", f"<rl{i}@x>"))
        with pytest.raises(smtplib.SMTPDataError) as limited:
            await asyncio.to_thread(deliver, lst.port, reply_mail(to, "m2", "<rl2@x>"))
        assert limited.value.smtp_code == 451
        with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused)) as huge:
            big = reply_mail(to, "x" * 8000, "<big@x>")
            await asyncio.to_thread(deliver, lst.port, big, "other@example.com")
        assert huge.value.smtp_code == 552
        assert [t for t in await texts_of(store, conv.id) if t[0] == "visitor"][1:] == [
            ("visitor", "m0"),
            ("visitor", "m1"),
        ]
    finally:
        await lst.stop()


async def test_a_visitor_gets_the_transcript_by_mail_once_and_only_of_their_own_chat(
    tmp_path: Path, catcher: MailCatcher
) -> None:
    settings = mail_settings(tmp_path, catcher, smtp_ingest_port=None)
    server = LiveServer(settings).start()
    try:
        visitor, token = await connect_visitor(server)
        await visitor.recv_type("welcome")
        ack = await visitor.send_text("Where is <my> parcel?")
        conv_id = ack["conversation_id"]
        other, other_token = await connect_visitor(server)
        await other.recv_type("welcome")
        url = f"{server.url}/api/visitor/transcript"
        async with httpx.AsyncClient(headers={"origin": server.url}) as http:
            stranger = await http.post(
                url, json={"token": other_token, "conversation_id": conv_id, "email": "x@y.z"}
            )
            assert stranger.status_code == 403
            body = {"token": token, "conversation_id": conv_id, "email": "vis@example.com"}
            first = await http.post(url, json=body)
            assert first.status_code == 202 and first.json() == {"queued": True}
            again = await http.post(url, json=body)
            assert again.json() == {"queued": False}
        (msg,) = await catcher.wait_for(1)
        assert msg["Subject"] == "Transcript of your conversation"
        assert msg["To"].addresses[0].addr_spec == "vis@example.com"
        assert "Where is <my> parcel?" in body_of(msg, "plain")
        assert "Where is &lt;my&gt; parcel?" in body_of(msg, "html")
        assert len(catcher.received()) == 1
    finally:
        server.stop()


async def test_the_agent_sees_messages_per_channel(tmp_path: Path, catcher: MailCatcher) -> None:
    ingest_port = free_port()
    settings = mail_settings(tmp_path, catcher, smtp_ingest_port=ingest_port)
    await add_agents(
        settings, ("ana@example.com", "agent", 5), ("sue@example.com", "supervisor", 5)
    )
    server = LiveServer(settings).start()
    try:
        cookie = await login_cookie(server, "ana@example.com", AGENT_PASSWORD)
        agent = await connect_agent(server, cookie)
        await agent.recv_type("welcome")
        visitor, _ = await connect_visitor(server)
        await visitor.recv_type("welcome")
        conv_id = (await visitor.send_text("Hi from the widget"))["conversation_id"]
        await agent.recv_type("assigned", timeout=20)
        store = Store(settings.server.database_url)
        await store.start()
        try:
            visitor_row = await store.get_visitor(
                (await store.get_conversation(conv_id)).visitor_id
            )  # type: ignore[union-attr]
            assert visitor_row is not None
            visitor_row.email = VISITOR_EMAIL
            await store.save_visitor(visitor_row)
        finally:
            await store.stop()
        await visitor.close()
        await agent.send_text("Answer after you left", conversation_id=conv_id)
        (sent,) = await catcher.wait_for(1)
        reply = reply_mail(str(sent["Reply-To"]), "Mail answer", "<pc1@example.com>")
        await asyncio.to_thread(deliver, ingest_port, reply)
        await agent.recv_until(lambda f: f.get("text") == "Mail answer", timeout=20)
        async with httpx.AsyncClient(
            base_url=server.url, cookies={settings.security.session_cookie: cookie}
        ) as http:

            async def counted() -> Any:
                detail = (await http.get(f"/api/desk/conversations/{conv_id}")).json()
                counts = detail["conversation"]["messages_by_channel"]
                return counts if counts["email_out"] == 1 else None

            counts = await until(counted, "the sent mail counted", timeout=20)
        assert counts == {"chat": 2, "email_in": 1, "email_out": 1}
        supervisor = await login_cookie(server, "sue@example.com", AGENT_PASSWORD)
        async with httpx.AsyncClient(
            base_url=server.url, cookies={settings.security.session_cookie: supervisor}
        ) as http:
            report = await http.get("/api/desk/reports/daily.csv")
        assert report.status_code == 200
        (row,) = [
            r for r in csv.DictReader(io.StringIO(report.text)) if r["conversation_id"] == conv_id
        ]
        assert (row["channel"], row["chat_messages"], row["email_in"], row["email_out"]) == (
            "chat",
            "2",
            "1",
            "1",
        )
    finally:
        server.stop()


async def test_a_reply_by_mail_is_debited_like_a_chat_once_with_its_mail_in_the_same_commit(
    store: Store,
) -> None:
    """The first human reply writes the debit due and the mail due in one transaction,
    whatever the channel; a second reply adds neither a debit nor a second pending mail."""
    from chatserver.billing import due

    conv = await conversation(store)
    visitor = await store.get_visitor(conv.visitor_id)
    assert visitor is not None
    visitor.customer_email = "paying@example.com"
    await store.save_visitor(visitor)
    await agent_says(store, conv, "First human reply")
    await agent_says(store, conv, "Second")
    assert [r["kind"] for r in await due.debits(store.engine, conv.id)] == [due.REPLY]
    (mail,) = await outbox.mails(store.engine, conv.id)
    assert mail["to_addr"] == "paying@example.com" and mail["sent_ms"] is None


# ---------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1: (cert file, key file); the cert is its
    own CA."""
    where = tmp_path_factory.mktemp("tls")
    cert, key = str(where / "cert.pem"), str(where / "key.pem")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            key,
            "-out",
            cert,
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_context(certificate: tuple[str, str]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.mark.parametrize("scheme", ["smtp", "smtps"])
async def test_mail_goes_out_over_starttls_and_over_tls_with_the_certificate_checked(
    tmp_path: Path, store: Store, certificate: tuple[str, str], scheme: str
) -> None:
    context = server_context(certificate)
    tls = (
        {"tls_context": context, "require_starttls": True}
        if scheme == "smtp"
        else {"ssl_context": context}
    )
    secure = MailCatcher(**tls)
    secure.start()
    try:
        url = f"{scheme}://127.0.0.1:{secure.port}"
        conv = await conversation(store)
        await agent_says(store, conv, "Over TLS")
        # A certificate nobody vouches for: refused, the mail kept for later.
        untrusted = MailWorker(store, mail_settings(tmp_path, secure, smtp_url=url))
        await untrusted.drain()
        (row,) = await outbox.mails(store.engine, conv.id)
        assert row["sent_ms"] is None and "certif" in (row["last_error"] or "").lower()
        assert secure.received() == []
        await outbox.release(store.engine, [row["id"]])  # no need to wait out the back-off
        trusted = MailWorker(
            store, mail_settings(tmp_path, secure, smtp_url=url, smtp_ca_file=certificate[0])
        )
        await trusted.drain()
        (msg,) = await secure.wait_for(1)
        assert "Over TLS" in body_of(msg, "plain")
    finally:
        secure.stop()


async def test_an_offline_message_s_address_gets_the_agents_reply(
    tmp_path: Path, store: Store, catcher: MailCatcher
) -> None:
    conv = await conversation(store)
    visitor = await store.get_visitor(conv.visitor_id)
    assert visitor is not None
    visitor.email = None
    await store.save_visitor(visitor)
    offline = OfflineMessage(
        visitor_id=conv.visitor_id, email="left@example.com", text="call me", created_ms=now_ms()
    )
    await store.write(
        lambda c: c.execute(
            sa.insert(OfflineMessage.__table__).values(**offline.model_dump(exclude={"id"}))
        )  # type: ignore[attr-defined]
    )
    await agent_says(store, conv, "Answering your offline message")
    await MailWorker(store, mail_settings(tmp_path, catcher)).drain()
    (msg,) = await catcher.wait_for(1)
    assert msg["To"].addresses[0].addr_spec == "left@example.com"


async def test_a_reply_to_a_closed_conversation_opens_a_new_one_for_the_same_visitor(
    tmp_path: Path, store: Store, listener: SmtpListener, catcher: MailCatcher
) -> None:
    conv = await conversation(store)
    await store.transition(conv.id, "closed", "test", closed_ms=now_ms(), closed_by="agent")
    to = reply_address(mail_settings(tmp_path, catcher).security.secret_key, conv.id, DOMAIN)
    await asyncio.to_thread(deliver, listener.port, reply_mail(to, "One more thing", "<c1@x>"))
    reopened = await store.open_conversation_of(conv.visitor_id)
    assert reopened is not None and reopened.id != conv.id and reopened.channel == "email"
    assert await texts_of(store, reopened.id) == [("visitor", "One more thing")]


async def test_an_agents_reply_to_a_visitor_still_on_the_page_is_not_mailed(
    tmp_path: Path, catcher: MailCatcher
) -> None:
    settings = mail_settings(tmp_path, catcher, smtp_ingest_port=None)
    await add_agents(settings, ("ana@example.com", "agent", 5))
    server = LiveServer(settings).start()
    store = Store(settings.server.database_url)
    await store.start()
    try:
        cookie = await login_cookie(server, "ana@example.com", AGENT_PASSWORD)
        agent = await connect_agent(server, cookie)
        await agent.recv_type("welcome")
        visitor, token = await connect_visitor(server)
        await visitor.recv_type("welcome")
        conv_id = (await visitor.send_text("Still here"))["conversation_id"]
        await agent.recv_type("assigned", timeout=20)
        conv = await store.get_conversation(conv_id)
        assert conv is not None
        row = await store.get_visitor(conv.visitor_id)
        assert row is not None
        row.email = VISITOR_EMAIL
        await store.save_visitor(row)
        await agent.send_text("Reply while you are here", conversation_id=conv_id)
        await visitor.recv_type("message", timeout=20)

        async def done() -> Any:
            rows = await outbox.mails(store.engine, conv_id)
            return rows and rows[0]["outcome"]

        assert await until(done, "the continuity mail settled", timeout=20) == "seen"
        assert catcher.received() == []
    finally:
        await store.stop()
        server.stop()
