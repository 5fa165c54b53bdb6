"""A stable, friendly name for an anonymous visitor: the same adjective and animal in every
conversation of that visitor (derived from the visitor id, never stored), so the team can
tell "Amber Otter" from "Quiet Heron" across chats."""

from __future__ import annotations

import hashlib

ADJECTIVES = (
    "Amber", "Azure", "Brave", "Bright", "Calm", "Clever", "Coral", "Crimson", "Dapper",
    "Eager", "Gentle", "Golden", "Happy", "Honest", "Indigo", "Jolly", "Kind", "Lively",
    "Lucky", "Mellow", "Misty", "Nimble", "Olive", "Patient", "Polite", "Quick", "Quiet",
    "Rosy", "Rustic", "Sandy", "Silver", "Sunny", "Swift", "Tidy", "Velvet", "Witty",
)  # fmt: skip
ANIMALS = (
    "Badger", "Bear", "Beaver", "Bison", "Crane", "Deer", "Dolphin", "Eagle", "Falcon",
    "Finch", "Fox", "Gecko", "Hare", "Hedgehog", "Heron", "Ibis", "Koala", "Lark", "Lynx",
    "Marten", "Moose", "Newt", "Otter", "Owl", "Panda", "Puffin", "Raven", "Robin", "Seal",
    "Sparrow", "Stork", "Swan", "Tiger", "Turtle", "Walrus", "Wolf",
)  # fmt: skip


def visitor_alias(visitor_id: str) -> str:
    """``visitor_id`` → "Adjective Animal", the same on every node and after every restart."""
    digest = hashlib.sha256(visitor_id.encode()).digest()
    n = int.from_bytes(digest[:8], "big")
    return f"{ADJECTIVES[n % len(ADJECTIVES)]} {ANIMALS[(n // len(ADJECTIVES)) % len(ANIMALS)]}"
