"""The one settings object, read from ``LIVEDESK_*`` environment variables.

Every knob is declared here once, with its default, its section and its doc string (the
``description``), in its section's model, and read by section: ``settings.store.db_pool_size``.
A knob's flat name is unique across sections and is how it is named outside Python: its
environment variable (``LIVEDESK_DB_POOL_SIZE``), its stored value and row in the admin
screens, ``LOCKED_SETTINGS``, and the keywords ``Settings(db_pool_size=5)`` and
``settings.updated({...})`` take. The settings table in ``docs/operations.md`` is generated
from these (``settings_table()``) and a test keeps the two equal. The routing knobs take
their defaults from ``router.RouterConfig`` (router/ is pure and never imports chatserver,
so its own defaults are the single source and this file reads them);
``settings.routing.router_config()`` builds the router's config from them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.types import EnvNoneType

from router.config import RouterConfig
from router.model import Policy

SECTIONS = (
    "server",
    "store",
    "cluster",
    "security",
    "limits",
    "edge",
    "routing",
    "kb",
    "dashboard",
    "billing",
    "mail",
    "push",
    "admin",
)

# The knobs an admin may change in the browser while the hub runs (each node re-reads them
# on a `settings_changed` frame and applies them at once). Everything else is read once at
# start (connection pools, secrets, socket limits, the edge) and stays env-only.
EDITABLE = (
    "routing_policy",
    "default_agent_cap",
    "auto_accept",
    "accept_timeout_s",
    "reoffer_after_s",
    "disconnect_grace_s",
    "language_fallback_s",
    "first_reply_timeout_s",
    "business_hours",
    "timezone",
    "holidays",
    "team_hours",
    "widget_look",
    "allowed_origins",
    "credit_pack_credits",
)

_ROUTER = RouterConfig()
# A credit pack: its SKU (or product id) and the credits one unit of it buys.
PackKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
PackCredits = Annotated[int, Field(gt=0, le=1_000_000, strict=True)]
# A team's name as agents carry it (agents.teams) and the widget asks for it (data-team).
TEAM_NAME_PATTERN = r"[\w .&'-]{1,60}"
TeamKey = Annotated[str, StringConstraints(pattern=f"^{TEAM_NAME_PATTERN}$")]


class TeamHours(BaseModel):
    """One team's business hours; what it leaves out (None) is the desk's own."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    hours: str | None = None
    timezone: str | None = None
    holidays: list[str] | None = None


WidgetLang = Literal["en", "sl", "lt", "ro", "ru", "sr-Latn", "sr-Cyrl"]
MAX_FIELD_LABEL = 80


class PrechatField(BaseModel):
    """One question of the widget's pre-chat form: a built-in one (the widget says its
    label in the visitor's language) or the admin's own question (``label``, shown as text)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Literal["name", "email", "phone", "order", "custom"]
    required: bool = False
    label: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_FIELD_LABEL)
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _custom_has_label(self) -> PrechatField:
        if (self.name == "custom") != (self.label is not None):
            raise ValueError("only the custom question has a label, and it needs one")
        return self


class WidgetLook(BaseModel):
    """How the widget looks and asks where its embed tag says nothing (a data-* attribute
    of the tag wins); None: the widget's own default."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    color: Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{3,8}$")] | None = None
    position: Literal["right", "left"] | None = None
    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)] | None = None
    prechat: bool | None = None
    lang: WidgetLang | None = None
    # The pre-chat form's questions, in order (each at most once); None: name and e-mail.
    fields: Annotated[list[PrechatField], Field(max_length=5)] | None = None
    # The languages the site offers: the visitor's browser language if offered, else the
    # first (``lang`` is the older one-language form of the same).
    langs: Annotated[list[WidgetLang], Field(min_length=1, max_length=7)] | None = None

    @model_validator(mode="after")
    def _each_once(self) -> WidgetLook:
        names = [f.name for f in self.fields or []]
        if len(names) != len(set(names)) or len(self.langs or []) != len(set(self.langs or [])):
            raise ValueError("a pre-chat field or a language appears twice")
        return self


