"""The knowledge base and the bot as the hub uses them: one in-memory index kept in step
with the store, live suggestions for agents, and the bot's turns in waiting conversations.

Matching is CPU work (milliseconds on a large KB), so it runs on one worker thread: the
event loop stays free, and index updates and lookups never interleave. Public search (the
widget's, unauthenticated) has a thread of its own with a bounded waiting room, so a
stranger's burst is refused instead of queueing in front of agents' suggestions; every
change to the index holds ``_edit_lock`` so that thread never reads one half made.

Every node keeps its own index, so an edit must reach all of them: the node that writes
announces the changed ids on the bus (``change_listeners``) and each node re-reads them from the
store (``refresh``); a slow check of the tables (``sync``) catches writes nobody announced,
such as ``livedesk kb import`` into a running hub's database or a frame the bus dropped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import Connection

from chatserver.backends.store import Store, now_ms
from chatserver.bot.brain import BotBrain, BotReply, HumanRequested
from chatserver.bot.transcript import BotState, fold, item_of_row
from chatserver.runtime.tasks import TaskSet
from chatserver.runtime.workers import BoundedPool
from kb.article import Article, CannedReply, base_lang
from kb.canned import CannedIndex
from kb.matcher import KnowledgeIndex, Suggestion
from kb.models import KbArticle, KbCannedReply, article_to_row, canned_to_row, row_to_article
from kb.reply import whole_reply

T = TypeVar("T")

log = logging.getLogger("livedesk.assist")

articles_t = KbArticle.__table__  # type: ignore[attr-defined]
canned_t = KbCannedReply.__table__  # type: ignore[attr-defined]
SUGGESTIONS = 3
TYPING_DEBOUNCE_S = 0.3
# Ids per store read when re-reading changed articles (SQLite caps bound parameters).
REFRESH_CHUNK = 500
# A bus frame names at most this many ids; a bigger change asks every node for a full sync.
ANNOUNCE_MAX_IDS = 200
# The Help view's list shows the first sentence or so of each article.
TOP_SNIPPET_CHARS = 160
# Items per store read when folding a transcript into the bot's state.
FOLD_PAGE = 500


def suggestion_dict(s: Suggestion, article: Article | None = None) -> dict[str, Any]:
    """One suggestion on the wire; ``reply`` is what Insert puts into the agent's composer."""
    return {
        "article_id": s.article_id,
        "title": s.title,
        "snippet": s.snippet,
        "reply": whole_reply(article) if article is not None else s.snippet,
        "score": round(s.score, 3),
        "lang": s.lang,
    }


