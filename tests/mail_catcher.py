"""A real SMTP server for tests: aiosmtpd on a free loopback port, in its own thread,
keeping every message it accepted. ``stall()`` holds each sender at RCPT until
``release()``: a hub caught between "stored" and "sent"."""

from __future__ import annotations

import asyncio
import threading
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from chatserver.testing.loadtest import free_port


class _Handler:
    def __init__(self, catcher: MailCatcher) -> None:
        self.catcher = catcher

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        self.catcher.rcpt_reached.set()
        # Waits in a thread: the flag is the test's, set from another loop.
        await asyncio.to_thread(self.catcher.released.wait, 60)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(msg, EmailMessage)
        with self.catcher.lock:
            self.catcher.messages.append(msg)
        return "250 OK"


class MailCatcher:
    def __init__(self, **controller_kwargs: Any) -> None:
        """``tls_context=…, require_starttls=True`` for STARTTLS, ``ssl_context=…`` for TLS
        from the first byte (aiosmtpd's own options)."""
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.released.set()
        self.rcpt_reached = threading.Event()
        self.controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, **controller_kwargs
        )

    @property
    def url(self) -> str:
        return f"smtp+plain://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.released.set()
        self.controller.stop()

    def stall(self) -> None:
        self.released.clear()

    def release(self) -> None:
        self.released.set()

    def received(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.messages)

    async def wait_for(self, count: int, timeout: float = 20) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received()
            if len(got) >= count:
                return got
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {count} mails, got {len(self.received())}")
