"""Mail throughput: outbound mails/s from the outbox to a local SMTP sink (aiosmtpd), and
inbound mails/s through the hub's SMTP listener into the store; 0 lost, 0 doubled.

    python -m benchmarks.mail [--mails 500]

Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import smtplib
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from typing import Any

from chatserver.backends import mail_outbox as outbox
from chatserver.backends.db import upgrade
from chatserver.backends.models import Visitor
from chatserver.backends.store import Append, MailContinuity, Store, now_ms
from chatserver.core.mail import reply_address
from chatserver.core.settings import Settings
from chatserver.services.mail_ingest import MailIngest
from chatserver.services.mail_smtpd import SmtpListener
from chatserver.services.mail_worker import MailWorker
from chatserver.testing.loadtest import free_port

DOMAIN = "bench.test"
CONNECTIONS = 4  # inbound SMTP connections at once, as a provider's relay opens them


# The sink runs in its own process, as a relay would: in this one it would share the GIL
# with the worker it measures.
SINK = """
import asyncio, sys
from aiosmtpd.controller import Controller

out = open(sys.argv[2], "a", buffering=1)

class Sink:
    async def handle_DATA(self, server, session, envelope):
        for line in (envelope.original_content or b"").split(b"\\r\\n"):
            if line.lower().startswith(b"message-id:"):
                out.write(line.split(b":", 1)[1].strip().decode() + "\\n")
                break
        return "250 OK"

c = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"""


def sink_ids(path: str) -> list[str]:
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


async def seed(store: Store, n: int) -> list[str]:
    agent = await store.add_agent("bench@example.com", "Bench", "x")
    ids = []
    for i in range(n):
        ts = now_ms()
        visitor_id = f"bench{i}"
        await store.save_visitor(
            Visitor(
                id=visitor_id,
                site="default",
                created_ms=ts,
                last_seen_ms=ts,
                email=f"v{i}@example.com",
            )
        )
        conv, _ = await store.open_conversation(visitor_id, "default", "sl")
        await store.transition(conv.id, "active", "bench", agent_id=agent.id, assigned_ms=ts)
        ids.append(conv.id)
    return ids


async def run(n: int) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="livedesk-mail-bench-")
    sink_port = free_port()
    sink_file = f"{tmp}/sink.txt"
    sink = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SINK,
        str(sink_port),
        sink_file,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert sink.stdout is not None
    assert (await asyncio.wait_for(sink.stdout.readline(), 30)).strip() == b"ready"
    settings = Settings(
        database_url=f"sqlite:///{tmp}/bench.db",
        smtp_url=f"smtp+plain://127.0.0.1:{sink_port}",
        mail_reply_domain=DOMAIN,
        mail_continuity_after_s=0,
        mail_per_min_per_sender=0,
        smtp_ingest_port=0,
    )
    await asyncio.to_thread(upgrade, settings.server.database_url)
    store = Store(settings.server.database_url, mail=MailContinuity(0, DOMAIN))
    await store.start()
    try:
        convs = await seed(store, n)
        agent = await store.get_agent_by_email("bench@example.com")
        assert agent is not None
        await asyncio.gather(
            *(
                store.append(Append(c, "agent", f"reply {i}", author_id=str(agent.id)))
                for i, c in enumerate(convs)
            )
        )
        queued = len(await outbox.mails(store.engine))
        worker = MailWorker(store, settings)
        t0 = time.perf_counter()
        await worker.drain()
        out_s = time.perf_counter() - t0
        sent_ids = sink_ids(sink_file)
        rows = await outbox.mails(store.engine)
        out = {
            "queued": queued,
            "sent": len(sent_ids),
            "lost": queued - len(set(sent_ids)),
            "doubled": len(sent_ids) - len(set(sent_ids)),
            "marked_sent": sum(1 for r in rows if r["outcome"] == "sent"),
            "mails_per_s": round(len(sent_ids) / out_s, 1),
        }

        listener = SmtpListener(MailIngest(store, settings), settings)
        await listener.start()
        mails = []
        for i, c in enumerate(convs):
            msg = EmailMessage()
            msg["From"] = f"v{i}@example.com"
            msg["To"] = reply_address(settings.security.secret_key, c, DOMAIN)
            msg["Message-ID"] = f"<in{i}@example.com>"
            msg.set_content(f"answer {i}\n\nOn Mon, someone wrote:\n> reply {i}")
            mails.append(msg)

        # A provider retrying a tenth of its deliveries: nothing may be stored twice.
        batches = [mails[k::CONNECTIONS] for k in range(CONNECTIONS)]
        batches[0] = batches[0] + mails[: n // 10]

        def deliver(batch: list[EmailMessage]) -> None:
            with smtplib.SMTP("127.0.0.1", listener.port, timeout=30) as smtp:
                for msg in batch:
                    smtp.send_message(msg)

        t0 = time.perf_counter()
        await asyncio.gather(*(asyncio.to_thread(deliver, b) for b in batches))
        in_s = time.perf_counter() - t0
        await listener.stop()
        stored = 0
        doubled = 0
        for i, c in enumerate(convs):
            texts = [
                r["body"] for r in await store.messages_after(c, 0) if r["author"] == "visitor"
            ]
            stored += texts.count(f"answer {i}")
            doubled += max(0, texts.count(f"answer {i}") - 1)
        inbound = {
            "delivered": n + n // 10,
            "stored": stored,
            "lost": n - (stored - doubled),
            "doubled": doubled,
            "mails_per_s": round((n + n // 10) / in_s, 1),
        }
    finally:
        await store.stop()
        sink.terminate()
        await sink.wait()
    return {"benchmark": "mail", "mails": n, "outbound": out, "inbound": inbound}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mails", type=int, default=500)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.mails))))


if __name__ == "__main__":
    main()
