"""The two things the knowledge base holds: articles and canned replies (plain values)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    lang: str
    title: str
    body: str
    tags: tuple[str, ...] = field(default_factory=tuple)
    updated_ms: int = 0
    # A reply an agent can send as it is (a summary of the body); empty: none written.
    answer: str = ""
    # Articles that are translations of one another share a group; empty: none.
    group: str = ""


@dataclass(frozen=True, slots=True)
class CannedReply:
    shortcut: str
    text: str
    lang: str
    id: int | None = None


def base_lang(lang: str | None) -> str | None:
    """``sr-Latn`` and ``sr-Cyrl`` are one language for matching; ``sl_SI`` is ``sl``."""
    if not lang:
        return None
    return lang.replace("_", "-").split("-", 1)[0].lower() or None
