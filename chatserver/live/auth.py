"""Who is who: agent passwords and sessions, visitor tokens, the site's identity HMAC,
and the Origin check done before any websocket is accepted."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from chatserver.core.settings import Settings

ROLES = ("agent", "supervisor", "admin")
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def normalise_email(email: str) -> str:
    return email.strip().casefold()


def identity_hash(secret: str, email: str) -> str:
    """What a site computes server-side to vouch for a logged-in customer's e-mail."""
    return hmac.new(secret.encode(), normalise_email(email).encode(), hashlib.sha256).hexdigest()


def identity_verified(secret: str | None, email: str, claimed_hash: str) -> bool:
    if not secret or not isinstance(claimed_hash, str):
        return False
    return hmac.compare_digest(identity_hash(secret, email), claimed_hash.strip().lower())


@dataclass(frozen=True, slots=True)
class VisitorClaims:
    visitor_id: str
    site: str
    # The language the session asked for: a visitor with no row yet (written at first
    # use) keeps it here.
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    agent_id: int
    name: str
    email: str
    role: str
    session_version: int
    csrf: str
    # When the session's cookie stops being valid (Unix seconds); None: not known.
    expires_at: float | None = None

    def has_role(self, *roles: str) -> bool:
        # admin > supervisor > agent: a higher role may do what a lower one may.
        rank = ROLES.index(self.role)
        return any(rank >= ROLES.index(r) for r in roles)


# What became of the token a visitor's session call presented (``token_status``).
TokenStatus = Literal["valid", "expired", "invalid"]


