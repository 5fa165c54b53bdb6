"""One base exception, the wire's error codes and close codes: one table each.

``docs/protocol.md`` mirrors these tables; a test keeps the two in step.
"""

from __future__ import annotations

from enum import IntEnum


class LivedeskError(Exception):
    """Base of every error livedesk raises on purpose."""


class StoreUnavailable(LivedeskError):
    """The database could not be reached or stayed locked; the client may retry."""


class BadData(LivedeskError):
    """The database refused the item itself (a value or constraint it cannot hold): the
    same item would fail again, so the client must not retry it."""


class Conflict(LivedeskError):
    """A state transition that the conversation's current state does not allow."""


class NotActive(Conflict):
    """An agent wrote into a conversation that is open but not active (still offered, or
    back with the bot): not closed, so the sender hears ``conflict``."""


class Forbidden(LivedeskError):
    """The conversation is not the author's (or does not exist)."""


# code -> (meaning, retryable). Stable: clients branch on these strings.
ERROR_CODES: dict[str, tuple[str, bool]] = {
    "bad_frame": ("The frame could not be decoded with the negotiated subprotocol.", False),
    "unknown_type": ("The frame's `type` is missing or not one this endpoint accepts.", False),
    "invalid_field": (
        "A field is missing, of the wrong type, out of range, or holds characters that "
        "cannot be stored (NUL, other control characters but tab and line breaks, "
        "unpaired surrogates).",
        False,
    ),
    "text_too_long": ("`text` is longer than the server's limit.", False),
    "rate_limited": ("Too many frames too fast; slow down. Repeated, the socket is closed.", True),
    "forbidden": ("The conversation does not exist or is not yours.", False),
    "no_conversation": ("There is no open conversation to act on.", False),
    "conversation_closed": ("The conversation is closed; start a new one.", False),
    "conflict": ("The action does not fit the conversation's state.", False),
    "already_rated": ("The conversation is rated already; a rating is final.", False),
    "unavailable": ("The store is unavailable; nothing was saved. Retry the same frame.", True),
}


class CloseCode(IntEnum):
    """Websocket close codes. 4000–4099: reconnect with backoff; 4100–4199: do not."""

    NORMAL = 1000
    POLICY_VIOLATION = 1008  # flood: reconnect only after backoff
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012  # sent by uvicorn when the process shuts down: reconnect
    SLOW_CONSUMER = 4000  # did not read fast enough: reconnect and resume from seq
    UNAUTHORIZED = 4100  # the session ended (logout, password change): log in again
    FORBIDDEN_ORIGIN = 4103  # only ever sent as HTTP 403 at the handshake


CLOSE_REASONS: dict[CloseCode, str] = {
    CloseCode.NORMAL: "normal closure",
    CloseCode.POLICY_VIOLATION: "flood: too many frames or errors",
    CloseCode.MESSAGE_TOO_BIG: "frame over the size limit",
    CloseCode.INTERNAL_ERROR: "internal error; reconnect",
    CloseCode.SERVICE_RESTART: "server restarting; reconnect",
    CloseCode.SLOW_CONSUMER: "slow consumer: send queue overflowed; reconnect and resume",
    CloseCode.UNAUTHORIZED: "session ended; authenticate again",
    CloseCode.FORBIDDEN_ORIGIN: "origin not allowed",
}
