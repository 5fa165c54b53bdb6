"""Canned replies found by ``/shortcut``: prefix first, then one-typo fuzzy, visitor's language."""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz import fuzz

from kb.article import CannedReply, base_lang
from kb.normalize import fold

FUZZY_CUTOFF = 70.0


def shortcut_key(shortcut: str) -> str:
    return fold(shortcut.strip().lstrip("/"))


class CannedIndex:
    """Small by nature (tens to hundreds of replies), so a scan per keystroke is cheap."""

    def __init__(self, replies: Iterable[CannedReply] = ()) -> None:
        self._by_key: dict[str, dict[str, CannedReply]] = {}
        for reply in replies:
            self.upsert(reply)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_key.values())

    def upsert(self, reply: CannedReply) -> None:
        self._by_key.setdefault(shortcut_key(reply.shortcut), {})[reply.lang] = reply

    def remove(self, shortcut: str, lang: str) -> bool:
        key = shortcut_key(shortcut)
        variants = self._by_key.get(key, {})
        if variants.pop(lang, None) is None:
            return False
        if not variants:
            del self._by_key[key]
        return True

    def lookup(self, prefix: str, lang: str | None = None, limit: int = 5) -> list[CannedReply]:
        """Replies whose shortcut begins with (or is one slip away from) what the agent typed.

        Each shortcut appears once, in the agent's conversation language when it has that
        version, so "/refund" in a Slovenian chat yields the Slovenian text.
        """
        typed = shortcut_key(prefix)
        ranked: list[tuple[float, str]] = []
        for key in self._by_key:
            if not typed:
                rank = 1.0
            elif key == typed:
                rank = 3.0
            elif key.startswith(typed):
                rank = 2.0 + len(typed) / len(key)
            else:
                # Compare with the shortcut cut to the typed length: the agent is mid-word.
                ratio = fuzz.ratio(typed, key[: len(typed) + 1], score_cutoff=FUZZY_CUTOFF)
                if not ratio:
                    continue
                rank = ratio / 100.0
            ranked.append((rank, key))
        ranked.sort(key=lambda rk: (-rk[0], rk[1]))
        return [self._pick_language(self._by_key[k], lang) for _, k in ranked[:limit]]

    @staticmethod
    def _pick_language(variants: dict[str, CannedReply], lang: str | None) -> CannedReply:
        want = base_lang(lang)

        def preference(reply: CannedReply) -> tuple[int, str]:
            if lang is not None and reply.lang == lang:
                return (0, reply.lang)
            if want is not None and base_lang(reply.lang) == want:
                return (1, reply.lang)
            return (2 if base_lang(reply.lang) == "en" else 3, reply.lang)

        return min(variants.values(), key=preference)