class Assistant:
    def __init__(self, store: Store, search_queue: int = 8) -> None:
        self.store = store
        self.index = KnowledgeIndex()
        self.canned = CannedIndex()
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="livedesk-kb")
        self._public = BoundedPool("kb-search", 1, search_queue)
        self._edit_lock = threading.Lock()
        # The bot's state per open conversation: only a cache of the stored transcript's
        # fold (``bot_state`` reads the items after it), never the truth.
        self._bot_states: dict[str, BotState] = {}
        self._debounce: dict[str, asyncio.TimerHandle] = {}
        self._latest: dict[str, tuple[str, str | None, Any]] = {}
        self._suggesting: set[str] = set()
        self.tasks = TaskSet("assistant")
        # Registered by the composition root: tell every node (this one included) which
        # articles changed (None: too many to name), and which canned replies were saved,
        # named by (shortcut, lang), so every node's `/shortcut` sees a saved reply at once.
        self.change_listeners: list[Callable[[list[str] | None], None]] = []
        self.canned_change_listeners: list[Callable[[list[tuple[str, str]]], None]] = []
        self._signature: tuple[int, int, int] | None = None
        self._opened: Counter[str] = Counter()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    # ------------------------------------------------------------------ lifecycle

    async def load(self) -> None:
        def read(conn: Connection) -> tuple[list[Any], list[Any]]:
            return (
                list(conn.execute(sa.select(articles_t))),
                list(conn.execute(sa.select(canned_t))),
            )

        article_rows, canned_rows = await self.store.read(read)
        articles = [
            row_to_article(KbArticle.model_validate(dict(r._mapping))) for r in article_rows
        ]
        canned = [
            CannedReply(shortcut=r.shortcut, text=r.text, lang=r.lang, id=r.id) for r in canned_rows
        ]

        def build() -> None:
            self.index = KnowledgeIndex(articles)
            self.canned = CannedIndex(canned)

        signature = await self._read_signature()
        await self._run(build)
        self._signature = signature
        log.info("knowledge base: %d articles, %d canned replies", len(articles), len(canned))

    # ------------------------------------------------------------------ keeping in step

    async def _read_signature(self) -> tuple[int, int, int]:
        """Changes whenever an article is added, edited or deleted, by anyone."""

        def read(conn: Connection) -> tuple[int, int, int]:
            stamp = articles_t.c.updated_ms
            row = conn.execute(sa.select(sa.func.count(), sa.func.max(stamp), sa.func.sum(stamp)))
            count, newest, total = row.one()
            return int(count), int(newest or 0), int(total or 0)

        return await self.store.read(read)

    async def refresh(self, ids: Sequence[str]) -> int:
        """Re-read the named articles from the store: changed ones are re-indexed, deleted
        ones dropped, unchanged ones left alone. Returns how many changed here."""
        wanted = list(dict.fromkeys(ids))
        rows: list[Any] = []
        for start in range(0, len(wanted), REFRESH_CHUNK):
            chunk = wanted[start : start + REFRESH_CHUNK]

            def read(conn: Connection, chunk: list[str] = chunk) -> list[Any]:
                return list(conn.execute(sa.select(articles_t).where(articles_t.c.id.in_(chunk))))

            rows.extend(await self.store.read(read))
        fresh = {
            a.id: a
            for a in (row_to_article(KbArticle.model_validate(dict(r._mapping))) for r in rows)
        }

        def apply() -> int:
            with self._edit_lock:
                return apply_locked()

        def apply_locked() -> int:
            changed = 0
            for article_id in wanted:
                article = fresh.get(article_id)
                if article is None:
                    changed += self.index.remove(article_id)
                elif self.index.get(article_id) != article:
                    self.index.upsert(article)
                    changed += 1
            return changed

        return int(await self._run(apply))

    async def sync(self) -> int:
        """Catch up with article writes this node was not told of; cheap when there are none."""
        signature = await self._read_signature()
        if signature == self._signature:
            return 0

        def read(conn: Connection) -> dict[str, int]:
            rows = conn.execute(sa.select(articles_t.c.id, articles_t.c.updated_ms))
            return {r.id: r.updated_ms for r in rows}

        stored = await self.store.read(read)
        known = {a.id: a.updated_ms for a in await self._run(self.index.articles)}
        stale = [i for i, stamp in stored.items() if known.get(i) != stamp]
        gone = [i for i in known if i not in stored]
        changed = await self.refresh(stale + gone) if stale or gone else 0
        # Taken before the rows were read: a write in between changes it again next time.
        self._signature = signature
        if changed:
            log.info("knowledge base: %d articles changed in the store", changed)
        return changed

    def on_bus(self, ids: list[str] | None, canned: Any = None) -> None:
        """Another node (or this one) announced changed articles (None: too many to name)
        and canned replies ([shortcut, lang] pairs; anything else in the list is ignored)."""
        if ids is None:
            self._signature = None
            self.spawn(self.sync())
        elif ids:
            self.spawn(self.refresh(ids))
        if isinstance(canned, list):
            keys = [
                (k[0], k[1])
                for k in canned[:ANNOUNCE_MAX_IDS]
                if isinstance(k, list | tuple)
                and len(k) == 2
                and all(isinstance(part, str) for part in k)
            ]
            if keys:
                self.spawn(self.refresh_canned(keys))

    async def refresh_canned(self, keys: Sequence[tuple[str, str]]) -> None:
        """Re-read the named canned replies from the store: saved ones replace this node's
        copy, deleted ones leave it. What a frame names is only a key: the text is the store's."""
        wanted = list(dict.fromkeys(keys))

        def read(conn: Connection) -> list[Any]:
            match = sa.tuple_(canned_t.c.shortcut, canned_t.c.lang).in_(wanted)
            return list(conn.execute(sa.select(canned_t).where(match)))

        rows = await self.store.read(read)
        fresh = {
            (r.shortcut, r.lang): CannedReply(
                shortcut=r.shortcut, text=r.text, lang=r.lang, id=r.id
            )
            for r in rows
        }

        def apply() -> None:
            for key in wanted:
                reply = fresh.get(key)
                if reply is None:
                    self.canned.remove(*key)
                else:
                    self.canned.upsert(reply)

        await self._run(apply)

    def start_sync(self, interval_s: float) -> None:
        if interval_s > 0:
            self.spawn(self._sync_loop(interval_s))

    async def _sync_loop(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)  # a period, not a wait for something
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is down: try again next period
                log.warning("knowledge base sync failed: %r", exc)

    def announce(self, ids: list[str]) -> None:
        if not ids:
            return
        named = ids if len(ids) <= ANNOUNCE_MAX_IDS else None
        for listener in self.change_listeners:
            listener(named)

    async def stop(self) -> None:
        for handle in self._debounce.values():
            handle.cancel()
        await self.tasks.stop()
        self._worker.shutdown(wait=False, cancel_futures=True)
        self._public.shutdown()

    def spawn(self, coro: Any) -> None:
        self.tasks.spawn(coro)

    # ------------------------------------------------------------------ lookups

    async def suggest(
        self, text: str, lang: str | None, limit: int = SUGGESTIONS
    ) -> list[Suggestion]:
        return list(await self._run(self.index.suggest, text, lang, limit))

    async def suggestion_items(
        self, text: str, lang: str | None, limit: int = SUGGESTIONS
    ) -> list[dict[str, Any]]:
        """Suggestions as the wire carries them, whole replies included (on the worker, where
        the index is read)."""

        def items() -> list[dict[str, Any]]:
            found = self.index.suggest(text, lang, limit)
            return [suggestion_dict(s, self.index.get(s.article_id)) for s in found]

        return list(await self._run(items))

    async def public_search(self, text: str, lang: str | None, limit: int) -> list[dict[str, Any]]:
        """The widget's search, whole replies included: on its own thread; ``workers.Busy``
        when that is full."""
        return list(await self._public.run(self._search_unedited, text, lang, limit))

    def _search_unedited(self, text: str, lang: str | None, limit: int) -> list[dict[str, Any]]:
        with self._edit_lock:
            found = self.index.suggest(text, lang, limit)
            return [suggestion_dict(s, self.index.get(s.article_id)) for s in found]

    def _edit(self, change: Callable[[Any], Any], arg: Any) -> Any:
        with self._edit_lock:
            return change(arg)

    async def article(self, article_id: str) -> Article | None:
        found: Article | None = await self._run(self.index.get, article_id)
        if found is not None:
            self._opened[article_id] += 1
        return found

    async def translations(self, article: Article) -> list[Article]:
        """The other articles of ``article``'s translation group, by language."""
        if not article.group:
            return []

        def find() -> list[Article]:
            return sorted(
                (
                    a
                    for a in self.index.articles()
                    if a.group == article.group and a.id != article.id
                ),
                key=lambda a: (a.lang, a.id),
            )

        return await self._run(find)

    async def top_articles(self, lang: str | None, limit: int) -> list[Article]:
        """What the Help view shows before anyone types: the articles in the visitor's
        language read most often on this node, then the newest."""
        wanted = base_lang(lang)

        def pick() -> list[Article]:
            mine = [
                a for a in self.index.articles() if wanted is None or base_lang(a.lang) == wanted
            ]
            mine.sort(key=lambda a: (-self._opened[a.id], -a.updated_ms, a.title))
            return mine[:limit]

        return list(await self._run(pick))

    async def canned_lookup(
        self, prefix: str, lang: str | None, limit: int = 5
    ) -> list[CannedReply]:
        return list(await self._run(self.canned.lookup, prefix, lang, limit))

    def suggest_latest(
        self,
        key: str,
        text: str,
        lang: str | None,
        deliver: Callable[[list[dict[str, Any]]], None],
    ) -> None:
        """Suggestions for a conversation's latest words. While one lookup runs, newer
        text replaces older, so a fast writer costs one lookup at a time, not one each."""
        if not len(self.index):
            return  # an empty knowledge base has nothing to suggest
        self._latest[key] = (text, lang, deliver)
        if key not in self._suggesting:
            self._suggesting.add(key)
            self.spawn(self._suggest_loop(key))

    async def _suggest_loop(self, key: str) -> None:
        try:
            while key in self._latest:
                text, lang, deliver = self._latest.pop(key)
                deliver(await self.suggestion_items(text, lang))
        finally:
            self._suggesting.discard(key)

    def debounce(self, key: str, coro_fn: Any) -> None:
        """Run ``coro_fn()`` once typing has paused for TYPING_DEBOUNCE_S."""
        old = self._debounce.pop(key, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._debounce.pop(key, None)
            self.spawn(coro_fn())

        self._debounce[key] = loop.call_later(TYPING_DEBOUNCE_S, fire)

    # ------------------------------------------------------------------ editing

    async def save_article(self, article: Article) -> Article:
        stamped = dataclasses.replace(article, updated_ms=now_ms())
        row = article_to_row(stamped, stamped.updated_ms).model_dump()

        def write(conn: Connection) -> None:
            values = {k: v for k, v in row.items() if k != "created_ms"}
            updated = conn.execute(
                sa.update(articles_t).where(articles_t.c.id == stamped.id).values(**values)
            )
            if updated.rowcount == 0:
                conn.execute(sa.insert(articles_t).values(**row))

        await self.store.write(write)
        # Only this article is re-indexed: an edit never rebuilds the whole index.
        await self._run(self._edit, self.index.upsert, stamped)
        self.announce([stamped.id])
        return stamped

    async def delete_article(self, article_id: str) -> bool:
        deleted = await self.store.write(
            lambda conn: (
                conn.execute(sa.delete(articles_t).where(articles_t.c.id == article_id)).rowcount
            )
        )
        await self._run(self._edit, self.index.remove, article_id)
        self.announce([article_id])
        return bool(deleted)

    async def save_canned(self, reply: CannedReply) -> None:
        row = canned_to_row(reply, now_ms()).model_dump(exclude={"id"})

        def write(conn: Connection) -> None:
            updated = conn.execute(
                sa.update(canned_t)
                .where(canned_t.c.shortcut == reply.shortcut)
                .where(canned_t.c.lang == reply.lang)
                .values(**row)
            )
            if updated.rowcount == 0:
                conn.execute(sa.insert(canned_t).values(**row))

        await self.store.write(write)
        await self._run(self.canned.upsert, reply)
        for listener in self.canned_change_listeners:
            listener([(reply.shortcut, reply.lang)])

    # ------------------------------------------------------------------ the bot

    async def bot_state(self, conv_id: str) -> BotState:
        """The bot's state in a conversation: the stored transcript folded, from this
        node's cache on (only the items after it are read). Any node, or a restarted one,
        gets the same state from the same items."""
        state = self._bot_states.get(conv_id) or BotState()
        while True:
            rows = await self.store.messages_after(conv_id, state.last_seq, FOLD_PAGE)
            state = fold((item_of_row(r) for r in rows), state)
            if len(rows) < FOLD_PAGE:
                break
        known = self._bot_states.get(conv_id)
        if known is None or known.last_seq < state.last_seq:
            self._bot_states[conv_id] = state
        return state

    def brain(self, lang: str | None, state: BotState) -> BotBrain:
        """A brain for one turn, as of ``state``; it asks the index agents' suggestions use."""
        return BotBrain(_CurrentIndex(self), lang, state)

    def drop_state(self, conv_id: str) -> None:
        """Drop the cached fold (the transcript still holds everything it knew)."""
        self._bot_states.pop(conv_id, None)

    def forget(self, conv_id: str) -> None:
        """The conversation closed: nothing of it is kept here."""
        handle = self._debounce.pop(conv_id, None)
        if handle is not None:
            handle.cancel()
        self.drop_state(conv_id)

    async def bot_replies(
        self, conv_id: str, lang: str | None, seq: int
    ) -> tuple[BotState, list[BotReply | HumanRequested]]:
        """The bot's replies to visitor message ``seq``, and its state before them; no
        replies when the transcript shows it replied already (or holds no such message)."""
        state = await self.bot_state(conv_id)
        text = state.question(seq)
        if text is None:
            return state, []
        brain = self.brain(lang, state)
        return state, list(await self._run(brain.reply_to, seq, text, now_ms()))


class _CurrentIndex:
    """The bot asks whatever index agents' suggestions use at that moment (``load`` may
    replace it), so the bot and the agents never disagree about the knowledge base."""

    def __init__(self, assistant: Assistant) -> None:
        self._assistant = assistant

    def suggest(self, text: str, lang: str | None = None, limit: int = 3) -> list[Suggestion]:
        return self._assistant.index.suggest(text, lang, limit)

    def best(self, text: str, lang: str | None = None) -> Suggestion | None:
        return self._assistant.index.best(text, lang)


def kb_changed_frame(
    ids: list[str] | None, canned: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    """The bus frame that tells every node's assistant to re-read articles (None: all) and
    canned replies (their (shortcut, lang) keys)."""
    frame: dict[str, Any] = {"type": "kb_changed", "articles": ids}
    if canned:
        frame["canned"] = [list(key) for key in canned]
    return frame


def top_article_dict(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        "title": article.title,
        "snippet": whole_reply(article, TOP_SNIPPET_CHARS),
        "lang": article.lang,
    }


def canned_dict(reply: CannedReply) -> dict[str, Any]:
    return {"shortcut": reply.shortcut, "text": reply.text, "lang": reply.lang}


def article_dict(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        "lang": article.lang,
        "title": article.title,
        "body": article.body,
        "tags": list(article.tags),
        "answer": article.answer,
        "reply": whole_reply(article),
        "updated_ms": article.updated_ms,
        "group": article.group,
    }
