"""The one settings object, read from ``LIVEDESK_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # "none" sets an optional setting (a timeout that may be off) to None from the environment.
    model_config = SettingsConfigDict(
        env_prefix="LIVEDESK_", extra="ignore", env_parse_none_str="none"
    )

    database_url: str = "sqlite:///./livedesk.db"
    # How long a SQLite write waits for a lock before the sender gets `unavailable`.
    db_busy_timeout_s: float = 30.0
    # PostgreSQL connections per hub process (a fixed pool; SQLite ignores it).
    db_pool_size: int = Field(default=20, ge=1, le=200)
    redis_url: str | None = None
    # Many hub processes (only with redis_url): how long the routing leader's lease, a
    # node's presence heartbeat and its capacity leases outlive a node that died.
    leader_lease_ttl_s: float = Field(default=10.0, gt=0)
    presence_ttl_s: float = Field(default=15.0, gt=0)
    capacity_lease_ttl_s: float = Field(default=30.0, gt=0)
    # Signs visitor tokens and agent session cookies. The default is only for the demo;
    # `serve` warns when it is left unset.
    secret_key: str = "livedesk-insecure-development-key-change-me"
    identity_secret: str | None = None
    site_key: str = "default"
    allowed_origins: list[str] = Field(default_factory=list)
    public_url: str | None = None

    visitor_token_ttl_s: int = 30 * 24 * 3600
    session_ttl_s: int = 12 * 3600
    # How often agent sockets are checked against their session: one whose cookie expired
    # or was revoked (logout or password change, on any node) is closed within this.
    session_check_interval_s: float = Field(default=5.0, gt=0)
    session_cookie: str = "livedesk_session"
    # Session cookie `Secure` (and `__Host-` named): unset (the default) means Secure when
    # the request came over HTTPS or `public_url` is https; true/false forces it.
    cookie_secure: bool | None = None
    # Strict-Transport-Security max-age sent on HTTPS responses; 0 sends none.
    hsts_max_age_s: int = Field(default=180 * 24 * 3600, ge=0)

    max_frame_bytes: int = 64 * 1024
    max_text_chars: int = 4000
    rate_limit_per_s: float = 10.0
    rate_limit_burst: int = 30
    flood_errors_before_close: int = 20
    send_queue_frames: int = 1000
    send_queue_bytes: int = 1024 * 1024

    # Routing (the router's RouterConfig is built from these).
    default_agent_cap: int = 5
    routing_policy: str = "least_loaded"
    auto_accept: bool = True
    accept_timeout_s: float = 30.0
    reoffer_after_s: float | None = 60.0
    disconnect_grace_s: float = 30.0
    language_fallback_s: float | None = 60.0
    first_reply_timeout_s: float | None = 120.0
    aging_s_per_class: float | None = 120.0
    parked_after_s: float | None = None
    parked_weight: float = 0.5
    # When humans may be expected (unset: always); the bot holds everything outside them.
    business_hours: str | None = None
    timezone: str = "UTC"
    holidays: list[str] = Field(default_factory=list)
    group_commit_max_batch: int = 256
    group_commit_max_delay_ms: float = 2.0

    log_level: str = "info"
    # How often each node checks the knowledge base tables for writes it was not told of on
    # the bus (an import by `livedesk kb import`, a lost bus frame); 0 turns the check off.
    kb_sync_interval_s: float = Field(default=2.0, ge=0)

    # --- the edge: slow clients, per-address caps, anonymous writes, login ---
    # From a connection's start (or its previous response) to a request's complete headers.
    header_timeout_s: float = Field(default=10.0, gt=0)
    # A request line and headers larger than this get 431 and the connection is closed.
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    # From a request's start to its complete body; a slower body gets 408.
    body_timeout_s: float = Field(default=30.0, gt=0)
    # Open connections (HTTP and websockets) from one client address; 0: no cap.
    max_connections_per_address: int = Field(default=64, ge=0)
    # Peers (addresses or CIDRs) whose X-Forwarded-For/-Proto are believed: your reverse
    # proxy. Behind one, per-address caps and limits apply to the forwarded address.
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    # Raise the open-file soft limit to the hard limit when `serve` starts.
    raise_fd_limit: bool = True
    # Anonymous writes, per minute (a minute's worth may come at once); 0: no limit.
    visitor_sessions_per_min_per_address: float = Field(default=30.0, ge=0)
    visitor_sessions_per_min_per_visitor: float = Field(default=20.0, ge=0)
    offline_messages_per_min_per_address: float = Field(default=5.0, ge=0)
    offline_messages_per_min_per_visitor: float = Field(default=2.0, ge=0)
    visitor_sockets_per_min_per_address: float = Field(default=60.0, ge=0)
    visitor_sockets_per_min_per_visitor: float = Field(default=30.0, ge=0)
    # Visitors who never wrote (no conversation, offline message or note) are deleted this
    # long after they were last seen; `none` keeps them. Checked every purge interval.
    idle_visitor_ttl_s: float | None = Field(default=7 * 24 * 3600.0, gt=0)
    visitor_purge_interval_s: float = Field(default=3600.0, gt=0)
    # Login: failures in a row (per address, per account) before back-off; the first
    # back-off, doubled per further failure, up to the most.
    login_free_failures: int = Field(default=5, ge=1)
    login_backoff_s: float = Field(default=2.0, gt=0)
    login_backoff_max_s: float = Field(default=900.0, gt=0)
    # argon2 verifications run on this many threads; this many more may wait, beyond that
    # a login is answered 503 at once.
    password_workers: int = Field(default=2, ge=1)
    password_queue: int = Field(default=8, ge=0)
    # Public knowledge-base search runs on its own thread, apart from agents' suggestions;
    # beyond one running and this many waiting it answers 503.
    kb_search_queue: int = Field(default=8, ge=0)

    # --- billing (chatserver/billing): paid support credits and the WooCommerce webhook ---
    woocommerce_secret: str | None = None  # the webhook's secret; unset: the endpoint is off
    woocommerce_source: str | None = None  # the shop URL sent as X-WC-Webhook-Source
    credit_packs: str | None = None  # path of {"SKU or product id": credits per unit}
    billing_mode: Literal["per_conversation", "per_minutes"] = "per_conversation"
    billing_block_minutes: int = Field(default=30, gt=0)
    shop_url: str | None = None  # where a visitor with no credits is sent to buy more
    no_credit_policy: Literal["lowest_priority", "bot_only"] = "lowest_priority"
    # The billing worker (debits due, paid-support orders): how often it looks for work
    # another process left or a failure postponed, and the longest it waits between two
    # attempts at one item, which is also how long a process that died holding an item
    # keeps it from the others.
    billing_poll_s: float = Field(default=2.0, gt=0)
    billing_retry_s: float = Field(default=30.0, gt=0)
    # --- end billing ---


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