# Settings whose name differs from the router's field (the LIVEDESK_* names predate it).
ROUTER_NAMES = {"policy": "routing_policy", "default_cap": "default_agent_cap"}


def setting(default: Any, doc: str, section: str, **constraints: Any) -> Any:
    """One knob: its default, what it does (the docs table's text) and its section."""
    assert section in SECTIONS, section
    return Field(default, description=doc, json_schema_extra={"section": section}, **constraints)


def listing(doc: str, section: str) -> Any:
    return Field(default_factory=list, description=doc, json_schema_extra={"section": section})


def routed(name: str, doc: str, **constraints: Any) -> Any:
    """A routing knob: its default is the router's own (``RouterConfig``)."""
    return setting(getattr(_ROUTER, name), doc, "routing", **constraints)


class Section(BaseModel):
    """One section's knobs. An unknown name is refused: a typo is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class ServerSettings(Section):
    """The server knobs."""

    database_url: str = setting(
        "sqlite:///./livedesk.db", "`postgresql://user:pass@host/db` in production", "server"
    )
    log_level: str = setting("info", "the hub's log level", "server")


class StoreSettings(Section):
    """The store knobs."""

    db_busy_timeout_s: float = setting(
        30.0,
        "SQLite: how long a write waits for a lock before the sender gets the retryable `unavailable`",
        "store",
    )
    db_pool_size: int = setting(
        20,
        "PostgreSQL connections per hub process (a fixed pool: no connections opened and closed under load)",
        "store",
        ge=1,
        le=200,
    )
    group_commit_max_batch: int = setting(
        256, "the store's write batching: most messages in one transaction", "store"
    )
    group_commit_max_delay_ms: float = setting(
        4.0,
        "the store's write batching: longest wait for more messages to batch, taken only "
        "while messages arrive closer together than that (a quiet desk commits at once)",
        "store",
    )
    search_index_interval_s: float = setting(
        2.0,
        "how often new messages and customers are added to the search index (a search "
        "also indexes what is pending first)",
        "store",
        gt=0,
    )
    sqlite_checkpoint_interval_s: float = setting(
        1.0,
        "SQLite: how often a background thread copies the write-ahead log into the database "
        "file (the committing thread never does)",
        "store",
        gt=0,
    )


class ClusterSettings(Section):
    """The cluster knobs: many hub processes on one Redis."""

    redis_url: str | None = setting(
        None,
        "Redis for the bus, presence and the capacity ledger (several hub processes)",
        "cluster",
    )
    leader_lease_ttl_s: float = setting(
        10.0,
        "several processes: how soon another node routes after the leader died",
        "cluster",
        gt=0,
    )
    presence_ttl_s: float = setting(
        15.0, "several processes: how soon a dead node's agents count as gone", "cluster", gt=0
    )
    capacity_lease_ttl_s: float = setting(
        30.0, "several processes: how soon a dead node's capacity leases lapse", "cluster", gt=0
    )
    bus_stop_timeout_s: float = setting(
        2.0,
        "several processes: how long stopping the Redis bus waits for its tasks and for "
        "each of its connections to close (a stop must end: the hub's shutdown and a CLI "
        "run wait on it)",
        "cluster",
        gt=0,
    )


class SecuritySettings(Section):
    """The security knobs."""

    secret_key: str = setting(
        "livedesk-insecure-development-key-change-me",
        "signs visitor tokens and agent cookies; rotate = everyone logs in again "
        "(the default is for the demo only; `serve` warns when it is left unset)",
        "security",
    )
    identity_secret: str | None = setting(
        None, "HMAC key your site uses to vouch for logged-in customers", "security"
    )
    site_key: str = setting("default", "the widget's `data-site`", "security")
    allowed_origins: list[str] = listing(
        "origins whose pages may embed the widget (`https://shop.example`; `*`: any); editable "
        "on the widget screen, and CORS and the visitor socket's check follow at once",
        "security",
    )
    public_url: str | None = setting(
        None, "the hub's public URL (its origin is allowed for agent sockets)", "security"
    )
    visitor_token_ttl_s: int = setting(
        30 * 24 * 3600, "how long a visitor's token lets them resume", "security"
    )
    session_ttl_s: int = setting(12 * 3600, "how long an agent's login lasts", "security")
    session_cookie: str = setting("livedesk_session", "the agent session cookie's name", "security")
    session_check_interval_s: float = setting(
        5.0,
        "agent sockets whose cookie expired or whose session was revoked (logout, password "
        "change, on any node) are closed (4100) within this",
        "security",
        gt=0,
    )
    cookie_secure: bool | None = setting(
        None,
        "session cookie `Secure` (and `__Host-` named); unset: Secure when the request came "
        "over HTTPS or `PUBLIC_URL` is https; `true`/`false` forces it",
        "security",
    )
    hsts_max_age_s: int = setting(
        180 * 24 * 3600,
        "Strict-Transport-Security max-age sent on HTTPS responses; 0 sends none",
        "security",
        ge=0,
    )


class LimitsSettings(Section):
    """The limits knobs: per socket."""

    max_frame_bytes: int = setting(64 * 1024, "largest frame a socket may send", "limits")
    max_text_chars: int = setting(4000, "longest message text", "limits")
    rate_limit_per_s: float = setting(10.0, "frames per second per socket (sustained)", "limits")
    rate_limit_burst: int = setting(30, "frames per socket in a burst", "limits")
    flood_errors_before_close: int = setting(
        20, "frames refused in a row (flood or bad input) before the socket is closed", "limits"
    )
    send_queue_frames: int = setting(
        1000, "per socket; overflow closes a slow consumer (4000)", "limits"
    )
    send_queue_bytes: int = setting(
        1024 * 1024, "per socket, encoded frames; overflow closes a slow consumer (4000)", "limits"
    )
    socket_stall_timeout_s: float = setting(
        30.0,
        "a send the peer has not taken for this long drops the socket (a stalled consumer)",
        "limits",
        gt=0,
    )
    socket_close_timeout_s: float = setting(
        10.0,
        "a close frame not gone out, or bytes still unsent after the close, this long: "
        "the connection is reset",
        "limits",
        gt=0,
    )
    socket_drain_timeout_s: float = setting(
        2.0, "how long a closing socket's queued frames may take to go out", "limits", gt=0
    )


class EdgeSettings(Section):
    """The edge knobs: slow clients, per-address caps, anonymous writes, login."""

    header_timeout_s: float = setting(
        10.0,
        "from a connection's start (or its previous response) to a request's complete headers; "
        "slower gets 408",
        "edge",
        gt=0,
    )
    max_header_bytes: int = setting(
        64 * 1024,
        "a request line and headers larger than this get 431 and the connection is closed",
        "edge",
        ge=1024,
    )
    body_timeout_s: float = setting(
        30.0, "from a request's start to its complete body; a slower body gets 408", "edge", gt=0
    )
    max_connections_per_address: int = setting(
        64,
        "open connections (HTTP and websockets) from one client address; 0: no cap",
        "edge",
        ge=0,
    )
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="peers (addresses or CIDRs) whose X-Forwarded-For/-Proto are believed: your "
        "reverse proxy; behind one, per-address caps and limits apply to the forwarded address",
        json_schema_extra={"section": "edge"},
    )
    raise_fd_limit: bool = setting(
        True, "raise the open-file soft limit to the hard limit when `serve` starts", "edge"
    )
    visitor_sessions_per_min_per_address: float = setting(
        30.0, "new visitor sessions per minute from one address; 0: no limit", "edge", ge=0
    )
    visitor_sessions_per_min_per_visitor: float = setting(
        20.0, "visitor session calls per minute for one visitor token; 0: no limit", "edge", ge=0
    )
    offline_messages_per_min_per_address: float = setting(
        5.0, "offline messages per minute from one address; 0: no limit", "edge", ge=0
    )
    offline_messages_per_min_per_visitor: float = setting(
        2.0, "offline messages per minute from one visitor; 0: no limit", "edge", ge=0
    )
    visitor_sockets_per_min_per_address: float = setting(
        60.0, "visitor sockets opened per minute from one address; 0: no limit", "edge", ge=0
    )
    visitor_sockets_per_min_per_visitor: float = setting(
        30.0, "visitor sockets opened per minute by one visitor; 0: no limit", "edge", ge=0
    )
    idle_visitor_ttl_s: float | None = setting(
        7 * 24 * 3600.0,
        "visitors who never wrote (no conversation, offline message or note) are deleted this "
        "long after they were last seen; `none` keeps them",
        "edge",
        gt=0,
    )
    visitor_purge_interval_s: float = setting(
        3600.0, "how often idle visitors are looked for", "edge", gt=0
    )
    login_free_failures: int = setting(
        5, "failed logins in a row (per address, per account) before back-off", "edge", ge=1
    )
    login_backoff_s: float = setting(
        2.0, "the first login back-off, doubled per further failure", "edge", gt=0
    )
    login_backoff_max_s: float = setting(900.0, "the longest login back-off", "edge", gt=0)
    password_workers: int = setting(2, "threads verifying passwords (argon2)", "edge", ge=1)
    password_queue: int = setting(
        8, "logins that may wait for a password thread; beyond that 503 at once", "edge", ge=0
    )


class RoutingSettings(Section):
    """The routing knobs: router.RouterConfig is built from these; its defaults are theirs."""

    default_agent_cap: int = routed(
        "default_cap", "chats per agent unless set per agent (1–10; 4–6 recommended)", ge=1, le=10
    )
    routing_policy: Policy = routed("policy", "`least_loaded` or `round_robin`")
    auto_accept: bool = routed(
        "auto_accept",
        "`false`: agents accept offers within `ACCEPT_TIMEOUT_S` (the console shows them as "
        "incoming cards; Alt+Y / Alt+N answer the most urgent)",
    )
    accept_timeout_s: float = routed(
        "accept_timeout_s", "how long an offer waits for the agent's answer"
    )
    reoffer_after_s: float | None = routed(
        "reoffer_after_s",
        "an agent who declined or missed an offer may be offered that chat again after this; "
        "`none`: never again, and a chat every agent passed on then waits for ever",
    )
    disconnect_grace_s: float = routed(
        "disconnect_grace_s", "an agent who drops keeps their chats this long"
    )
    language_fallback_s: float | None = routed(
        "language_fallback_s", "then a visitor may get an agent without their language"
    )
    first_reply_timeout_s: float | None = routed(
        "first_reply_timeout_s",
        "`none` (off): a chat stays with its agent however long the first reply takes; a "
        "number: a chat with no human reply that long moves to a colleague with room, of its "
        "team and, when its agent has it, its language (typing or a draft restarts the clock)",
    )
    first_reply_warning_s: float = routed(
        "first_reply_warning_s",
        "the agent is warned, naming the chat, this long before it moves for want of a first "
        "reply (`0`: no warning)",
    )
    aging_s_per_class: float | None = routed(
        "aging_s_per_class",
        "one priority class is worth this many seconds of waiting; `none`: strict priority",
    )
    parked_after_s: float | None = routed(
        "parked_after_s",
        "a chat quiet this long counts as `PARKED_WEIGHT` of a slot; `none`: always a full slot",
    )
    parked_weight: float = routed("parked_weight", "the share of a slot a parked chat takes")
    ledger_backoff_s: float = routed(
        "ledger_backoff_s",
        "after the shared ledger refused an agent (another node filled them), no offers to "
        "them for this long",
    )
    eager_positions: int = routed(
        "eager_positions", "queue positions pushed at once to this many visitors at the head"
    )
    queue_refresh_s: float | None = routed(
        "queue_refresh_s", "the other visitors' queue positions are refreshed this often"
    )
    refresh_chunk: int = routed("refresh_chunk", "queue positions refreshed per step")
    eta_granularity_s: float = routed(
        "eta_granularity_s", "a visitor's expected wait is rounded to this"
    )
    default_handle_s: float = routed(
        "default_handle_s",
        "mean handle time of a chat until real ones are measured (queue ETAs, dashboard staffing)",
    )
    handle_ewma_alpha: float = routed(
        "handle_ewma_alpha", "weight of each new handle time in the running mean"
    )
    business_hours: str | None = setting(
        None,
        "when humans may be expected, e.g. `mon-fri 08:00-17:00; sat 09:00-13:00`; unset: "
        "always; the bot holds everything outside them",
        "routing",
    )
    timezone: str = setting("UTC", "the time zone of `BUSINESS_HOURS`", "routing")
    holidays: list[str] = listing("days with no business hours, as ISO dates", "routing")
    team_hours: dict[TeamKey, TeamHours] = Field(
        default_factory=dict,
        description='per team: `{"billing": {"hours": "mon-fri 09:00-15:00", "timezone": '
        '"Europe/Vilnius", "holidays": ["2026-12-24"]}}`; a part left out is the desk\'s own '
        "(`BUSINESS_HOURS`, `TIMEZONE`, `HOLIDAYS`); a chat for the team (the widget's "
        "`data-team`) follows them",
        json_schema_extra={"section": "routing"},
    )

    def router_config(self) -> RouterConfig:
        """The router's config: every ``RouterConfig`` field, read from its setting."""
        return RouterConfig(
            **{
                f.name: getattr(self, ROUTER_NAMES.get(f.name, f.name))
                for f in dataclasses.fields(RouterConfig)
            }
        )


