"""The wire, sans-I/O: subprotocols, decoding and strict checking of client frames,
and server frames encoded once per codec however many sockets receive them.

Every frame is a map with a ``type``. ``docs/protocol.md`` is the human contract.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

import msgpack
import orjson

from chatserver.core.errors import ERROR_CODES

SUBPROTOCOL_MSGPACK = "livedesk.v1.msgpack"
SUBPROTOCOL_JSON = "livedesk.v1.json"
SUBPROTOCOLS = (SUBPROTOCOL_MSGPACK, SUBPROTOCOL_JSON)
# Browsers can set no headers on a websocket, so the visitor token rides in the
# Sec-WebSocket-Protocol offer (never the URL, which ends up in logs). Never echoed back.
TOKEN_SUBPROTOCOL_PREFIX = "livedesk.token."

Codec = Literal["msgpack", "json"]
Role = Literal["visitor", "agent"]

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_SEQ = 2**53 - 1
# What no text field may hold: C0 controls but tab, newline and carriage return (PostgreSQL
# text refuses NUL; the others are never typed by a person), and lone surrogates, which a
# JSON client can send but no UTF-8 store, socket or log can encode.
UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


class ProtocolError(Exception):
    """A client frame the server answers with an ``error`` frame; the socket lives on."""

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


def choose_subprotocol(offered: list[str]) -> tuple[Codec, str | None]:
    """The codec and the subprotocol to answer with: the client's first livedesk.v1.*
    offer wins; a client that offers none speaks msgpack and gets no subprotocol header."""
    for proto in offered:
        if proto == SUBPROTOCOL_MSGPACK:
            return "msgpack", proto
        if proto == SUBPROTOCOL_JSON:
            return "json", proto
    return "msgpack", None


def token_from_subprotocols(offered: list[str]) -> str | None:
    for proto in offered:
        if proto.startswith(TOKEN_SUBPROTOCOL_PREFIX):
            return proto[len(TOKEN_SUBPROTOCOL_PREFIX) :]
    return None


# ---------------------------------------------------------------------------- JSON

JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def json_loads(data: bytes | str) -> Any:
    """orjson, and the stdlib where orjson refuses what the stdlib reads (lone surrogate
    escapes, which must reach ``unstorable_field`` as ``invalid_field``, not ``bad_frame``)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def json_dumps(body: Any) -> str:
    """Compact JSON text; orjson, and the stdlib for what orjson refuses."""
    try:
        return orjson.dumps(body, option=JSON_OPTIONS).decode()
    except TypeError:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------------------- decoding


