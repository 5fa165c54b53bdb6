"""E-mail rules, pure: reply tokens, where an inbound mail threads, whether it was sent by a
machine, and what of it is the person's new text.

Nothing here does I/O; ``services/mail_ingest.py`` and ``services/mail_worker.py`` carry the
rules out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

REPLY_PREFIX = "reply+"
# 10 bytes of HMAC-SHA256: forging one by guessing takes 2**80 tries, and the address
# stays short enough for every mail client's reply field.
SIG_BYTES = 10
# Conversation ids are ``secrets.token_urlsafe(12)``: 16 characters of [A-Za-z0-9_-]. A
# local part is compared case-insensitively by many relays, so the id travels as hex.
_TOKEN = re.compile(r"^([0-9a-f]{2,64})\.([a-z2-7]{16})$")


class MailRefused(Exception):
    """An inbound mail that is not taken: ``smtp_code`` and ``http_status`` say how."""

    def __init__(self, reason: str, smtp_code: int = 550, http_status: int = 422) -> None:
        super().__init__(reason)
        self.reason = reason
        self.smtp_code = smtp_code
        self.http_status = http_status


def _sig(secret: str, conversation_id: str) -> str:
    mac = hmac.new(secret.encode(), b"mail-reply:" + conversation_id.encode(), hashlib.sha256)
    return base64.b32encode(mac.digest()[:SIG_BYTES]).decode().lower()


def reply_token(secret: str, conversation_id: str) -> str:
    return f"{conversation_id.encode().hex()}.{_sig(secret, conversation_id)}"


def reply_address(secret: str, conversation_id: str, domain: str) -> str:
    return f"{REPLY_PREFIX}{reply_token(secret, conversation_id)}@{domain}"


def verify_token(secret: str, token: str) -> str | None:
    """The conversation id a token was signed for, or None for a forged or broken one."""
    m = _TOKEN.match(token.lower())
    if m is None:
        return None
    try:
        conversation_id = bytes.fromhex(m.group(1)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not hmac.compare_digest(_sig(secret, conversation_id), m.group(2)):
        return None
    return conversation_id


def reply_tokens(addresses: list[str], domain: str) -> list[str]:
    """The tokens of the ``reply+<token>@domain`` addresses among ``addresses``."""
    tokens = []
    for address in addresses:
        local, _, host = address.strip().strip("<>").rpartition("@")
        if host.lower() == domain.lower() and local.lower().startswith(REPLY_PREFIX):
            tokens.append(local[len(REPLY_PREFIX) :])
    return tokens


def message_ids(header: str | None) -> list[str]:
    """The ``<id>`` items of an In-Reply-To or References header, in order."""
    return re.findall(r"<[^<>\s]{1,250}>", header or "")


# ------------------------------------------------------------------------ who sent it

_BOUNCE_LOCALS = {"mailer-daemon", "postmaster", "mail-daemon", "no-reply", "noreply"}
_BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}


def machine_sent(msg: EmailMessage, envelope_from: str | None) -> str | None:
    """Why this mail was sent by a machine (and must get no answer), or None.

    RFC 3834 ``Auto-Submitted``, ``Precedence``, the common vacation-responder headers, and
    bounces (an empty return path, a MAILER-DAEMON sender)."""
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto and auto != "no":
        return "auto-submitted"
    if str(msg.get("Precedence", "")).strip().lower() in _BULK_PRECEDENCE:
        return "precedence"
    if msg.get("X-Autoreply") or msg.get("X-Autorespond") or msg.get("List-Id"):
        return "auto-reply header"
    if envelope_from is not None and envelope_from.strip() in ("", "<>"):
        return "bounce (empty return path)"
    sender = parseaddr(str(msg.get("From", "")))[1].lower()
    if sender.partition("@")[0] in _BOUNCE_LOCALS:
        return "bounce sender"
    if msg.get_content_type() == "multipart/report":
        return "delivery report"
    return None


# ------------------------------------------------------------------- the new text only

# The line a mail client writes above the quoted history, in the languages the desk serves
# (and the big clients' defaults): "On … wrote:", "Dne … je … napisal(a):", "… rašė:", …
_QUOTE_HEADERS = [
    r"^on\b.{0,200}\bwrote:?\s*$",
    r"^dne\b.{0,200}\bnapisal[a]?:?\s*$",
    r"^.{0,200}\bje napisal[a]?:?\s*$",
    r"^.{0,200}\b(?:parašė|rašė):?\s*$",
    r"^.{0,200}\ba scris:?\s*$",
    r"^.{0,200}\b(?:написал[а]?|пише|писал[а]?):?\s*$",
    r"^.{0,200}\b(?:je napisao|je napisala|napisao|napisala|piše):?\s*$",
    r"^am\b.{0,200}\bschrieb.{0,100}:?\s*$",
    r"^le\b.{0,200}\ba écrit\s*:?\s*$",
    r"^el\b.{0,200}\bescribió:?\s*$",
    r"^-{2,}\s*(?:original message|izvorno sporočilo|originalna poruka|"
    r"исходное сообщение|mesaj original|originali žinutė)\s*-{2,}\s*$",
    r"^_{10,}\s*$",  # Outlook's rule above "From: …"
    r"^(?:from|od|от|de la|nuo|von|de):\s.{1,200}$",  # a forwarded header block
]
_QUOTE_HEADER = re.compile("|".join(_QUOTE_HEADERS), re.IGNORECASE)
# "-- " (RFC 3676), and sent-from-my-phone lines.
_SIGNATURE = re.compile(
    r"^(?:--\s?|__\s?|sent from my .{1,40}|poslano z .{1,40}|отправлено с .{1,40}|"
    r"trimis de pe .{1,40}|išsiųsta iš .{1,40}|poslato sa .{1,40})$",
    re.IGNORECASE,
)


def strip_reply(text: str) -> str:
    """The new text of a reply: quoted history (``>`` lines and what follows a client's
    "On … wrote:" line) and the signature are cut."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        bare = line.strip()
        if bare.startswith(">"):
            continue
        if _QUOTE_HEADER.match(bare):
            # Gmail wraps a long "On … wrote:" line: the next line ending in "wrote:" joins it.
            break
        if i + 1 < len(lines) and _QUOTE_HEADER.match(f"{bare} {lines[i + 1].strip()}"):
            break
        if _SIGNATURE.match(bare) or _SIGNATURE.match(line.rstrip("\n")):
            break
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