class KbSettings(Section):
    """The kb knobs: the knowledge base."""

    kb_sync_interval_s: float = setting(
        2.0,
        "how often each node checks the knowledge-base tables for writes it was not told of "
        "on the bus (`livedesk kb import`, a lost frame); 0 turns the check off",
        "kb",
        ge=0,
    )
    kb_search_queue: int = setting(
        8,
        "public knowledge-base search runs on its own thread; beyond one running and this many "
        "waiting it answers 503",
        "kb",
        ge=0,
    )


class DashboardSettings(Section):
    """The dashboard knobs."""

    sla_target_s: float = setting(
        30.0, "service level: answered within this many seconds …", "dashboard", gt=0
    )
    sla_target_share: float = setting(
        0.8,
        "… for this share of conversations (staffing advice aims at it)",
        "dashboard",
        gt=0,
        le=1,
    )
    forecast_history_days: int = setting(
        56,
        "days of stored arrivals the forecast learns from (it needs one ordinary day of "
        "every weekday)",
        "dashboard",
        ge=7,
        le=400,
    )
    staffing_model: Literal["load", "slots", "concurrency"] = setting(
        "load",
        "the staffing plan's queueing model: `load` (agents' pace grows with the chats they "
        "hold; within about 3 points of the simulator at caps 3-5), `slots` (each agent is "
        "cap slow servers), `concurrency` (the planners' factor, 14-21 points pessimistic)",
        "dashboard",
    )
    cap_history_days: int = setting(
        28, "days of replies and closed chats the measured cap curves read", "dashboard", ge=1
    )
    reply_target_s: float = setting(
        60.0,
        "an agent's replies are on time when their p90 wait is within this (the measured "
        "cap's and the adaptive mode's target)",
        "dashboard",
        gt=0,
    )
    adaptive_cap: bool = setting(
        False,
        "lower an agent's cap one step while their replies slow past the service target "
        "(and give it back when they recover); never above the cap a supervisor set",
        "dashboard",
    )
    breach_horizon_s: float = setting(
        3600.0,
        "the early warning looks this far ahead: a wait that passes `SLA_TARGET_S` within it "
        "is pushed to supervisors",
        "dashboard",
        gt=0,
    )
    breach_repeat_s: float = setting(
        300.0,
        "an unchanged early warning is pushed again at most this often",
        "dashboard",
        gt=0,
    )