def decode(data: bytes | str, codec: Codec) -> dict[str, Any]:
    try:
        if codec == "msgpack":
            if isinstance(data, str):
                raise ValueError("text frame on the msgpack subprotocol")
            obj = msgpack.unpackb(data, raw=False, strict_map_key=True)
        else:
            obj = json_loads(data)
    except Exception as exc:  # every decoder failure is the client's bad frame
        raise ProtocolError("bad_frame", f"could not decode frame: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("bad_frame", "a frame must be a map")
    return obj


def unstorable_field(value: Any) -> str | None:
    """The name of the first field (key or string value, however deep) that could not be
    stored as sent, or None. Every reader of client input, frames and HTTP bodies alike,
    asks this one question before anything is written, published or logged."""
    stack: list[tuple[str, Any]] = [("value", value)]
    while stack:
        name, item = stack.pop()
        if isinstance(item, str):
            if UNSTORABLE.search(item):
                return name
        elif isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(key, str) and UNSTORABLE.search(key):
                    return "key"
                stack.append((key if isinstance(key, str) else name, inner))
        elif isinstance(item, list | tuple):
            stack.extend((name, inner) for inner in item)
    return None


def check_storable(obj: Any) -> None:
    """ProtocolError ``invalid_field`` naming the field that holds unstorable characters."""
    bad = unstorable_field(obj)
    if bad is not None:
        raise ProtocolError(
            "invalid_field",
            f"`{bad}` holds characters that cannot be stored "
            "(NUL, control characters or unpaired surrogates)",
        )


def _str_id(obj: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = obj.get(name)
    if value is None and not required:
        return None
    # Strict: an id is a string of safe characters, never 0, true, a list or "0e1"-like numbers.
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise ProtocolError("invalid_field", f"`{name}` must be a string id [A-Za-z0-9_-]{{1,64}}")
    return value


def _seq(obj: dict[str, Any], name: str) -> int:
    value = obj.get(name)
    if type(value) is not int or not 0 <= value <= MAX_SEQ:
        raise ProtocolError("invalid_field", f"`{name}` must be a non-negative integer")
    return value


def _bool(obj: dict[str, Any], name: str) -> bool:
    value = obj.get(name)
    if type(value) is not bool:
        raise ProtocolError("invalid_field", f"`{name}` must be true or false")
    return value


def _text(obj: dict[str, Any], name: str, max_chars: int, *, required: bool = True) -> str | None:
    value = obj.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ProtocolError("invalid_field", f"`{name}` must be a string")
    if required and not value.strip():
        raise ProtocolError("invalid_field", f"`{name}` must not be empty")
    if len(value) > max_chars:
        raise ProtocolError("text_too_long", f"`{name}` is over {max_chars} characters")
    return value


@dataclass(frozen=True, slots=True)
class Send:
    conversation_id: str | None
    text: str
    client_msg_id: str


@dataclass(frozen=True, slots=True)
class Typing:
    conversation_id: str | None
    active: bool
    preview: str | None


@dataclass(frozen=True, slots=True)
class Seen:
    conversation_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class Resume:
    conversation_id: str
    after_seq: int


@dataclass(frozen=True, slots=True)
class Close:
    conversation_id: str | None


@dataclass(frozen=True, slots=True)
class SetStatus:
    status: Literal["online", "away"]


@dataclass(frozen=True, slots=True)
class Answer:
    """An agent's answer to an offer (manual accept): take it, or pass it on."""

    conversation_id: str
    accept: bool


@dataclass(frozen=True, slots=True)
class Rate:
    conversation_id: str | None
    score: int
    comment: str | None


@dataclass(frozen=True, slots=True)
class Working:
    """The agent holds an unsent draft for the chat: work (restarts the first-reply clock)."""

    conversation_id: str


@dataclass(frozen=True, slots=True)
class Ping:
    pass


ClientFrame = Send | Typing | Seen | Resume | Close | SetStatus | Answer | Rate | Working | Ping

VISITOR_TYPES = frozenset({"send", "typing", "seen", "resume", "close", "rate", "ping"})
AGENT_TYPES = frozenset(
    {"send", "typing", "seen", "resume", "close", "status", "accept", "decline", "working", "ping"}
)
PREVIEW_MAX_CHARS = 500
COMMENT_MAX_CHARS = 2000


def parse_client_frame(obj: dict[str, Any], role: Role, max_text_chars: int) -> ClientFrame:
    """Check one decoded frame strictly; raise ProtocolError naming what is wrong."""
    kind = obj.get("type")
    allowed = VISITOR_TYPES if role == "visitor" else AGENT_TYPES
    if not isinstance(kind, str) or kind not in allowed:
        raise ProtocolError("unknown_type", f"unknown frame type {kind!r} for a {role}")
    # The visitor has at most one open conversation, so it may leave the id out.
    conv_required = role == "agent"
    # Echoed in the error frame: only an id that is safe to send back.
    claimed = obj.get("client_msg_id")
    ref = claimed if isinstance(claimed, str) and ID_PATTERN.match(claimed) else None
    try:
        check_storable(obj)
        if kind == "send":
            return Send(
                conversation_id=_str_id(obj, "conversation_id", required=conv_required),
                client_msg_id=_str_id(obj, "client_msg_id") or "",
                text=_text(obj, "text", max_text_chars) or "",
            )
        if kind == "typing":
            return Typing(
                conversation_id=_str_id(obj, "conversation_id", required=conv_required),
                active=_bool(obj, "active"),
                preview=_text(obj, "preview", PREVIEW_MAX_CHARS, required=False),
            )
        if kind == "seen":
            return Seen(_str_id(obj, "conversation_id") or "", _seq(obj, "seq"))
        if kind == "resume":
            return Resume(_str_id(obj, "conversation_id") or "", _seq(obj, "after_seq"))
        if kind == "close":
            return Close(_str_id(obj, "conversation_id", required=conv_required))
        if kind == "working":
            return Working(_str_id(obj, "conversation_id") or "")
        if kind in ("accept", "decline"):
            return Answer(_str_id(obj, "conversation_id") or "", kind == "accept")
        if kind == "rate":
            score = obj.get("score")
            if type(score) is not int or not 1 <= score <= 5:
                raise ProtocolError("invalid_field", "`score` must be an integer from 1 to 5")
            return Rate(
                _str_id(obj, "conversation_id", required=False),
                score,
                _text(obj, "comment", COMMENT_MAX_CHARS, required=False),
            )
        if kind == "status":
            status = obj.get("status")
            if status not in ("online", "away"):
                raise ProtocolError("invalid_field", "`status` must be 'online' or 'away'")
            return SetStatus(status)
        return Ping()
    except ProtocolError as exc:
        exc.ref = exc.ref or ref
        raise


# ---------------------------------------------------------------------------- encoding


def _is_id_key(key: object) -> bool:
    return isinstance(key, str) and (key == "id" or key.endswith("_id"))


def stringify_ids(body: dict[str, Any]) -> dict[str, Any]:
    """Every ``id`` / ``*_id`` field, however deep, as a string: the wire's ids are strings
    (agents' ids are integers in the store; a client must never see both forms). Returns
    ``body`` itself when nothing needed changing, so the usual frame costs one walk."""
    changed: dict[str, Any] | None = None
    for key, value in body.items():
        new = value
        if _is_id_key(key) and isinstance(value, int) and not isinstance(value, bool):
            new = str(value)
        elif isinstance(value, dict):
            new = stringify_ids(value)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            items = [stringify_ids(v) if isinstance(v, dict) else v for v in value]
            if any(a is not b for a, b in zip(items, value, strict=True)):
                new = items
        if new is not value:
            if changed is None:
                changed = dict(body)
            changed[key] = new
    return body if changed is None else changed


class OutFrame:
    """A server frame, encoded at most once per codec whatever the number of recipients."""

    __slots__ = ("body", "origin", "_msgpack", "_json")

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = stringify_ids(body)
        # The socket that sent this message, on the node that stored it: the fan-out skips
        # it (its ack carries the seq). Never on the wire; another node's copy has none.
        self.origin: object | None = None
        self._msgpack: bytes | None = None
        self._json: str | None = None

    @classmethod
    def with_string_ids(cls, body: dict[str, Any]) -> OutFrame:
        """A frame whose builder made every id a string already: not walked again. The
        hot path's two frames (the message and its ack) are built this way: building and
        encoding both took 8.3 µs a message with the walk, 3.9 µs without."""
        frame = cls.__new__(cls)
        frame.body = body
        frame.origin = None
        frame._msgpack = None
        frame._json = None
        return frame

    @classmethod
    def from_msgpack(cls, body: dict[str, Any], packed: bytes) -> OutFrame:
        """A frame that arrived already encoded (from another node): never packed again
        (its sender built it as an OutFrame, so its ids are strings already). Another
        node's copy: its sender is not here (no ``origin``)."""
        frame = cls.with_string_ids(body)
        frame._msgpack = packed
        return frame

    def encoded(self, codec: Codec) -> bytes | str:
        if codec == "msgpack":
            if self._msgpack is None:
                self._msgpack = msgpack.packb(self.body, use_bin_type=True)
            return self._msgpack
        if self._json is None:
            self._json = json_dumps(self.body)
        return self._json


def error_frame(code: str, message: str, ref: str | None = None) -> OutFrame:
    body: dict[str, Any] = {
        "type": "error",
        "code": code,
        "message": message,
        "retryable": ERROR_CODES[code][1],
    }
    if ref is not None:
        body["ref"] = ref
    return OutFrame(body)


def message_frame(row: dict[str, Any]) -> OutFrame:
    """A stored sequenced item (text or event) as the frame every party receives."""
    body: dict[str, Any] = {
        "type": "message" if row["kind"] == "text" else "event",
        "conversation_id": row["conversation_id"],
        "seq": row["seq"],
        "author": row["author"],
        "ts": row["created_ms"],
    }
    if row.get("author_name"):
        body["author_name"] = row["author_name"]
    if row.get("author_id"):
        body["author_id"] = str(row["author_id"])
    if row["kind"] == "text":
        body["text"] = row["body"]
        if row.get("client_msg_id"):
            body["client_msg_id"] = str(row["client_msg_id"])
        if not row.get("data"):
            return OutFrame.with_string_ids(body)
        # Bot messages: their kind and the articles they offer (whose ids are walked).
        body.update(json.loads(row["data"]))
    else:
        body["event"] = row["body"]
        body["data"] = json.loads(row["data"]) if row.get("data") else {}
    return OutFrame(body)


# ---------------------------------------------------------------------------- audiences

# Who may receive a frame: the conversation's visitor, its agent (any agent socket), the
# team (supervisors' boards and watch sockets). Staff are agent and team alike.
Audience = Literal["visitor", "agent", "team"]
EVERYONE: frozenset[Audience] = frozenset({"visitor", "agent", "team"})
STAFF: frozenset[Audience] = frozenset({"agent", "team"})
VISITOR_ONLY: frozenset[Audience] = frozenset({"visitor"})
TEAM_ONLY: frozenset[Audience] = frozenset({"team"})
VISITOR_AND_AGENT: frozenset[Audience] = frozenset({"visitor", "agent"})


@dataclass(frozen=True, slots=True)
class Reach:
    """A frame kind's audience; ``staff_fields`` are ``data`` fields of an event that only
    staff see (the visitor gets the event without them)."""

    audience: frozenset[Audience]
    staff_fields: frozenset[str] = frozenset()


# Every server frame type, and every stored event as ``event:<name>``: who receives it.
# The hub enforces it for live fan-out, resume and catch-up; ``docs/protocol.md`` states
# it (a test compares the two). A kind missing here reaches staff only.
AUDIENCES: dict[str, Reach] = {
    "welcome": Reach(EVERYONE),
    "reply_warning": Reach(STAFF),
    "ack": Reach(EVERYONE),
    "message": Reach(EVERYONE),
    "event": Reach(EVERYONE),  # each stored event narrows it below
    "typing": Reach(EVERYONE),
    "seen": Reach(EVERYONE),
    "resumed": Reach(EVERYONE),
    "queue": Reach(VISITOR_ONLY),
    "assigned": Reach(STAFF),
    "unassigned": Reach(STAFF),
    "offer": Reach(STAFF),
    "offer_withdrawn": Reach(STAFF),
    "status": Reach(STAFF),
    "suggestions": Reach(STAFF),
    # The customer's own balance, and the agent's customer panel showing the same number.
    "balance": Reach(VISITOR_AND_AGENT),
    "rated": Reach(VISITOR_ONLY),
    "error": Reach(EVERYONE),
    "pong": Reach(EVERYONE),
    "board": Reach(TEAM_ONLY),
    "queue_changed": Reach(TEAM_ONLY),
    "watching": Reach(TEAM_ONLY),
    # The early warning ("at this rate the wait passes the target in N min").
    "breach_warning": Reach(TEAM_ONLY),
    # The inbox changed (a new offline message, a take, a close): consoles re-read counts.
    "inbox_changed": Reach(STAFF),
    "event:assigned": Reach(EVERYONE),
    "event:requeued": Reach(EVERYONE),
    "event:agent_left": Reach(EVERYONE),
    # The visitor hears that a colleague takes over, not what one agent wrote to the next.
    "event:transferred": Reach(EVERYONE, frozenset({"note", "override"})),
    "event:closed": Reach(EVERYONE),
    "event:human_requested": Reach(EVERYONE),
    # A chat nobody answered moved on to a colleague: the visitor only hears who joined.
    "event:moved": Reach(STAFF),
    # The bot's summary of the visitor's words is written for the agent.
    "event:handoff": Reach(STAFF),
    "event:offline": Reach(EVERYONE),
    "event:no_credits": Reach(EVERYONE),
    "event:order": Reach(EVERYONE),
    "event:hidden": Reach(VISITOR_ONLY),
}
# Ephemeral frames that go to the other side only: a `typing` or `seen` with ``who`` equal
# to the receiving socket's side is its own (or its own other tab's) and is not sent.
ECHOLESS = frozenset({"typing", "seen"})
# What a visitor gets in place of a stored item not meant for them: its place in the
# conversation (``seq`` stays gapless), nothing of its content.
HIDDEN_EVENT = "hidden"
_UNDECLARED = Reach(STAFF)


def reach_of(body: dict[str, Any]) -> Reach:
    kind = body.get("type")
    if kind == "event":
        return AUDIENCES.get(f"event:{body.get('event')}", _UNDECLARED)
    return AUDIENCES.get(kind if isinstance(kind, str) else "", _UNDECLARED)


def audience_of(role: Role) -> Audience:
    """A socket's audience: supervisors' sockets speak as agents and see what staff see."""
    return "visitor" if role == "visitor" else "agent"


def for_audience(frame: OutFrame, who: Audience) -> OutFrame | None:
    """``frame`` as ``who`` may receive it: itself, a copy without staff-only fields, a
    ``hidden`` stand-in that keeps a stored item's ``seq``, or None (not for them)."""
    body = frame.body
    if body.get("type") in ECHOLESS and body.get("who") == who:
        return None  # never echoed to the side that sent it
    reach = reach_of(body)
    if who in reach.audience or (who == "agent" and "team" in reach.audience):
        if who != "visitor" or not reach.staff_fields:
            return frame
        data = {k: v for k, v in body.get("data", {}).items() if k not in reach.staff_fields}
        return OutFrame({**body, "data": data})
    if "seq" in body and "conversation_id" in body:
        return OutFrame(
            {
                "type": "event",
                "conversation_id": body["conversation_id"],
                "seq": body["seq"],
                "author": "system",
                "ts": body.get("ts"),
                "event": HIDDEN_EVENT,
                "data": {},
            }
        )
    return None
