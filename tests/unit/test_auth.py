"""Tokens, identity HMAC and passwords, without a server."""

from __future__ import annotations

from chatserver.core.settings import Settings
from chatserver.live.auth import (
    Principal,
    Tokens,
    hash_password,
    identity_hash,
    identity_verified,
    verify_password,
)
from chatserver.live.connection import TokenBucket


def tokens(key: str = "k1", ttl: int = 3600) -> Tokens:
    return Tokens(Settings(secret_key=key, visitor_token_ttl_s=ttl))


def test_visitor_token_round_trips_and_is_bound_to_its_site() -> None:
    t = tokens()
    vid = t.new_visitor_id()
    claims = t.read_visitor_token(t.issue_visitor_token(vid, "shop"))
    assert claims is not None and (claims.visitor_id, claims.site) == (vid, "shop")


def test_visitor_ids_carry_at_least_128_bits() -> None:
    ids = {Tokens.new_visitor_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) >= 22 for i in ids)


def test_tampered_foreign_or_expired_tokens_are_refused() -> None:
    t = tokens()
    token = t.issue_visitor_token(t.new_visitor_id(), "shop")
    assert t.read_visitor_token(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]) is None
    assert tokens("other-key").read_visitor_token(token) is None
    assert tokens(ttl=-1).read_visitor_token(token) is None
    assert t.read_visitor_token("") is None


def test_identity_hash_normalises_the_email_and_rejects_forgeries() -> None:
    good = identity_hash("s3cret", " Buyer@Example.COM ")
    assert identity_verified("s3cret", "buyer@example.com", good)
    assert identity_verified("s3cret", "buyer@example.com", good.upper())
    assert not identity_verified("s3cret", "other@example.com", good)
    assert not identity_verified(None, "buyer@example.com", good)
    assert not identity_verified("s3cret", "buyer@example.com", "")


def test_passwords_are_argon2_and_verify_only_the_right_one() -> None:
    hashed = hash_password("pw-1")
    assert hashed.startswith("$argon2")
    assert verify_password(hashed, "pw-1") and not verify_password(hashed, "pw-2")
    assert not verify_password("not-a-hash", "pw-1")


def test_roles_rank_admin_over_supervisor_over_agent() -> None:
    def p(role: str) -> Principal:
        return Principal(1, "n", "e", role, 1, "c")

    assert p("admin").has_role("supervisor") and p("supervisor").has_role("agent")
    assert not p("agent").has_role("supervisor")


def test_token_bucket_allows_the_burst_then_refuses() -> None:
    bucket = TokenBucket(rate=0.001, burst=3)
    assert [bucket.allow() for _ in range(5)] == [True, True, True, False, False]