class BillingSettings(Section):
    """The billing knobs: paid support credits and the WooCommerce webhook (chatserver/billing)."""

    woocommerce_secret: str | None = setting(
        None, "the webhook's secret; unset: the endpoint is off", "billing"
    )
    woocommerce_source: str | None = setting(
        None, "the shop URL sent as X-WC-Webhook-Source", "billing"
    )
    credit_packs: str | None = setting(
        None, 'path of a JSON file `{"SKU or product id": credits per unit}`', "billing"
    )
    credit_pack_credits: dict[PackKey, PackCredits] = Field(
        default_factory=dict,
        description='`{"SKU or product id": credits per unit}` kept in the database (the admin '
        "screen's credit packs); a key here wins over the same key in `CREDIT_PACKS`' file",
        json_schema_extra={"section": "billing"},
    )
    billing_mode: Literal["per_conversation", "per_minutes"] = setting(
        "per_conversation", "or `per_minutes` (a block of `BILLING_BLOCK_MINUTES`)", "billing"
    )
    billing_block_minutes: int = setting(
        30, "minutes a credit buys with `per_minutes`", "billing", gt=0
    )
    shop_url: str | None = setting(
        None, "where the widget sends customers to buy credits", "billing"
    )
    no_credit_policy: Literal["lowest_priority", "bot_only"] = setting(
        "lowest_priority",
        "a visitor with no credits queues last, or (`bot_only`) gets the bot",
        "billing",
    )
    billing_poll_s: float = setting(
        2.0,
        "the billing worker (debits due, paid-support orders) looks for work another process "
        "left or a failure postponed this often",
        "billing",
        gt=0,
    )
    billing_retry_s: float = setting(
        30.0,
        "the longest wait between two attempts at one billing item, and how long a process "
        "that died holding one keeps it from the others",
        "billing",
        gt=0,
    )


