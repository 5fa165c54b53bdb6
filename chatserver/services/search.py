"""Search over messages and customers: texts folded like the knowledge base's
(``kb.normalize``: no case, no diacritics, Serbian Cyrillic read as Latin), indexed by the
database's own full-text engine, queried as word prefixes, answered with snippets whose
highlights are character ranges into the original text (the client renders them as text).

The indexer reads what was written since its last batch: in a loop owned by the app, and
once more before each search, so a search finds what was just written.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from chatserver.backends import search_queries as sq
from chatserver.backends.inbox_queries import Filters
from chatserver.backends.store import now_ms
from kb.normalize import fold_variants, words

log = logging.getLogger("livedesk.search")

# Rows per indexing transaction. The one writer thread also commits every message, and
# a chunk's full-text inserts hold it: at 1,000 messages/s the round trip's p99 was 40 ms
# with 200 rows a chunk, 17 ms with 50, and 10 ms with no indexing at all.
BATCH = 50
MAX_TERMS = 8
MIN_TERM = 2
SNIPPET_BEFORE = 60
SNIPPET_LENGTH = 200
_WORD = re.compile(r"\w+")


def fold_for_index(text: str, lang: str | None) -> str:
    """Every reading of the text (Cyrillic that may be Serbian is indexed both ways)."""
    variants = fold_variants(text, lang)
    return variants[0] if len(variants) == 1 else " ".join(dict.fromkeys(variants))


def query_variants(q: str) -> list[list[str]]:
    """The query's readings, each a list of folded words to match as prefixes."""
    out: list[list[str]] = []
    for variant in fold_variants(q):
        terms = [t for t in dict.fromkeys(words(variant)) if len(t) >= MIN_TERM][:MAX_TERMS]
        if terms and terms not in out:
            out.append(terms)
    return out


@dataclass(frozen=True, slots=True)
class Snippet:
    text: str
    highlights: list[tuple[int, int]]  # [start, end) into ``text``

    def as_json(self) -> dict[str, Any]:
        """Ranges in UTF-16 code units, as JavaScript indexes strings (an emoji before a
        hit would shift Python's code-point offsets)."""

        def js(i: int) -> int:
            return len(self.text[:i].encode("utf-16-le")) // 2

        return {"text": self.text, "highlights": [[js(a), js(b)] for a, b in self.highlights]}


def snippet(text: str, variants: list[list[str]], lang: str | None = None) -> Snippet:
    """A window of ``text`` around its first hit, with every word that a query term
    begins marked (the same folding as the index, word by word)."""
    terms = {t for v in variants for t in v}
    hits: list[tuple[int, int]] = []
    for m in _WORD.finditer(text):
        forms = fold_variants(m.group(), lang)
        if any(w.startswith(t) for form in forms for w in words(form) for t in terms):
            hits.append((m.start(), m.end()))
    start = max(0, hits[0][0] - SNIPPET_BEFORE) if hits else 0
    if start:
        space = text.find(" ", start)
        if space != -1 and space < hits[0][0]:
            start = space + 1
    end = min(len(text), start + SNIPPET_LENGTH)
    piece = text[start:end]
    ranges = [(a - start, min(b, end) - start) for a, b in hits if a >= start and a < end]
    prefix = "…" if start else ""
    suffix = "…" if end < len(text) else ""
    shift = len(prefix)
    return Snippet(prefix + piece + suffix, [(a + shift, b + shift) for a, b in ranges])


class SearchIndex:
    def __init__(self, store: Any, interval_s: float) -> None:
        self.store = store
        self.interval_s = interval_s
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._searches_waiting = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="livedesk-search-index")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                await self.catch_up(paced=True)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("search indexing failed; retrying")
            await asyncio.sleep(self.interval_s)

    async def catch_up(self, max_batches: int = 2000, *, paced: bool = False) -> int:
        """Index what was written since the last batch (one indexer at a time per process;
        the marks make two processes' batches safe, the unique (kind, ref) refuses a double).

        ``paced``: after each chunk, wait as long as the chunk took, unless a search waits.
        Unpaced, a catch-up ran as one burst, its threads taking the GIL and the writer
        from the event loop, and the slowest round trips of a loaded hub fell in those
        bursts."""
        done = 0
        if not await self.store.read(sq.pending):
            return 0
        loop = asyncio.get_running_loop()
        async with self._lock:
            try:
                for _ in range(max_batches):
                    started = loop.time()
                    # Read, folded and written in one go: on SQLite on the event loop
                    # while the writer thread is idle. The read used to go to a reader
                    # thread first: a hop there and back for each chunk, and that thread's
                    # Python taking the GIL from the loop's, so the loop waited about as
                    # long as it now folds itself. Indexing 100,000 messages took 6.4 s,
                    # now 5.5 (benchmarks/search.py), and a loaded hub spent 5% more CPU
                    # in all (benchmarks/hub_roundtrip.py, side by side).
                    made = await self.store.write_plain(
                        functools.partial(
                            sq.index_messages, fold=fold_for_index, limit=BATCH, now=now_ms()
                        )
                    )
                    done += made.read
                    if made.read < BATCH:
                        break
                    if paced and not self._searches_waiting:
                        await asyncio.sleep(loop.time() - started)
                for _ in range(max_batches):
                    m = await self.store.write(
                        lambda c: sq.index_customers(c, fold_for_index, BATCH)
                    )
                    done += m
                    if m < BATCH:
                        break
            except IntegrityError:
                # Another hub process indexed the same batch at the same moment: its
                # transaction won, and the marks it wrote say so; nothing is lost.
                log.info("search batch indexed by another process")
        return done

    async def search(self, q: str, kind: str, f: Filters) -> tuple[list[dict[str, Any]], int]:
        variants = query_variants(q)
        if not variants:
            return [], 0
        self._searches_waiting += 1
        try:
            await self.catch_up()
        finally:
            self._searches_waiting -= 1
        if kind == "customers":
            rows, total = await self.store.read(lambda c: sq.search_customers(c, variants, f))
            for r in rows:
                label = " ".join(p for p in (r["name"], r["email"], r["customer_email"]) if p)
                r["snippet"] = snippet(label, variants, r["language"]).as_json()
            return rows, total
        rows, total = await self.store.read(lambda c: sq.search_messages(c, variants, f))
        for r in rows:
            r["snippet"] = snippet(r.pop("body"), variants, r["language"]).as_json()
        return rows, total
