"""Prometheus metrics, defined once per process (several apps in one test process share them)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CONNECTIONS = Gauge("livedesk_connections", "Open websocket connections", ["role"])
FRAMES_IN = Counter("livedesk_frames_in_total", "Frames received from clients")
FRAMES_OUT = Counter("livedesk_frames_out_total", "Frames queued to local sockets")
MESSAGES = Counter("livedesk_messages_total", "Messages stored", ["author"])
ERRORS = Counter("livedesk_frame_errors_total", "Error frames sent", ["code"])
CLOSES = Counter("livedesk_closes_total", "Sockets closed by the server", ["code"])
CONVERSATIONS = Counter("livedesk_conversations_total", "Conversations ended", ["outcome"])
COMMIT_BATCHES = Counter("livedesk_commit_batches_total", "Group-commit transactions")
COMMIT_ITEMS = Counter("livedesk_commit_items_total", "Items written by group commit")
COMMIT_LOCKED = Counter(
    "livedesk_commit_locked_total",
    "PostgreSQL group-commit batches written the locked way (a conversation changed under"
    " them, or they may owe a debit or a mail)",
)
COMMIT_ONE_TRIP = Counter(
    "livedesk_commit_one_trip_total",
    "PostgreSQL group-commit batches written in one round trip, planned from their"
    " conversations as this process last wrote them",
)
QUEUED = Gauge("livedesk_queue_length", "Conversations waiting for an agent")

# Children looked up once: ``labels()`` on the hot path costs more than the increment.
MESSAGES_BY_AUTHOR = {a: MESSAGES.labels(author=a) for a in ("visitor", "agent", "bot", "system")}
PASSWORD_CHECKS = Counter(
    "livedesk_password_checks_total", "argon2 verifications at login", ["account"]
)
REFUSED = Counter("livedesk_refused_total", "Requests refused by a limit", ["limit"])
