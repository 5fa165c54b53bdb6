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
    SHORT_MARK,
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
# Float sums of the same weights in another order may differ in the last bits.
_BOUND_SLACK = 1.0 + 1e-9
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
        # With a zero field weight, a word found only there earns nothing and finds nothing.
        self._every_field_counts = min(self._field_weight[1:]) > 0.0
        self._top_field_weight = max(self._field_weight)
        # Masks with a strongest field in them: a primary key there earns full credit.
        self._full_mask = [w == self._top_field_weight for w in self._field_weight]
        self._docs: dict[int, _Doc] = {}
        self._ids: dict[str, int] = {}
        self._next = 0
        self._postings: dict[str, dict[int, int]] = {}
        self._head_df: dict[str, int] = {}
        # Article slots by base language: the language factor touches only the other ones.
        self._by_base: dict[str | None, set[int]] = {}
        # Per key, the articles that have it in a strongest field (the title, by default): a
        # query word found through its primary key there earns full credit.
        self._full: dict[str, set[int]] = {}
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
                # Each distinct word once: a body says "order" many times, one key set will do.
                for word in dict.fromkeys(content_words(text)):
                    for key in index_keys(word, short_prefix=field == TITLE):
                        fields[key] = fields.get(key, 0) | field
        for tag in article.tags:
            for variant in fold_variants(tag, article.lang):
                for word in content_words(variant):
                    for key in index_keys(word, short_prefix=True):
                        fields[key] = fields.get(key, 0) | TAGS
        idx = self._next
        self._next += 1
        postings, head_df, full_mask = self._postings, self._head_df, self._full_mask
        for key, mask in fields.items():
            posting = postings.get(key)
            if posting is None:
                posting = postings[key] = {}
                if len(key) >= SECONDARY_LEN and key[0].isalnum():
                    for near in _deletes(key) | {key}:
                        self._near.setdefault(near, set()).add(key)
            posting[idx] = mask
            if mask & (TITLE | TAGS):
                head_df[key] = head_df.get(key, 0) + 1
            if full_mask[mask] and key[0] != SHORT_MARK:
                self._full.setdefault(key, set()).add(idx)
        base = base_lang(article.lang)
        self._by_base.setdefault(base, set()).add(idx)
        self._docs[idx] = _Doc(
            article=article,
            base=base,
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
        same_base = self._by_base[doc.base]
        same_base.discard(idx)
        if not same_base:
            del self._by_base[doc.base]
        postings, head_df, full_mask = self._postings, self._head_df, self._full_mask
        for key in doc.keys:
            posting = postings[key]
            mask = posting.pop(idx)
            if mask & (TITLE | TAGS):
                head_df[key] -= 1
                if not head_df[key]:
                    del head_df[key]
            if full_mask[mask] and key[0] != SHORT_MARK:
                full = self._full[key]
                full.discard(idx)
                if not full:
                    del self._full[key]
            if not posting:
                # The typo neighbours may still point here; lookups check the key still exists.
                del postings[key]
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
        factor = self.other_language_factor
        variants = fold_variants(text, lang)
        # Articles with full credit for every query word are sure to be the shortlist when there
        # is one reading of the text, and then (other languages marked down) only those in the
        # visitor's language count: see _full_credit.
        full_credit = len(variants) == 1 and factor <= 1.0 and self._top_field_weight > 0.0
        within = None
        if full_credit and want is not None and factor < 1.0:
            within = self._by_base.get(want, set())
        found: list[tuple[dict[int, float], float, str]] = []
        for variant in variants:
            query_words = list(dict.fromkeys(content_words(variant)))
            if not query_words:
                continue
            raw, total = self._coverage(query_words, floor, full_credit, within)
            if raw:
                found.append((raw, total, " ".join(words(variant))))
        if not found:
            return []
        # (slot, coverage, the variant it was found with), RERANK_CANDIDATES best by coverage.
        shortlist: list[tuple[int, float, str]] = []
        if len(found) == 1:
            # The usual case: rank the raw sums (coverage is raw / total, one total for all)
            # and divide only for the shortlist; the language factor touches only the
            # articles in another language, found by a set difference.
            raw, total, joined = found[0]
            other: dict[int, float] = {}
            if want is not None:
                other = {i: raw[i] for i in raw.keys() - self._by_base.get(want, set())}
                for idx, v in other.items():
                    raw[idx] = v * factor
            for idx, _ in heapq.nlargest(RERANK_CANDIDATES, raw.items(), key=itemgetter(1)):
                if idx in other:
                    shortlist.append((idx, other[idx] / total * factor, joined))
                else:
                    shortlist.append((idx, raw[idx] / total, joined))
        else:
            coverage: dict[int, float] = {}
            query_of: dict[int, str] = {}
            for raw, total, joined in found:
                for idx, v in raw.items():
                    cov = v / total
                    if cov > coverage.get(idx, 0.0):
                        coverage[idx] = cov
                        query_of[idx] = joined
            if want is not None:
                for idx in coverage.keys() - self._by_base.get(want, set()):
                    coverage[idx] *= factor
            shortlist = [
                (idx, cov, query_of[idx])
                for idx, cov in heapq.nlargest(
                    RERANK_CANDIDATES, coverage.items(), key=itemgetter(1)
                )
            ]
        scored: list[tuple[float, int]] = []
        for idx, cov, joined in shortlist:
            doc = self._docs[idx]
            similar = fuzz.token_set_ratio(joined, doc.title_words, processor=None) / 100.0
            lang_factor = 1.0 if want is None or doc.base == want else factor
            score = (1.0 - self.fuzz_weight) * cov + self.fuzz_weight * similar * lang_factor
            scored.append((min(1.0, score), idx))
        scored.sort(key=lambda si: (-si[0], self._docs[si[1]].article.id))
        out: list[Suggestion] = []
        for score, idx in scored[:limit]:
            a = self._docs[idx].article
            out.append(Suggestion(a.id, round(score, 4), a.title, a.lang, self._docs[idx].snippet))
        return out

    def _coverage(
        self,
        query_words: list[str],
        floor_factor: float,
        full_credit: bool = False,
        within: set[int] | None = None,
    ) -> tuple[dict[int, float], float]:
        """Per candidate article, the rarity-weighted sum of the query words it contains, and
        the sum of all the query words' weights: coverage is the one divided by the other.

        Words are taken rarest first (MaxScore): once the words left could not lift an article
        that has none of the earlier ones into the rerank shortlist, they are only looked up for
        articles already in it, instead of walking their (long) posting lists.

        With ``full_credit``, when enough articles (``within`` that set, if given) earn full
        credit for every word, they are found by intersecting sets and nothing is walked: see
        ``_full_credit`` for when that is exact.
        """
        n = len(self._docs)
        postings = self._postings
        plan: list[tuple[float, list[tuple[str, float]]]] = []
        for word in query_words:
            keys = query_keys(word)
            primary = primary_key(word)
            rarity_key: str | None = primary if primary in postings else None
            if rarity_key is None and len(primary) >= SECONDARY_LEN:
                fuzzy = self._typo_neighbours(primary)
                keys.extend((k, FUZZY_QUALITY) for k in fuzzy)
                if fuzzy:
                    rarity_key = max(fuzzy, key=lambda k: len(postings[k]))
            if rarity_key is None:
                weight = UNKNOWN_WORD_FACTOR * math.log(1.0 + (n + 0.5) / 0.5)
            else:
                head = self._head_df.get(rarity_key, 0)
                df = head + BODY_DF_SHARE * (len(postings[rarity_key]) - head)
                weight = max(0.1, math.log(1.0 + (n - df + 0.5) / (df + 0.5)))
            plan.append((weight, [(k, q) for k, q in keys if k in postings]))
        total = sum(w for w, _ in plan)
        if not total:
            return {}, 0.0
        plan.sort(key=lambda wk: -wk[0])
        if full_credit:
            sure = self._full_credit(plan, within)
            if sure is not None:
                return sure, total
        remaining = total
        acc: dict[int, float] = {}
        fw = self._field_weight
        for weight, keys in plan:
            # A word in thousands of articles says little; past the cap it only re-ranks the
            # articles the rarer words found (a bound on latency, not on exactness).
            walk = sum(len(postings[k]) for k, _ in keys)
            probe = bool(acc) and walk > MAX_WALK
            if not probe and len(acc) >= RERANK_CANDIDATES:
                # No article outside ``acc`` can reach the shortlist any more once the words
                # left weigh less than its k-th best.  That k-th best is at most what the words
                # so far can earn: only when that is more than the words left is it worth finding.
                so_far = (total - remaining) * self._top_field_weight * _BOUND_SLACK
                if remaining <= so_far * floor_factor:
                    kth = heapq.nlargest(RERANK_CANDIDATES, acc.values())[-1]
                    probe = remaining < kth * floor_factor
            # What each field mask earns for this word through each key: weight x quality x
            # field weight, so the loops below only index and add.
            if probe:
                # Probe, don't walk: only the articles already found can still get in.
                tables = [(postings[k], [weight * (q * f) for f in fw]) for k, q in keys]
                if len(tables) == 1:
                    posting, table = tables[0]
                    for idx in acc.keys() & posting.keys():
                        acc[idx] += table[posting[idx]]
                elif tables:
                    gets = [(posting.get, table) for posting, table in tables]
                    for idx in acc:
                        best = 0.0
                        for get, table in gets:
                            mask = get(idx)
                            if mask and table[mask] > best:
                                best = table[mask]
                        if best:
                            acc[idx] += best
            else:
                if walk > MAX_WALK:
                    # A very common first word: its weaker keys (supersets of the primary
                    # one) would multiply the walk for little gain.
                    keys = [kq for kq in keys if kq[1] == 1.0] or keys
                best_of: dict[int, float] = {}
                for key, quality in keys:
                    table = [weight * (quality * f) for f in fw]
                    posting = postings[key]
                    if not best_of and self._every_field_counts:
                        best_of = {idx: table[mask] for idx, mask in posting.items()}
                        continue
                    for idx, mask in posting.items():
                        credit = table[mask]
                        if credit > best_of.get(idx, 0.0):
                            best_of[idx] = credit
                if not acc:
                    acc = best_of
                else:
                    for idx, credit in best_of.items():
                        acc[idx] = acc.get(idx, 0.0) + credit
            remaining -= weight
        return acc, total

    def _full_credit(
        self, plan: list[tuple[float, list[tuple[str, float]]]], within: set[int] | None
    ) -> dict[int, float] | None:
        """The shortlist, when at least RERANK_CANDIDATES articles (``within`` that set) have
        every query word, through its primary key, in a strongest field; else None.

        No other article can score as high as these (each of them misses full credit for some
        word).  Among equals the walk keeps the ones it met first, and it meets them in slot
        order (slots only grow, so every posting list is oldest first): the RERANK_CANDIDATES
        smallest slots are exactly what it would shortlist.  Only with one reading of the text
        (several readings rank by the best of each) and, when other languages are marked down,
        ``within`` the visitor's.  A query of very common words only, the walk's worst case
        (thousands of articles to sum up), is usually answered here.
        """
        sets: list[set[int]] = []
        for _, keys in plan:
            if not keys or keys[0][1] != 1.0:  # the primary key is missing: a typo or unknown
                return None
            found = self._full.get(keys[0][0])
            if found is None or len(found) < RERANK_CANDIDATES:
                return None
            sets.append(found)
        if within is not None:
            sets.append(within)
        sets.sort(key=len)
        both = sets[0].intersection(*sets[1:])
        if len(both) < RERANK_CANDIDATES:
            return None
        # The same sum, in the same order, as the walk below adds up for each of them.
        raw = 0.0
        for weight, _ in plan:
            raw += weight * (1.0 * self._top_field_weight)
        return dict.fromkeys(sorted(both)[:RERANK_CANDIDATES], raw)

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
