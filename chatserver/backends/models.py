"""The hub's tables. ``metadata`` also carries the kb and billing tables, for Alembic."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

OPEN_STATES = ("bot", "offered", "active")
OPEN_STATES_SQL = "state IN ('bot', 'offered', 'active')"


class Visitor(SQLModel, table=True):
    __tablename__ = "visitors"

    id: str = Field(primary_key=True, max_length=32)
    site: str = Field(max_length=64)
    created_ms: int = Field(sa_type=sa.BigInteger)
    # Indexed: the search indexer reads the visitors seen since its mark (0012_inbox2_search_gin).
    last_seen_ms: int = Field(sa_type=sa.BigInteger, index=True)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    # Set only when the site vouched for the e-mail with the identity HMAC.
    customer_email: str | None = Field(default=None, max_length=320, index=True)
    language: str | None = Field(default=None, max_length=16)
    # The visitor's context (migration 0009_visits): the browser they last came with, their
    # time zone (IANA name) and how many visits (page views 30 minutes apart) they made.
    user_agent: str | None = Field(default=None, max_length=500)
    time_zone: str | None = Field(default=None, max_length=64)
    visits: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # The pre-chat form's other answers (phone, order number, the site's own question) as
    # JSON text (chatserver/core/prechat.py; migration 0013_admin3_visitor_answers).
    answers: str | None = Field(default=None, max_length=2000)


class VisitorPage(SQLModel, table=True):
    """A page a visitor viewed (reported by the widget), for the customer panel."""

    __tablename__ = "visitor_pages"

    id: int | None = Field(default=None, primary_key=True)
    visitor_id: str = Field(max_length=32, index=True)
    url: str = Field(max_length=2000)
    title: str | None = Field(default=None, max_length=300)
    referrer: str | None = Field(default=None, max_length=2000)
    created_ms: int = Field(sa_type=sa.BigInteger)


class Agent(SQLModel, table=True):
    __tablename__ = "agents"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, sa_column_kwargs={"unique": True})
    name: str = Field(max_length=200)
    password_hash: str = Field(max_length=200)
    role: str = Field(default="agent", max_length=16)
    cap: int = Field(default=5)
    teams: str = Field(default="", max_length=500)
    languages: str = Field(default="", max_length=200)
    active: bool = Field(default=True)
    # Bumped on password change or deactivation: every cookie carrying an older value is dead.
    session_version: int = Field(default=1)
    created_ms: int = Field(sa_type=sa.BigInteger)
    # The agent's own language and time zone for the desk's pages (None: the browser's
    # language, UTC).
    ui_language: str | None = Field(default=None, max_length=16)
    time_zone: str | None = Field(default=None, max_length=64)
    # Desktop notifications and Web Push wanted (None: not chosen yet; migration 0012_inbox2_push).
    notify_desktop: bool | None = Field(default=None)


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (
        sa.Index(
            "uq_conversations_one_open_per_visitor",
            "visitor_id",
            unique=True,
            sqlite_where=sa.text(OPEN_STATES_SQL),
            postgresql_where=sa.text(OPEN_STATES_SQL),
        ),
    )

    id: str = Field(primary_key=True, max_length=32)
    visitor_id: str = Field(foreign_key="visitors.id", index=True, max_length=32)
    site: str = Field(max_length=64)
    state: str = Field(max_length=16, index=True)
    agent_id: int | None = Field(default=None, foreign_key="agents.id", index=True)
    team: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=16)
    # How it began: "chat" (the widget) or "email" (a mail to the support address).
    channel: str = Field(default="chat", max_length=16, sa_column_kwargs={"server_default": "chat"})
    created_ms: int = Field(sa_type=sa.BigInteger)
    assigned_ms: int | None = Field(default=None, sa_type=sa.BigInteger)
    first_human_reply_ms: int | None = Field(default=None, sa_type=sa.BigInteger)
    closed_ms: int | None = Field(default=None, sa_type=sa.BigInteger)
    closed_by: str | None = Field(default=None, max_length=16)
    last_seq: int = Field(default=0)
    visitor_seen_seq: int = Field(default=0)
    agent_seen_seq: int = Field(default=0)
    # Set at close by the agent (comma-separated tags) and by the visitor's rating.
    tags: str | None = Field(default=None, max_length=500)
    outcome: str | None = Field(default=None, max_length=32)
    csat_score: int | None = Field(default=None)
    csat_comment: str | None = Field(default=None, sa_type=sa.Text)


class Message(SQLModel, table=True):
    """Everything sequenced in a conversation: texts and the events visitors and agents see."""

    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_seq"),
        # A retried send is one sender's: after a transfer the new agent may reuse an id.
        sa.UniqueConstraint(
            "conversation_id",
            "author",
            "author_id",
            "client_msg_id",
            name="uq_messages_sender_msg",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(foreign_key="conversations.id", max_length=32)
    seq: int
    kind: str = Field(max_length=16)  # "text" or "event"
    author: str = Field(max_length=16)  # visitor, agent, bot, system
    author_id: str | None = Field(default=None, max_length=64)
    author_name: str | None = Field(default=None, max_length=200)
    body: str = Field(default="", sa_type=sa.Text)
    data: str | None = Field(default=None, sa_type=sa.Text)
    client_msg_id: str | None = Field(default=None, max_length=64)
    created_ms: int = Field(sa_type=sa.BigInteger)


class ConversationEvent(SQLModel, table=True):
    """The audit trail of state transitions, timestamped, for reports and billing."""

    __tablename__ = "conversation_events"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(foreign_key="conversations.id", index=True, max_length=32)
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str = Field(max_length=16)
    actor: str = Field(max_length=64)
    detail: str | None = Field(default=None, sa_type=sa.Text)
    created_ms: int = Field(sa_type=sa.BigInteger)


class OfflineMessage(SQLModel, table=True):
    """Left by a visitor when nobody could answer (outside hours, or nobody online)."""

    __tablename__ = "offline_messages"

    id: int | None = Field(default=None, primary_key=True)
    visitor_id: str = Field(foreign_key="visitors.id", index=True, max_length=32)
    conversation_id: str | None = Field(default=None, max_length=32)
    name: str | None = Field(default=None, max_length=200)
    email: str = Field(max_length=320)
    text: str = Field(sa_type=sa.Text)
    language: str | None = Field(default=None, max_length=16)
    created_ms: int = Field(sa_type=sa.BigInteger, index=True)
    handled_ms: int | None = Field(default=None, sa_type=sa.BigInteger)


class CustomerNote(SQLModel, table=True):
    """What the team wants the next agent to know about a visitor (or, once verified, a
    customer on every device)."""

    __tablename__ = "customer_notes"

    id: int | None = Field(default=None, primary_key=True)
    visitor_id: str = Field(foreign_key="visitors.id", index=True, max_length=32)
    customer_email: str | None = Field(default=None, index=True, max_length=320)
    author_agent_id: int = Field(foreign_key="agents.id")
    body: str = Field(sa_type=sa.Text)
    created_ms: int = Field(sa_type=sa.BigInteger, index=True)


class MailOutbox(SQLModel, table=True):
    """Every mail the hub sends, written before it is sent (``backends/mail_outbox.py``)."""

    __tablename__ = "mail_outbox"

    id: int | None = Field(default=None, primary_key=True)
    # What made it due: one pending continuity mail per conversation merges a burst of replies.
    key: str = Field(max_length=200, sa_column_kwargs={"unique": True})
    kind: str = Field(max_length=16)  # continuity, transcript
    conversation_id: str = Field(max_length=32, index=True)
    to_addr: str = Field(max_length=320)
    language: str | None = Field(default=None, max_length=16)
    # Fixed when the row is written: every attempt sends the same Message-ID, and a reply's
    # In-Reply-To finds the conversation by it.
    message_id: str = Field(max_length=250, sa_column_kwargs={"unique": True})
    created_ms: int = Field(sa_type=sa.BigInteger)
    not_before_ms: int = Field(sa_type=sa.BigInteger, index=True)
    attempts: int = Field(default=0)
    # The last seq the mail covers, set when it is rendered.
    upto_seq: int | None = Field(default=None)
    sent_ms: int | None = Field(default=None, sa_type=sa.BigInteger)
    outcome: str | None = Field(default=None, max_length=32)  # sent, seen, refused:…
    last_error: str | None = Field(default=None, max_length=500)


class SettingValue(SQLModel, table=True):
    """A setting changed in the admin screens: it overlays the environment's value (see
    ``services/settings.py``). ``value`` is JSON, so ``null`` (a timeout switched off) is a
    value too; a row is deleted when the admin resets the setting to its default."""

    __tablename__ = "setting_values"

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_type=sa.Text)
    updated_ms: int = Field(sa_type=sa.BigInteger)
    updated_by: int | None = Field(default=None, foreign_key="agents.id")


class SettingAudit(SQLModel, table=True):
    """Who changed which setting, when, from what to what (JSON; NULL: the default)."""

    __tablename__ = "setting_audit"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, index=True)
    before: str | None = Field(default=None, sa_type=sa.Text)
    after: str | None = Field(default=None, sa_type=sa.Text)
    actor_id: int | None = Field(default=None, foreign_key="agents.id")
    actor: str = Field(max_length=320)
    at_ms: int = Field(sa_type=sa.BigInteger, index=True)


class RosterSlot(SQLModel, table=True):
    """Agents a supervisor scheduled for one 30-minute interval (entered or uploaded as CSV);
    the staffing plan compares its needs with these. ``team`` is "" for the whole desk."""

    __tablename__ = "roster_slots"
    __table_args__ = (sa.UniqueConstraint("team", "start_ms", name="uq_roster_slots_team_start"),)

    id: int | None = Field(default=None, primary_key=True)
    team: str = Field(default="", max_length=64)
    start_ms: int = Field(sa_type=sa.BigInteger, index=True)  # the interval's start, UTC
    agents: int
    updated_ms: int = Field(sa_type=sa.BigInteger)
    updated_by: int | None = Field(default=None, foreign_key="agents.id")


class CapAudit(SQLModel, table=True):
    """A cap a supervisor accepted, one row per agent it changed: before and after, the
    recommended cap shown when it was accepted, who and when."""

    __tablename__ = "cap_audit"

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agents.id", index=True)
    cap_before: int
    cap_after: int
    recommended: int | None = None
    scope: str = Field(max_length=80)  # "agents", "team:<name>" or "everyone"
    actor_id: int | None = Field(default=None, foreign_key="agents.id")
    actor: str = Field(max_length=320)
    at_ms: int = Field(sa_type=sa.BigInteger, index=True)


class SearchDoc(SQLModel, table=True):
    """One searchable text in its folded match form (``kb.normalize``): a message, or a
    customer's name and e-mail. The full-text index over ``folded`` is the database's own
    (SQLite: the FTS5 table ``search_fts``; PostgreSQL: the generated ``tsv`` column with a
    GIN index), made by migration 0009_search and kept out of this model (see
    ``SEARCH_INDEX_OBJECTS``)."""

    __tablename__ = "search_docs"
    __table_args__ = (sa.UniqueConstraint("kind", "ref", name="uq_search_docs_kind_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # "message" or "customer"
    ref: str = Field(max_length=64)  # the message id, or the visitor id
    # Not indexed for the model: no search reads an index of either on SQLite, and only
    # PostgreSQL's keeps one on conversation_id (migration 0014, SEARCH_INDEX_OBJECTS).
    visitor_id: str = Field(max_length=32)
    conversation_id: str | None = Field(default=None, max_length=32)
    # The message's own id, as a number the join to ``messages`` can use its key with.
    message_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    folded: str = Field(sa_type=sa.Text)
    created_ms: int = Field(sa_type=sa.BigInteger)


class SearchMark(SQLModel, table=True):
    """How far the search indexer has read (per source: highest message id, last visitor
    change), and the message ids it read past before their writes committed (``hole:<id>``,
    valued when seen; ``search_queries.HOLE_PREFIX``)."""

    __tablename__ = "search_marks"

    name: str = Field(primary_key=True, max_length=32)
    value: int = Field(default=0, sa_type=sa.BigInteger)


# Database objects of the full-text search that no model describes (autogenerate skips
# them): they exist on one database only.
SEARCH_INDEX_OBJECTS = frozenset(
    {"search_fts", "tsv", "ix_search_docs_tsv", "ix_search_docs_conversation_id"}
)


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, other: object
) -> bool:
    """Alembic's filter: the full-text index's own objects (FTS5 and its shadow tables,
    the tsvector column, its GIN index, PostgreSQL's index of docs by conversation) are
    not drift."""
    return not (name and (name in SEARCH_INDEX_OBJECTS or name.startswith("search_fts_")))


def _load_other_tables() -> None:
    # kb and billing own their tables; importing them registers them on the shared metadata.
    import importlib

    for module in ("kb.models", "chatserver.billing.models"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not (exc.name and module.startswith(exc.name)):
                raise


_load_other_tables()
metadata = SQLModel.metadata


class PushSubscription(SQLModel, table=True):
    """A browser's Web Push subscription for an agent (one per browser profile): where the
    push service takes messages and the keys they are encrypted to."""

    __tablename__ = "push_subscriptions"

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agents.id", index=True)
    endpoint: str = Field(max_length=1000, sa_column_kwargs={"unique": True})
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)
    created_ms: int = Field(sa_type=sa.BigInteger)


class PushKey(SQLModel, table=True):
    """The server's VAPID key pair, made once (row 1) and shared by every node."""

    __tablename__ = "push_keys"

    id: int = Field(primary_key=True)
    private_pem: str = Field(sa_type=sa.Text)
    public_key: str = Field(max_length=200)  # the applicationServerKey, base64url
    created_ms: int = Field(sa_type=sa.BigInteger)


class ConsoleFocus(SQLModel, table=True):
    """Until when one of the agent's consoles is in front of them (the console renews it
    while focused): an offer then rings there and no push is sent."""

    __tablename__ = "console_focus"

    agent_id: int = Field(foreign_key="agents.id", primary_key=True)
    until_ms: int = Field(default=0, sa_type=sa.BigInteger)
