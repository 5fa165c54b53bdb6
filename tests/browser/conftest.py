"""A real Chromium (Debian's /usr/bin/chromium) driven by Playwright, against a real hub.

Without Chromium the browser tests skip with the reason; under CI=true they fail.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.integration.conftest import AGENT_PASSWORD
from tests.live import (
    OPEN_CLIENTS,
    Client,
    LiveServer,
    connect_agent,
    connect_visitor,
    login_cookie,
)
from tests.servers import unavailable

T = TypeVar("T")

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    return (
        os.environ.get("LIVEDESK_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    executable = chromium_path()
    if executable is None:
        unavailable("Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go (kept by CI as test artefacts)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def expect(target: Any) -> Any:
    # Imported when used: without playwright the browser fixture skips, not the collection.
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


# ---------------------------------------------------------------- a member of staff logged in


def sign_in(page: Any, server: LiveServer, email: str, password: str = AGENT_PASSWORD) -> Any:
    """``page`` logged in through the login form, back once it landed on the console or
    the dashboard."""
    page.set_default_timeout(15_000)
    page.goto(server.url + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/(agent|supervisor)$"))
    return page


def desk_page(browser: Any, **context: Any) -> Any:
    """A page of its own browser context, not logged in yet: the browser asks for English
    (what the page speaks otherwise comes from the agent's setting) in a desk-sized window;
    ``context`` adds to or overrides those options."""
    options = {"viewport": {"width": 1400, "height": 860}, "locale": "en-US", **context}
    return browser.new_context(**options).new_page()


def log_in(
    browser: Any, server: LiveServer, email: str, password: str = AGENT_PASSWORD, **context: Any
) -> Any:
    """A ``desk_page`` logged in as ``email``."""
    return sign_in(desk_page(browser, **context), server, email, password)


# ---------------------------------------------------------------- a hub and an agent on the wire


class EmbedSite:
    """Another website (its own origin) whose pages embed the widget with one script tag."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                body = pages.get(self.path.split("?")[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((body or "not found").encode())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def page(self, path: str, html: str) -> str:
        self.pages[path] = html
        return self.origin + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def site() -> Iterator[EmbedSite]:
    embed = EmbedSite()
    yield embed
    embed.close()


@pytest.fixture
def hub(tmp_path: Path, site: EmbedSite) -> Iterator[LiveServer]:
    """A real hub with two agents (nobody online until a test connects one); `site` may embed it."""
    from tests.integration.conftest import make_settings, seed_agents

    settings = make_settings(
        tmp_path, allowed_origins=[site.origin], shop_url="https://shop.example/support-credits"
    )
    staff = (
        ("ana@example.com", "agent", 5),
        ("sam@example.com", "supervisor", 5),
        ("boss@example.com", "admin", 5),
    )
    # Playwright's sync API keeps an event loop running on this thread: seed from another one.
    seeding = threading.Thread(target=seed_agents, args=(settings, *staff))
    seeding.start()
    seeding.join(30)
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


class Wire:
    """An event loop in a thread for the wire clients; ``run`` waits for one coroutine."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.clients: list[Client] = []

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 20) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        async def close_all() -> None:
            for client in self.clients:
                await client.close()

        self.run(close_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def wire() -> Iterator[Wire]:
    w = Wire()
    try:
        yield w
    finally:
        w.stop()


class WireAgent:
    """An agent driven over the wire from its own asyncio loop in a thread.

    Playwright's sync API cannot run inside a running event loop, so the browser test stays
    synchronous and hands each wire step to this loop, waiting for its result with a timeout.
    """

    def __init__(self, server: LiveServer, email: str = "ana@example.com") -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="wire-agent", daemon=True)
        self.thread.start()
        self.others: list[Client] = []
        self.client: Client = self.call(self._connect(email))

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _connect(self, email: str) -> Client:
        cookie = await login_cookie(self.server, email, AGENT_PASSWORD)
        client = await connect_agent(self.server, cookie)
        OPEN_CLIENTS.remove(client)  # this class closes it, on its own loop
        await client.recv_type("welcome")
        return client

    def assigned(self) -> str:
        """The next conversation given to this agent; its history is replayed (resume from 0)."""
        frame = self.call(self.client.recv_type("assigned"))
        conv = str(frame["conversation"]["conversation_id"])
        self.send({"type": "resume", "conversation_id": conv, "after_seq": 0})
        return conv

    def say(self, conv: str, text: str) -> dict[str, Any]:
        return self.call(self.client.send_text(text, conversation_id=conv))

    def send(self, frame: dict[str, Any]) -> None:
        self.call(self.client.send(frame))

    def heard(self, text: str, timeout: float = 15.0) -> dict[str, Any]:
        """The visitor's message with this text (a stored `message` frame)."""
        return self.call(
            self.client.recv_until(
                lambda f: (
                    f.get("type") == "message"
                    and f.get("author") == "visitor"
                    and f.get("text") == text
                ),
                timeout,
            ),
            timeout + 5,
        )

    def fill_up(self, visitors: int) -> list[str]:
        """Other visitors (over the wire) start chats until this agent holds `visitors` of them."""

        async def open_chats() -> list[str]:
            convs = []
            for n in range(visitors):
                client, _ = await connect_visitor(self.server)
                OPEN_CLIENTS.remove(client)
                self.others.append(client)
                await client.recv_type("welcome")
                ack = await client.send_text(f"filler chat {n}")
                convs.append(str(ack["conversation_id"]))
                await self.client.recv_type("assigned")
            return convs

        return self.call(open_chats(), 60)

    def until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15.0
    ) -> dict[str, Any]:
        return self.call(self.client.recv_until(predicate, timeout), timeout + 5)

    def frame(self, kind: str, timeout: float = 15.0, **match: Any) -> dict[str, Any]:
        return self.call(self.client.recv_type(kind, timeout, **match), timeout + 5)

    def close(self) -> None:
        try:
            for other in self.others:
                self.call(other.close())
            self.call(self.client.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture
def wire_agent(hub: LiveServer) -> Iterator[Callable[..., WireAgent]]:
    """Connect an agent (online, auto-accepting) when the test asks for one."""
    agents: list[WireAgent] = []

    def connect(email: str = "ana@example.com") -> WireAgent:
        agents.append(WireAgent(hub, email))
        return agents[-1]

    yield connect
    for agent in agents:
        agent.close()


@contextmanager
def staff_http(hub: LiveServer, email: str) -> Iterator[httpx.Client]:
    """A logged-in HTTP client for a seeded staff member (supervisor: KB, admin: credits)."""
    with httpx.Client(base_url=hub.url, timeout=10) as client:
        client.post("/login", json={"email": email, "password": AGENT_PASSWORD}).raise_for_status()
        # Writes carry the session's CSRF token, as the console's do.
        client.headers["x-csrf-token"] = client.get("/api/me").json()["csrf"]
        yield client


# ---------------------------------------------------------------- a page for the widget tests


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1100, "height": 760}, locale="en-US")
    yield ctx
    ctx.close()


@pytest.fixture
def dialogs() -> list[str]:
    """Messages of every alert()/confirm() the page opened (an injected payload would)."""
    return []


@pytest.fixture
def page(context: Any, dialogs: list[str]) -> Any:
    page = context.new_page()
    page.set_default_timeout(15_000)

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return page