class Tokens:
    """Signs and checks visitor tokens and agent session cookies with the secret key."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._visitor = URLSafeTimedSerializer(
            settings.security.secret_key, salt="livedesk.visitor"
        )
        self._session = URLSafeTimedSerializer(
            settings.security.secret_key, salt="livedesk.session"
        )

    @staticmethod
    def new_visitor_id() -> str:
        return secrets.token_urlsafe(16)  # 128 bits

    def issue_visitor_token(self, visitor_id: str, site: str, language: str | None = None) -> str:
        claims = {"v": visitor_id, "s": site}
        if language:
            claims["l"] = language
        return self._visitor.dumps(claims)

    def read_visitor_token(self, token: str) -> VisitorClaims | None:
        claims, status = self.check_visitor_token(token)
        return claims if status == "valid" else None

    def check_visitor_token(self, token: str) -> tuple[VisitorClaims | None, TokenStatus]:
        """The claims and ``valid``; an expired token's claims (our signature, only too
        old, by less than one more TTL) and ``expired``, for a renewal that may carry an
        open conversation over; ``(None, "expired")`` when older still;
        ``(None, "invalid")`` for anything else."""
        try:
            data = self._visitor.loads(token, max_age=self.settings.security.visitor_token_ttl_s)
            status: TokenStatus = "valid"
        except SignatureExpired:
            # Renewable for one more TTL at most: an old token found in a dead browser
            # profile must not open a conversation for ever.
            try:
                data = self._visitor.loads(
                    token, max_age=2 * self.settings.security.visitor_token_ttl_s
                )
            except SignatureExpired:
                return None, "expired"
            except BadSignature:
                return None, "invalid"
            status = "expired"
        except BadSignature:
            return None, "invalid"
        claims = self._claims(data)
        return (claims, status) if claims is not None else (None, "invalid")

    @staticmethod
    def _claims(data: object) -> VisitorClaims | None:
        if not isinstance(data, dict):
            return None
        visitor_id, site = data.get("v"), data.get("s")
        if not isinstance(visitor_id, str) or not isinstance(site, str):
            return None
        language = data.get("l")
        return VisitorClaims(visitor_id, site, language if isinstance(language, str) else None)

    def issue_session(self, agent_id: int, session_version: int) -> str:
        return self._session.dumps(
            {"a": agent_id, "v": session_version, "c": secrets.token_urlsafe(16)}
        )

    def read_session(self, cookie: str) -> dict[str, Any] | None:
        try:
            data, signed = self._session.loads(
                cookie, max_age=self.settings.security.session_ttl_s, return_timestamp=True
            )
        except (BadSignature, SignatureExpired):
            return None
        if not isinstance(data, dict) or type(data.get("a")) is not int:
            return None
        # Sockets opened with the cookie must not outlive it (sessions.AgentSockets).
        data["expires_at"] = signed.timestamp() + self.settings.security.session_ttl_s
        return data


def request_origin(conn: HTTPConnection) -> str:
    """The origin this server is reached at, as the browser sees it."""
    host = conn.headers.get("host", "")
    scheme = "https" if conn.url.scheme in ("https", "wss") else "http"
    return f"{scheme}://{host}"


def origin_allowed(conn: HTTPConnection, settings: Settings, *, for_visitor: bool) -> bool:
    origin = conn.headers.get("origin")
    if origin is None:
        # Browsers always send Origin on websocket upgrades; only non-browser clients omit
        # it, and they cannot ride a victim's cookie, so agents' sockets still need it.
        return for_visitor
    origin = origin.rstrip("/")
    own = {request_origin(conn)}
    if settings.security.public_url:
        parts = urlsplit(settings.security.public_url)
        own.add(f"{parts.scheme}://{parts.netloc}")
    if origin in own:
        return True
    if for_visitor:
        allowed = {o.rstrip("/") for o in settings.security.allowed_origins}
        return "*" in allowed or origin in allowed
    return False


HOST_PREFIX = "__Host-"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"


def cookie_secure(settings: Settings, conn: HTTPConnection | None = None) -> bool:
    """Whether the session cookie is ``Secure``: as configured, else whenever this server is
    reached over HTTPS (the request's scheme, which believes X-Forwarded-Proto only from a
    trusted proxy) or its public URL is https."""
    if settings.security.cookie_secure is not None:
        return settings.security.cookie_secure
    if settings.security.public_url and settings.security.public_url.lower().startswith("https://"):
        return True
    return conn is not None and conn.url.scheme in ("https", "wss")


def session_cookie_name(settings: Settings, conn: HTTPConnection | None = None) -> str:
    """``__Host-<name>`` when cookies are Secure: the prefix pins the cookie to this host and
    path ``/`` so a sibling subdomain cannot plant one. Browsers only accept it with Secure,
    so plain-HTTP development keeps the bare name."""
    name = settings.security.session_cookie
    if cookie_secure(settings, conn) and not name.startswith(HOST_PREFIX):
        return HOST_PREFIX + name
    return name


def session_cookie_kwargs(settings: Settings, conn: HTTPConnection | None = None) -> dict[str, Any]:
    return {
        "max_age": settings.security.session_ttl_s,
        "httponly": True,
        # Lax, not Strict, so a link into the console from mail or chat still finds the
        # session; cross-site POSTs and sockets carry no cookie, and the CSRF token covers
        # same-site attackers.
        "samesite": "lax",
        "secure": cookie_secure(settings, conn),
        "path": "/",
    }


def csrf_ok(principal: Principal, presented: str | None) -> bool:
    return (
        bool(principal.csrf)
        and isinstance(presented, str)
        and hmac.compare_digest(principal.csrf.encode(), presented.encode())
    )


def same_origin_or_absent(conn: HTTPConnection, settings: Settings) -> bool:
    """False for a request a browser marked as coming from another site. Non-browser
    clients send neither header; they cannot carry a victim's cookie anyway."""
    site = conn.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    if conn.headers.get("origin") is not None:
        return origin_allowed(conn, settings, for_visitor=False)
    return True


async def require_csrf(request: HTTPConnection, *roles: str) -> Principal:
    """``require_role`` for state-changing requests: the session's CSRF token must come back
    in the ``X-CSRF-Token`` header (the console's fetches), and a browser's Origin must be ours."""
    principal = await require_role(request, *roles)
    if not same_origin_or_absent(request, request.app.state.settings):
        raise HTTPException(403, "cross-origin request refused")
    if not csrf_ok(principal, request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, "missing or wrong CSRF token")
    return principal


async def current_principal(conn: HTTPConnection) -> Principal | None:
    """The agent behind the session cookie, if the cookie is valid and still current."""
    state = conn.app.state
    cookie = conn.cookies.get(session_cookie_name(state.settings, conn))
    if not cookie:
        return None
    data = state.tokens.read_session(cookie)
    if data is None:
        return None
    agent = await state.store.get_agent(data["a"])
    if agent is None or not agent.active or agent.session_version != data.get("v"):
        return None
    return Principal(
        agent_id=agent.id,
        name=agent.name,
        email=agent.email,
        role=agent.role,
        session_version=agent.session_version,
        csrf=str(data.get("c", "")),
        expires_at=data["expires_at"],
    )


async def require_role(conn: HTTPConnection, *roles: str) -> Principal:
    principal = await current_principal(conn)
    if principal is None:
        raise HTTPException(401, "log in first")
    if roles and not principal.has_role(*roles):
        raise HTTPException(403, "your role may not do this")
    return principal
