"""The SMTP listener for inbound mail (aiosmtpd), on the app's own event loop.

``livedesk serve`` starts it when ``LIVEDESK_SMTP_INGEST_PORT`` is set. Each message is
handed to ``MailIngest``; a refusal is answered with its SMTP code, so the sending server
bounces it (5xx) or tries again later (4xx) instead of the desk storing it.
"""

from __future__ import annotations

import asyncio
import logging

from aiosmtpd.smtp import SMTP, Envelope, Session

from chatserver.core.mail import MailRefused
from chatserver.core.settings import Settings
from chatserver.services.mail_ingest import MailIngest

log = logging.getLogger("livedesk.mail")


class _Handler:
    def __init__(self, ingest: MailIngest) -> None:
        self.ingest = ingest

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            outcome = await self.ingest.ingest(raw, envelope.mail_from, list(envelope.rcpt_tos))
        except MailRefused as exc:
            return f"{exc.smtp_code} {exc.reason}"
        except Exception:
            log.warning("inbound mail failed", exc_info=True)
            return "451 try again later"
        return f"250 {outcome}"


class SmtpListener:
    def __init__(self, ingest: MailIngest, settings: Settings) -> None:
        self.ingest = ingest
        self.host = str(settings.mail.smtp_ingest_host)
        # Made only when SMTP_INGEST_PORT is set (the app's lifespan checks it).
        assert settings.mail.smtp_ingest_port is not None, "the listener needs SMTP_INGEST_PORT"
        self.port = settings.mail.smtp_ingest_port
        self.max_bytes = int(settings.mail.mail_max_bytes)
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        handler = _Handler(self.ingest)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(handler, data_size_limit=self.max_bytes, enable_SMTPUTF8=True),
            self.host,
            self.port,
        )
        sockets = self._server.sockets
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("mail ingest listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
