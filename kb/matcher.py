"""The article matcher: an inverted index of prefix keys narrows, rapidfuzz reranks.

A query is scored by *coverage*: the share of its meaning (content words weighted by rarity)
that an article contains, a word in the title counting more than one in the body.  Coverage is
already a number in [0, 1] with a plain reading ("most of what you asked about is in this
article"), which is what makes one threshold work across knowledge bases of different sizes.
The few best candidates are then reranked with rapidfuzz against their titles, which rewards
an article whose title says what the visitor said, and the visitor's language is preferred.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from kb.article import Article, base_lang
from kb.normalize import content_words, fold_variants, words
from kb.stems import (
    FUZZY_QUALITY,
    SECONDARY_LEN,
    index_keys,
    primary_key,
    query_keys,
)

TITLE, TAGS, BODY = 1, 2, 4

DEFAULT_MIN_SCORE = 0.45
DEFAULT_CONFIDENT_SCORE = 0.82
# Two near-equal articles in the visitor's language: offer both rather than pick one.
CONFIDENT_MARGIN = 0.04
RERANK_CANDIDATES = 30
# A word seen only in bodies says less about what an article is *about* than a title word:
# for rarity it counts as this fraction of a title/tag occurrence.
BODY_DF_SHARE = 0.3
# A query word the knowledge base has never seen (a product name, a typo beyond repair) counts
# against every article, but less than a known rare word: it may be noise, not the topic.
UNKNOWN_WORD_FACTOR = 0.5
MAX_WALK = 1000
SNIPPET_CHARS = 160
_MAX_FUZZY_KEYS = 4
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Suggestion:
    article_id: str
    score: float
    title: str
    lang: str
    snippet: str


@dataclass(frozen=True, slots=True)
class _Doc:
    article: Article
    base: str | None
    title_words: str
    keys: frozenset[str]
    snippet: str


def _snippet(body: str) -> str:
    flat = _SPACES.sub(" ", body).strip()
    if len(flat) <= SNIPPET_CHARS:
        return flat
    cut = flat.rfind(" ", 0, SNIPPET_CHARS)
    return flat[: cut if cut > 0 else SNIPPET_CHARS].rstrip(" ,.;:") + "…"


def _deletes(key: str) -> set[str]:
    return {key[:i] + key[i + 1 :] for i in range(len(key))}


class KnowledgeIndex:
    """Articles, searchable; ``upsert`` and ``remove`` touch only the article concerned."""

    def __init__(
        self,
        articles: Iterable[Article] = (),
        *,
        min_score: float = DEFAULT_MIN_SCORE,
        confident_score: float = DEFAULT_CONFIDENT_SCORE,
        other_language_factor: float = 0.85,
        title_weight: float = 1.0,
        tags_weight: float = 0.9,
        body_weight: float = 0.6,
        fuzz_weight: float = 0.2,
    ) -> None:
        if not 0.0 <= min_score <= confident_score <= 1.0:
            raise ValueError("need 0 <= min_score <= confident_score <= 1")
        self.min_score = min_score
        self.confident_score = confident_score
        self.other_language_factor = other_language_factor
        self.fuzz_weight = fuzz_weight
        # Strongest field present wins: a word in the title and the body counts as a title word.
        self._field_weight = [0.0] * 8
        for mask in range(1, 8):
            self._field_weight[mask] = max(
                title_weight if mask & TITLE else 0.0,
                tags_weight if mask & TAGS else 0.0,
                body_weight if mask & BODY else 0.0,
            )
        self._docs: dict[int, _Doc] = {}
        self._ids: dict[str, int] = {}
        self._next = 0
        self._postings: dict[str, dict[int, int]] = {}
        self._head_df: dict[str, int] = {}
        # Single-deletion neighbours of primary keys, for one-typo lookups (SymSpell's trick).
        self._near: dict[str, set[str]] = {}
        for article in articles:
            self.upsert(article)

    # -- contents ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._ids

    def get(self, article_id: str) -> Article | None:
        idx = self._ids.get(article_id)
        return None if idx is None else self._docs[idx].article

    def articles(self) -> list[Article]:
        return [d.article for d in self._docs.values()]

    def upsert(self, article: Article) -> None:
        """Add an article or replace the one with its id."""
        self.remove(article.id)
        fields: dict[str, int] = {}
        title_words: list[str] = []
        for variant in fold_variants(f"{article.title}\n{article.body}", article.lang):
            title, _, body = variant.partition("\n")
            title_words.extend(words(title))
            for text, field in ((title, TITLE), (body, BODY)):
                for word in content_words(text):
                    for key in index_keys(word, short_prefix=field == TITLE):
                        fields[key] = fields.get(key, 0) | field
        for tag in article.tags:
            for variant in fold_variants(tag, article.lang):
                for word in content_words(variant):
                    for key in index_keys(word, short_prefix=True):
                        fields[key] = fields.get(key, 0) | TAGS
        idx = self._next
        self._next += 1
        for key, mask in fields.items():
            if key not in self._postings:
                self._postings[key] = {}
                if len(key) >= SECONDARY_LEN and key[0].isalnum():
                    for near in _deletes(key) | {key}:
                        self._near.setdefault(near, set()).add(key)
            self._postings[key][idx] = mask
            if mask & (TITLE | TAGS):
                self._head_df[key] = self._head_df.get(key, 0) + 1
        self._docs[idx] = _Doc(
            article=article,
            base=base_lang(article.lang),
            title_words=" ".join(dict.fromkeys(title_words)),
            keys=frozenset(fields),
            snippet=_snippet(article.body),
        )
        self._ids[article.id] = idx

    def remove(self, article_id: str) -> bool:
        idx = self._ids.pop(article_id, None)
        if idx is None:
            return False
        doc = self._docs.pop(idx)
        for key in doc.keys:
            posting = self._postings[key]
            if posting.pop(idx) & (TITLE | TAGS):
                self._head_df[key] -= 1
                if not self._head_df[key]:
                    del self._head_df[key]
            if not posting:
                # The typo neighbours may still point here; lookups check the key still exists.
                del self._postings[key]
        return True

    # -- search -----------------------------------------------------------------------------

    def suggest(self, text: str, lang: str | None = None, limit: int = 3) -> list[Suggestion]:
        """The best articles for ``text``, best first; empty when nothing is good enough."""
        ranked = self._rank(text, lang, limit)
        return [s for s in ranked if s.score >= self.min_score][:limit]

    def best(self, text: str, lang: str | None = None) -> Suggestion | None:
        """The one article to answer with, or ``None`` unless the index is confident."""
        ranked = self._rank(text, lang, 5)
        if not ranked or ranked[0].score < self.confident_score:
            return None
        top = ranked[0]
        top_base = base_lang(top.lang)
        for other in ranked[1:]:
            if base_lang(other.lang) == top_base and top.score - other.score < CONFIDENT_MARGIN:
                return None
        return top

    def _rank(self, text: str, lang: str | None, limit: int) -> list[Suggestion]:
        if not self._docs or limit <= 0:
            return []
        want = base_lang(lang)
        floor = 1.0 if want is None else min(1.0, self.other_language_factor)
        coverage: dict[int, float] = {}
        query_of: dict[int, str] = {}
        for variant in fold_variants(text, lang):
            query_words = list(dict.fromkeys(content_words(variant)))
            if not query_words:
                continue
            joined = " ".join(words(variant))
            for idx, cov in self._coverage(query_words, floor).items():
                if cov > coverage.get(idx, 0.0):
                    coverage[idx] = cov
                    query_of[idx] = joined
        if not coverage:
            return []
        if want is not None:
            factor = self.other_language_factor
            for idx in coverage:
                if self._docs[idx].base != want:
                    coverage[idx] *= factor
        shortlist = heapq.nlargest(RERANK_CANDIDATES, coverage.items(), key=itemgetter(1))
        scored: list[tuple[float, int]] = []
        for idx, cov in shortlist:
            doc = self._docs[idx]
            similar = fuzz.token_set_ratio(query_of[idx], doc.title_words, processor=None) / 100.0
            lang_factor = 1.0 if want is None or doc.base == want else self.other_language_factor
            score = (1.0 - self.fuzz_weight) * cov + self.fuzz_weight * similar * lang_factor
            scored.append((min(1.0, score), idx))
        scored.sort(key=lambda si: (-si[0], self._docs[si[1]].article.id))
        out: list[Suggestion] = []
        for score, idx in scored[:limit]:
            a = self._docs[idx].article
            out.append(Suggestion(a.id, round(score, 4), a.title, a.lang, self._docs[idx].snippet))
        return out

    def _coverage(self, query_words: list[str], floor_factor: float) -> dict[int, float]:
        """Per candidate article, the rarity-weighted share of the query words it contains.

        Words are taken rarest first (MaxScore): once the words left could not lift an article
        that has none of the earlier ones into the rerank shortlist, they are only looked up for
        articles already in it, instead of walking their (long) posting lists.
        """
        n = len(self._docs)
        plan: list[tuple[float, list[tuple[str, float]]]] = []
        for word in query_words:
            keys = query_keys(word)
            primary = primary_key(word)
            rarity_key: str | None = primary if primary in self._postings else None
            if rarity_key is None and len(primary) >= SECONDARY_LEN:
                fuzzy = self._typo_neighbours(primary)
                keys.extend((k, FUZZY_QUALITY) for k in fuzzy)
                if fuzzy:
                    rarity_key = max(fuzzy, key=lambda k: len(self._postings[k]))
            if rarity_key is None:
                weight = UNKNOWN_WORD_FACTOR * math.log(1.0 + (n + 0.5) / 0.5)
            else:
                head = self._head_df.get(rarity_key, 0)
                df = head + BODY_DF_SHARE * (len(self._postings[rarity_key]) - head)
                weight = max(0.1, math.log(1.0 + (n - df + 0.5) / (df + 0.5)))
            plan.append((weight, [(k, q) for k, q in keys if k in self._postings]))
        total = sum(w for w, _ in plan)
        if not total:
            return {}
        plan.sort(key=lambda wk: -wk[0])
        remaining = total
        acc: dict[int, float] = {}
        fw = self._field_weight
        for weight, keys in plan:
            threshold = 0.0
            if len(acc) >= RERANK_CANDIDATES:
                kth = heapq.nlargest(RERANK_CANDIDATES, acc.values())[-1]
                threshold = kth * floor_factor
            walk = sum(len(self._postings[k]) for k, _ in keys)
            # A word in thousands of articles says little; past the cap it only re-ranks the
            # articles the rarer words found (a bound on latency, not on exactness).
            if remaining < threshold or (acc and walk > MAX_WALK):
                # No article outside ``acc`` can reach the shortlist any more: probe, don't walk.
                for idx in acc:
                    best = 0.0
                    for key, quality in keys:
                        mask = self._postings[key].get(idx)
                        if mask and quality * fw[mask] > best:
                            best = quality * fw[mask]
                    if best:
                        acc[idx] += weight * best
            else:
                if walk > MAX_WALK:
                    # A very common first word: its weaker keys (supersets of the primary
                    # one) would multiply the walk for little gain.
                    keys = [kq for kq in keys if kq[1] == 1.0] or keys
                best_of: dict[int, float] = {}
                for key, quality in keys:
                    for idx, mask in self._postings[key].items():
                        credit = quality * fw[mask]
                        if credit > best_of.get(idx, 0.0):
                            best_of[idx] = credit
                for idx, credit in best_of.items():
                    acc[idx] = acc.get(idx, 0.0) + weight * credit
            remaining -= weight
        return {idx: v / total for idx, v in acc.items()}

    def _typo_neighbours(self, key: str) -> list[str]:
        found: set[str] = set()
        for near in _deletes(key) | {key}:
            found |= self._near.get(near, set())
        # Keys are cut words, so an edit near the cut shows as two ("passw" vs "paswo" for
        # "pasword"): one edit within the first four letters is also a typo neighbour.
        hits = [
            k
            for k in found
            if k in self._postings
            and k != key
            and (
                OSA.distance(k, key, score_cutoff=1) <= 1
                or OSA.distance(k[:SECONDARY_LEN], key[:SECONDARY_LEN], score_cutoff=1) <= 1
            )
        ]
        hits.sort(key=lambda k: (-len(self._postings[k]), k))
        return hits[:_MAX_FUZZY_KEYS]


__all__ = ["KnowledgeIndex", "Suggestion"]