class MailSettings(Section):
    """The mail knobs: e-mail as a channel (chatserver/services/mail*.py)."""

    smtp_url: str | None = setting(
        None,
        "outbound SMTP: `smtp://user:pass@host:587` (STARTTLS when offered), "
        "`smtps://host:465` (TLS), `smtp+plain://host:25` (no TLS, a local relay); unset: no mail",
        "mail",
    )
    mail_from: str = setting(
        "support@localhost", "the From address of every mail the hub sends", "mail"
    )
    mail_reply_domain: str = setting(
        "localhost", "replies come back to `reply+<token>@` this domain", "mail"
    )
    support_address: str | None = setting(
        None, "new mail to this address opens a conversation (the `email` channel)", "mail"
    )
    mail_continuity_after_s: float = setting(
        120.0,
        "an agent's reply a visitor has neither seen nor a socket open for this long goes by "
        "e-mail (a burst in the meantime is one mail)",
        "mail",
        ge=0,
    )
    mail_poll_s: float = setting(
        2.0, "the mail worker looks for mail another process left this often", "mail", gt=0
    )
    mail_retry_s: float = setting(
        60.0,
        "the longest wait between two attempts at one mail, and how long a process that died "
        "sending one keeps it from the others",
        "mail",
        gt=0,
    )
    mail_thread_messages: int = setting(
        10, "messages of the recent thread quoted in a mail", "mail", ge=1, le=100
    )
    smtp_timeout_s: float = setting(30.0, "one SMTP exchange's timeout", "mail", gt=0)
    mail_resume_url: str | None = setting(
        None,
        'the page of your site that a mail\'s "continue the conversation" link opens (it '
        "must embed the widget, which reopens the conversation from `?livedesk_resume=`); "
        "unset: the hub's demo page at `PUBLIC_URL/demo`, or no link without `PUBLIC_URL`",
        "mail",
    )
    mail_weight: float = setting(
        0.5,
        "what an e-mail conversation weighs against an agent's cap (a chat weighs 1): with "
        "cap 4 and 0.5, three chats and two mails",
        "mail",
        gt=0,
        le=1,
    )
    mail_sla_target_s: float = setting(
        4 * 3600.0,
        "service level of e-mail conversations: first human reply within this many seconds "
        "(chats keep `SLA_TARGET_S`)",
        "mail",
        gt=0,
    )
    smtp_connections: int = setting(
        8,
        "SMTP connections the mail worker sends on at once, each reused mail after mail "
        "(one connection's round trips would otherwise bound the rate)",
        "mail",
        ge=1,
        le=64,
    )
    smtp_ca_file: str | None = setting(
        None,
        "a PEM file of the CAs the SMTP server's certificate is checked against (unset: the "
        "system's); the certificate and its host name are always checked",
        "mail",
    )
    smtp_ingest_port: int | None = setting(
        None, "`livedesk serve` listens for inbound mail (SMTP) on this port", "mail"
    )
    smtp_ingest_host: str = setting("127.0.0.1", "… on this address", "mail")
    mail_inbound_secret: str | None = setting(
        None,
        "the shared secret of `POST /api/mail/inbound` (header `X-Livedesk-Mail-Secret`); "
        "unset: the endpoint is off",
        "mail",
    )
    mail_max_bytes: int = setting(
        10 * 1024 * 1024, "the largest inbound mail accepted", "mail", ge=1024
    )
    mail_per_min_per_sender: float = setting(
        10.0, "inbound mails a minute per sender address (0: no limit)", "mail", ge=0
    )


