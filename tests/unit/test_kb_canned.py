from __future__ import annotations

from kb.article import CannedReply
from kb.canned import CannedIndex

REPLIES = [
    CannedReply("refund", "We refund within 5 working days.", "en"),
    CannedReply("refund", "Denar vrnemo v 5 delovnih dneh.", "sl"),
    CannedReply("return-label", "Here is your return label.", "en"),
    CannedReply("hello", "Hi, how can I help?", "en"),
]


def test_prefix_lists_matching_shortcuts_exact_first() -> None:
    found = CannedIndex(REPLIES).lookup("/re", "en")
    assert [r.shortcut for r in found] == ["refund", "return-label"]
    assert CannedIndex(REPLIES).lookup("/refund", "en")[0].shortcut == "refund"


def test_the_conversation_language_version_is_chosen() -> None:
    [reply] = CannedIndex(REPLIES).lookup("/refu", "sl")
    assert reply.lang == "sl"
    [fallback] = CannedIndex(REPLIES).lookup("/refu", "ro")
    assert fallback.lang == "en"


def test_a_typo_in_the_shortcut_still_finds_it() -> None:
    assert [r.shortcut for r in CannedIndex(REPLIES).lookup("/rfund", "en")][:1] == ["refund"]


def test_nothing_similar_finds_nothing() -> None:
    assert CannedIndex(REPLIES).lookup("/xyzzy", "en") == []


def test_remove_drops_one_language_version() -> None:
    idx = CannedIndex(REPLIES)
    assert idx.remove("refund", "sl") is True
    assert idx.lookup("/refund", "sl")[0].lang == "en"
    assert len(idx) == 3