class _TextOnly(HTMLParser):
    """HTML to text: tags dropped, scripts and styles dropped with their content, blocks
    and ``<br>`` as line breaks, quoted blocks (``blockquote``, Gmail's ``gmail_quote``)
    left out. The result is plain text, rendered as text everywhere."""

    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table"}
    SKIP = {"script", "style", "head", "title", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.stack: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = " ".join(v or "" for k, v in attrs if k == "class")
        skipping = tag in self.SKIP or "gmail_quote" in classes or "moz-cite" in classes
        if tag not in ("br", "img", "hr", "meta", "link", "input"):
            self.stack.append((tag, skipping))
            if skipping:
                self.skip_depth += 1
        if tag in self.BLOCKS and not self.skip_depth:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            open_tag, skipping = self.stack.pop()
            if skipping:
                self.skip_depth -= 1
            if open_tag == tag:
                break
        if tag in self.BLOCKS and not self.skip_depth:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# ---------------------------------------------------------------- an inbound mail, read


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    size: int


@dataclass(slots=True)
class Inbound:
    message_id: str | None
    sender: str  # the From address, lower-cased
    sender_name: str
    subject: str
    text: str  # the new text, quotes and signature stripped
    recipients: list[str]
    in_reply_to: list[str]
    attachments: list[Attachment] = field(default_factory=list)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean(text: str) -> str:
    # The store refuses NUL and other controls (the chat's rule); a mail may carry them.
    return _CONTROL.sub("", text)


def read_inbound(msg: EmailMessage, envelope_rcpts: list[str] | None = None) -> Inbound:
    """What the desk needs of one parsed mail (``email.policy.default``)."""
    plain: str | None = None
    html: str | None = None
    attachments: list[Attachment] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        ctype = part.get_content_type()
        if disposition == "attachment" or (part.get_filename() and disposition != "inline"):
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else 0
            attachments.append(Attachment(_clean(part.get_filename() or "unnamed"), ctype, size))
            continue
        if ctype not in ("text/plain", "text/html"):
            continue
        try:
            content = str(part.get_content())
        except (LookupError, UnicodeError):
            payload = part.get_payload(decode=True)
            content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        if ctype == "text/plain" and plain is None:
            plain = content
        elif ctype == "text/html" and html is None:
            html = content
    body = plain if plain is not None else html_to_text(html or "")
    name, sender = parseaddr(str(msg.get("From", "")))
    recipients = list(envelope_rcpts or [])
    for header in ("To", "Cc", "Delivered-To", "X-Original-To"):
        recipients += [addr for _, addr in getaddresses(msg.get_all(header, []))]
    message_id = message_ids(str(msg.get("Message-ID", "")))
    return Inbound(
        message_id=message_id[0] if message_id else None,
        sender=sender.lower(),
        sender_name=_clean(name)[:200],
        subject=_clean(str(msg.get("Subject", "")))[:500],
        text=_clean(strip_reply(body)),
        recipients=recipients,
        in_reply_to=message_ids(str(msg.get("In-Reply-To", "")))
        + message_ids(str(msg.get("References", ""))),
        attachments=attachments,
    )


def dedup_id(message_id: str) -> str:
    """A client message id for an inbound mail: a provider's retried delivery of the same
    Message-ID is stored once (the store drops a sender's repeated id)."""
    return "mail:" + hashlib.sha256(message_id.encode()).hexdigest()[:40]