class PushSettings(Section):
    """The Web Push knobs: notifications to agents' browsers (chatserver/services/webpush.py)."""

    push_subject: str = setting(
        "mailto:admin@localhost",
        "who runs this hub, for the push services (the VAPID `sub` claim: a `mailto:` or "
        "`https:` URL they may contact about the hub's Web Push traffic)",
        "push",
        pattern=r"^(mailto:|https://)\S+$",
    )
    push_message_batch_s: float = setting(
        3.0,
        "a visitor's messages in a chat whose agent has no console in front of them are "
        "pushed to the agent's browsers as one notification per conversation this many "
        "seconds after the first of them",
        "push",
        gt=0,
        le=600,
    )
    push_insecure_endpoints: bool = setting(
        False,
        "accept `http://` Web Push endpoints (a test push service on loopback); real push "
        "services are `https://`, and a plain-HTTP endpoint lets an agent aim the hub's "
        "requests anywhere",
        "push",
    )


class AdminSettings(Section):
    """The admin knobs: settings changed in the browser."""

    widget_look: WidgetLook = Field(
        default_factory=WidgetLook,
        description='the widget\'s look where its tag says nothing: `{"color": "#0a7", '
        '"position": "left", "title": "…", "prechat": true, "langs": ["sl", "en"], '
        '"fields": [{"name": "phone", "required": true}, {"name": "custom", "label": "…"}]}` '
        "(the admin screen's widget settings; served at `GET /api/widget/config`)",
        json_schema_extra={"section": "admin"},
    )
    locked_settings: list[str] = listing(
        'names of editable settings (e.g. `["auto_accept"]`) the admin screens may not '
        "change: the environment's value is final and a stored value for them is ignored; "
        "every other editable setting takes the value saved in the admin screens over the "
        "environment's, which stays its default",
        "admin",
    )


