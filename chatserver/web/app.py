"""The composition root: settings → store, bus, hub, dispatcher, routes. One lifespan
owns every background task and connection pool."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

import agentdesk
import widget
from chatserver.backends.bus import KB_CHANNEL, SETTINGS_CHANNEL, Bus, Handler, InMemoryBus
from chatserver.backends.db import is_sqlite, upgrade
from chatserver.backends.presence import InMemoryPresence, Presence
from chatserver.backends.store import MailContinuity, Store
from chatserver.core.settings import Settings, get_settings
from chatserver.live.auth import Tokens
from chatserver.live.sessions import AgentSockets
from chatserver.runtime.tasks import TaskSet
from chatserver.services import dashboard
from chatserver.services.assist import Assistant, kb_changed_frame
from chatserver.services.credits import Credits
from chatserver.services.dispatch import Dispatcher
from chatserver.services.hub import Hub
from chatserver.services.inbox import Inbox
from chatserver.services.login_guard import LoginGuard
from chatserver.services.search import SearchIndex
from chatserver.services.settings import LiveSettings
from chatserver.services.visitor_purge import VisitorPurger
from chatserver.services.visits import Visits
from chatserver.services.webpush import WebPush
from chatserver.session.ws import agent_endpoint, visitor_endpoint
from chatserver.web import admin, api, desk, inbox, kb_api, pages, planning, push, visitors
from chatserver.web import mail as mail_routes
from chatserver.web.billing import routes as billing_routes
from chatserver.web.edge import EdgeMiddleware, Limits, LiveCORS
from chatserver.web.http_body import ERROR_HANDLERS
from chatserver.web.socket_shortcut import SocketShortcut

log = logging.getLogger("livedesk.app")


def create_app(
    settings: Settings | None = None,
    *,
    migrate: bool | None = None,
    on_started: Callable[[], None] | None = None,
) -> Starlette:
    """``on_started``: called once everything has started, before the first request."""
    settings = settings or get_settings()
    should_migrate = is_sqlite(settings.server.database_url) if migrate is None else migrate

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if should_migrate:
            await asyncio.to_thread(upgrade, settings.server.database_url)
        store = Store(
            settings.server.database_url,
            settings.store.group_commit_max_batch,
            settings.store.group_commit_max_delay_ms,
            settings.store.db_busy_timeout_s,
            settings.store.db_pool_size,
            # With outbound mail, a reply to a mailed conversation queues its mail.
            mail=MailContinuity(
                int(settings.mail.mail_continuity_after_s * 1000), settings.mail.mail_reply_domain
            )
            if settings.mail.smtp_url
            else None,
            checkpoint_interval_s=settings.store.sqlite_checkpoint_interval_s,
        )
        engine = store.engine
        # The environment's settings overlaid with what admins saved (services/settings.py).
        live = LiveSettings(settings, store)
        effective = await live.load()
        app.state.settings = effective
        app.state.live_settings = live
        assist = Assistant(store, settings.kb.kb_search_queue)
        await assist.load()
        cluster_parts: Any = None
        cluster: Any = None
        make_bus: Callable[[Handler], Bus]
        presence: Presence
        routing_parts: dict[str, Any] = {}
        if settings.cluster.redis_url:
            # Many hub processes: Redis carries the fan-out, presence, capacity leases and
            # the routing leader's events.
            # Imported here: redis is an extra the embedded default does not need.
            from chatserver.backends.bus_redis import RedisBus
            from chatserver.backends.cluster import Cluster, ClusterParts
            from chatserver.backends.redis_keys import new_node_id

            node_id = new_node_id()
            # The parts first: the dispatcher is built with them, the Cluster with it.
            cluster_parts = ClusterParts(settings, node_id)
            presence = cluster_parts.presence
            routing_parts = {
                "ledger": cluster_parts.ledger,
                "presence": cluster_parts.presence,
                "forward": cluster_parts.forward,
            }

            async def redis_back() -> None:
                hub.forget_all()
                await cluster.redis_back()
                # What was published while the bus was down never reached these sockets,
                # and a settings change announced then never reached this node.
                hub.request_catch_up()
                live.on_bus()

            def on_bus_reconnect() -> None:
                hub.tasks.spawn(redis_back())

            def make_bus(deliver: Handler) -> Bus:
                bus = RedisBus(
                    settings.cluster.redis_url or "",
                    deliver,
                    node_id,
                    stop_timeout_s=settings.cluster.bus_stop_timeout_s,
                    on_reconnect=on_bus_reconnect,
                    # Another node dropped publishes: catch this node's sockets up too.
                    on_peer_gap=lambda: hub.request_catch_up(),
                    linked_clients=[cluster_parts.redis],
                )
                return bus
        else:
            make_bus = InMemoryBus
            presence = InMemoryPresence()
        hub = Hub(
            store,
            settings,
            make_bus=make_bus,
            presence=presence,
            assist=assist,
            make_credits=lambda hub: Credits(hub, engine, settings),
            make_routing=lambda hub: Dispatcher(hub, store, effective, **routing_parts),
            # Settings saved on any node reach this one's dispatcher and routes.
            on_settings_changed=live.on_bus,
        )
        credits, dispatcher, bus = hub.credits, hub.dispatch, hub.bus
        # Presence answers "is this visitor on a socket anywhere?" from each node's own map.
        presence.watch_visitors(hub.visitors.keys)
        assert isinstance(credits, Credits) and isinstance(dispatcher, Dispatcher)
        assert bus is not None
        if cluster_parts is not None:
            cluster = Cluster(cluster_parts, dispatcher)
        # "Conversation closed", in this order: the bot forgets it, billing settles it, and
        # routing frees the agent's slot.
        hub.closed_listeners += [
            lambda conv: assist.forget(conv.id),
            credits.spawn_close,
            dispatcher.conversation_ended,
        ]
        # Listeners, registered here (each object was built before the hub it tells):
        # every committed row fans out through the hub; KB edits, saved canned replies and
        # saved settings made here reach every node (this one's too) through the bus.
        store.writer.commit_listeners.append(hub.commits.committed)
        assist.change_listeners.append(lambda ids: hub.publish(KB_CHANNEL, kb_changed_frame(ids)))
        assist.canned_change_listeners.append(
            lambda keys: hub.publish(KB_CHANNEL, kb_changed_frame([], canned=keys))
        )
        live.announcers.append(lambda body: hub.publish(SETTINGS_CHANNEL, body))
        bus.subscribe(KB_CHANNEL)

        async def settings_applied(new: Settings) -> None:
            app.state.settings = new
            await dispatcher.apply_settings(new)

        live.listeners.append(settings_applied)
        bus.subscribe(SETTINGS_CHANNEL)
        app.state.assist = assist
        app.state.credits = credits
        # Hooks the billing routes call after a ledger change commits.
        app.state.publish_balance = credits.publish_balance
        app.state.on_credits_granted = credits.on_credits_granted
        app.state.engine = engine
        app.state.store = store
        # Per start: its pool's threads end with the lifespan.
        app.state.login_guard = LoginGuard(settings)
        app.state.purger = purger = VisitorPurger(store, settings)
        app.state.hub = hub
        app.state.bus = bus
        app.state.dispatch = dispatcher
        app.state.inbox = desk_inbox = Inbox(hub)
        hub.closed_listeners.append(desk_inbox.on_closed)
        app.state.visits = Visits(store)
        app.state.search = search = SearchIndex(store, settings.store.search_index_interval_s)
        app.state.push = push = WebPush(store, settings)
        dispatcher.offer_listeners.append(push.offered)
        hub.agent_chat_listeners.append(push.visitor_wrote)
        async with contextlib.AsyncExitStack() as started:
            # What has started is stopped in reverse order, also when a later start fails
            # (the database or Redis refusing the dispatcher's first reads, say).
            await store.start()
            started.push_async_callback(store.stop)
            await bus.start()
            started.push_async_callback(bus.stop)
            started.push_async_callback(assist.stop)
            started.push_async_callback(live.stop)
            assist.start_sync(settings.kb.kb_sync_interval_s)
            started.callback(app.state.login_guard.stop)
            started.push_async_callback(hub.tasks.stop)
            if cluster is not None:
                await cluster.start()
                started.push_async_callback(cluster.stop)
            await dispatcher.start()
            started.push_async_callback(dispatcher.stop)
            # After the dispatcher: opening a paid-support order's conversation queues it.
            credits.start()
            started.push_async_callback(credits.stop)
            await dashboard.start(app.state)
            started.push_async_callback(dashboard.stop, app.state)
            watcher = TaskSet("sessions")
            watcher.spawn(
                app.state.sessions.watch(store, settings.security.session_check_interval_s)
            )
            started.push_async_callback(watcher.stop)
            purger.start()
            started.push_async_callback(purger.stop)
            await _start_mail(app, settings, store, hub, started)
            search.start()
            started.push_async_callback(search.stop)
            started.push_async_callback(push.stop)
            if on_started is not None:
                on_started()
            app.state.ready = True
            try:
                yield
            finally:
                app.state.ready = False

    routes = [
        Route("/healthz", api.healthz),
        Route("/readyz", api.readyz),
        Route("/metrics", api.metrics_endpoint),
        Route("/login", pages.login_page, methods=["GET"]),
        Route("/login", api.login, methods=["POST"]),
        Route("/logout", api.logout, methods=["POST"]),
        Route("/api/me", api.me),
        Route("/", pages.index),
        Route("/demo", pages.demo_page),
        Route("/agent", pages.agent_page),
        Route("/widget.js", pages.widget_bundle),
        WebSocketRoute("/ws/visitor", visitor_endpoint),
        WebSocketRoute("/ws/agent", agent_endpoint),
        *visitors.routes,
        *kb_api.routes,
        *billing_routes,
        *desk.routes,
        *planning.routes,
        *mail_routes.routes,
        *admin.routes,
        *inbox.routes,
        *push.routes,
        Mount("/static/desk", StaticFiles(directory=agentdesk.STATIC_DIR), name="desk-static"),
        Mount("/static/widget", StaticFiles(directory=widget.STATIC_DIR), name="widget-static"),
    ]
    middleware = [
        # First: a refused client costs nothing further down.
        Middleware(EdgeMiddleware, settings=settings),
        # Its sockets' endpoints, past the layers below (each a frame an idle socket keeps).
        Middleware(
            SocketShortcut,
            endpoints={"/ws/visitor": visitor_endpoint, "/ws/agent": agent_endpoint},
        ),
        Middleware(
            LiveCORS,  # type: ignore[arg-type]  # CORSMiddleware's own signature, plus `initial`
            initial=settings,
            allow_methods=["GET", "POST"],
            allow_headers=["content-type"],
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers=ERROR_HANDLERS,
    )
    app.state.settings = settings
    app.state.tokens = Tokens(settings)
    app.state.sessions = AgentSockets()
    app.state.limits = Limits(settings)
    app.state.ready = False
    return app


async def _start_mail(
    app: Starlette, settings: Settings, store: Store, hub: Hub, started: contextlib.AsyncExitStack
) -> None:
    """Outbound mail (the outbox worker) when ``SMTP_URL`` is set; inbound mail (the HTTP
    endpoint, and the SMTP listener when ``SMTP_INGEST_PORT`` is set) always threads into
    conversations."""
    from chatserver.backends.models import Conversation
    from chatserver.services.mail_ingest import MailIngest

    async def opened(conv: Conversation) -> None:
        # Routed like a chat, weighing MAIL_WEIGHT against the agent's cap (the dispatcher
        # reads the conversation's channel).
        hub.remember(conv)
        if hub.dispatch is not None:
            await hub.dispatch.conversation_waiting(conv)

    app.state.mail_ingest = ingest = MailIngest(store, settings, on_opened=opened)
    if settings.mail.smtp_url:
        from chatserver.services.mail_worker import MailWorker

        tokens: Tokens = app.state.tokens

        page = settings.mail.mail_resume_url or (
            f"{settings.security.public_url.rstrip('/')}/demo"
            if settings.security.public_url
            else None
        )

        def resume_link(visitor_id: str, site: str, language: str | None) -> str | None:
            # The widget on that page takes the token over and reopens the conversation.
            if page is None:
                return None
            token = tokens.issue_visitor_token(visitor_id, site, language)
            joiner = "&" if "?" in page else "?"
            return f"{page}{joiner}livedesk_resume={quote(token, safe='')}"

        worker = MailWorker(
            store,
            settings,
            # Any node's socket counts (presence), not only this node's.
            visitor_online=hub.presence.visitor_online if hub.presence is not None else None,
            resume_link=resume_link,
        )
        app.state.mail_worker = worker
        worker.start()
        started.push_async_callback(worker.stop)
    if settings.mail.smtp_ingest_port is not None:
        from chatserver.services.mail_smtpd import SmtpListener

        listener = SmtpListener(ingest, settings)
        await listener.start()
        app.state.smtp_listener = listener
        started.push_async_callback(listener.stop)