class Settings(BaseSettings):
    """Every knob, by section: ``settings.<section>.<knob>``. A knob's flat name (its
    environment variable without ``LIVEDESK_``) is accepted wherever the settings are given
    as keywords or a dict (``Settings(db_pool_size=5)``), as the environment gives them."""

    # "none" sets an optional setting (a timeout that may be off) to None from the environment.
    model_config = SettingsConfigDict(
        env_prefix="LIVEDESK_", extra="ignore", env_parse_none_str="none"
    )

    server: ServerSettings = Field(default_factory=ServerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    edge: EdgeSettings = Field(default_factory=EdgeSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    kb: KbSettings = Field(default_factory=KbSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    billing: BillingSettings = Field(default_factory=BillingSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    push: PushSettings = Field(default_factory=PushSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)

    @model_validator(mode="before")
    @classmethod
    def _flat_names(cls, data: Any) -> Any:
        return _nested(data)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment is read by flat names (LIVEDESK_DB_POOL_SIZE), as documented.
        return init_settings, FlatEnvSource(settings_cls), dotenv_settings, file_secret_settings

    def knob(self, name: str) -> Any:
        """A knob's value by its flat name (the admin screens and stored values use them)."""
        return getattr(getattr(self, SECTION_OF[name]), name)

    def updated(self, values: Mapping[str, Any]) -> Settings:
        """A copy with ``values`` (flat names) applied, each checked as the environment's."""
        unknown = sorted(set(values) - set(KNOBS))
        if unknown:
            raise KeyError(f"no such setting: {', '.join(unknown)}")
        return Settings.model_validate({**self.model_dump(), **values})


SECTION_MODELS: dict[str, type[Section]] = {
    "server": ServerSettings,
    "store": StoreSettings,
    "cluster": ClusterSettings,
    "security": SecuritySettings,
    "limits": LimitsSettings,
    "edge": EdgeSettings,
    "routing": RoutingSettings,
    "kb": KbSettings,
    "dashboard": DashboardSettings,
    "billing": BillingSettings,
    "mail": MailSettings,
    "push": PushSettings,
    "admin": AdminSettings,
}


KNOBS: dict[str, FieldInfo] = {
    name: info for model in SECTION_MODELS.values() for name, info in model.model_fields.items()
}
SECTION_OF: dict[str, str] = {
    name: section for section, model in SECTION_MODELS.items() for name in model.model_fields
}


def _check_sections() -> None:
    """Flat names are unique across sections, each knob sits in the section it names, and
    every editable knob exists (a knob's flat name is how everything outside Python names it)."""
    assert tuple(SECTION_MODELS) == SECTIONS
    assert len(KNOBS) == sum(len(m.model_fields) for m in SECTION_MODELS.values())
    for name, info in KNOBS.items():
        extra = info.json_schema_extra
        assert isinstance(extra, dict) and extra["section"] == SECTION_OF[name], name
    assert set(EDITABLE) <= set(KNOBS), set(EDITABLE) - set(KNOBS)


_check_sections()


def _nested(data: Any) -> Any:
    """Flat knob names (``{"db_pool_size": 5}``) moved into their sections; a flat name wins
    over the same knob given in its section (init keywords win over the environment's)."""
    if not isinstance(data, dict) or not any(name in SECTION_OF for name in data):
        return data
    out = {key: value for key, value in data.items() if key not in SECTION_OF}
    for name, value in data.items():
        section = SECTION_OF.get(name)
        if section is None:
            continue
        given = out.get(section)
        if isinstance(given, BaseModel):
            given = given.model_dump()
        out[section] = {**(given or {}), name: value}
    return out


class FlatEnvSource(EnvSettingsSource):
    """``LIVEDESK_<KNOB>`` for every knob, handed to its section: the variables keep the
    flat names they always had (``LIVEDESK_DB_POOL_SIZE``, not ``LIVEDESK_STORE__...``)."""

    def __call__(self) -> dict[str, Any]:
        data: dict[str, dict[str, Any]] = {}
        for name, info in KNOBS.items():
            value, _, is_complex = self.get_field_value(info, name)
            value = self.prepare_field_value(name, info, value, is_complex)
            if value is None:
                continue
            if isinstance(value, EnvNoneType):
                value = None
            data.setdefault(SECTION_OF[name], {})[name] = value
        return data


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


def settings_table() -> str:
    """The settings table of docs/operations.md, by section (a test compares them)."""
    rows = [
        "| section | variable | setting | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for section, model in SECTION_MODELS.items():
        for name, info in model.model_fields.items():
            default = info.get_default(call_default_factory=True)
            rows.append(
                f"| {section} | `{name.upper()}` | `{section}.{name}` | `{_shown(default)}` "
                f"| {info.description} |"
            )
    return "\n".join(rows) + "\n"


def section_of(name: str) -> str:
    return SECTION_OF[name]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
