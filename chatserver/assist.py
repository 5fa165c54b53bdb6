"""The knowledge base and the bot as the hub uses them: one in-memory index kept in step
with the store, live suggestions for agents, and one bot brain per waiting conversation.

Matching is CPU work (milliseconds on a large KB), so it runs on one worker thread: the
event loop stays free, and index updates and lookups never interleave. Public search (the
widget's, unauthenticated) has a thread of its own with a bounded waiting room, so a
stranger's burst is refused instead of queueing in front of agents' suggestions; edits
hold ``_edit_lock`` so that thread never reads an index being changed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from chatserver.bot.brain import BotBrain, BotReply, HumanRequested
from chatserver.store import Store, now_ms
from chatserver.tasks import TaskSet
from chatserver.workers import BoundedPool
from kb.article import Article, CannedReply
from kb.canned import CannedIndex
from kb.matcher import KnowledgeIndex, Suggestion
from kb.models import KbArticle, KbCannedReply, article_to_row, canned_to_row, row_to_article

log = logging.getLogger("livedesk.assist")

articles_t = KbArticle.__table__  # type: ignore[attr-defined]
canned_t = KbCannedReply.__table__  # type: ignore[attr-defined]
SUGGESTIONS = 3
TYPING_DEBOUNCE_S = 0.3


def suggestion_dict(s: Suggestion) -> dict[str, Any]:
    return {
        "article_id": s.article_id,
        "title": s.title,
        "snippet": s.snippet,
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
        self._brains: dict[str, BotBrain] = {}
        self._debounce: dict[str, asyncio.TimerHandle] = {}
        self._latest: dict[str, tuple[str, str | None, Any]] = {}
        self._suggesting: set[str] = set()
        self.tasks = TaskSet("assistant")

    async def _run(self, fn: Any, *args: Any) -> Any:
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

        await self._run(build)
        log.info("knowledge base: %d articles, %d canned replies", len(articles), len(canned))

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

    async def public_search(self, text: str, lang: str | None, limit: int) -> list[Suggestion]:
        """The widget's search: on its own thread; ``workers.Busy`` when that is full."""
        return await self._public.run(self._search_unedited, text, lang, limit)

    def _search_unedited(self, text: str, lang: str | None, limit: int) -> list[Suggestion]:
        with self._edit_lock:
            return list(self.index.suggest(text, lang, limit))

    def _edit(self, change: Callable[[Any], Any], arg: Any) -> Any:
        with self._edit_lock:
            return change(arg)

    async def article(self, article_id: str) -> Article | None:
        return await self._run(self.index.get, article_id)

    async def canned_lookup(
        self, prefix: str, lang: str | None, limit: int = 5
    ) -> list[CannedReply]:
        return list(await self._run(self.canned.lookup, prefix, lang, limit))

    def suggest_latest(
        self, key: str, text: str, lang: str | None, deliver: Callable[[list[Suggestion]], None]
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
                deliver(await self.suggest(text, lang))
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
        stamped = Article(
            id=article.id,
            lang=article.lang,
            title=article.title,
            body=article.body,
            tags=article.tags,
            updated_ms=now_ms(),
        )
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
        return stamped

    async def delete_article(self, article_id: str) -> bool:
        deleted = await self.store.write(
            lambda conn: (
                conn.execute(sa.delete(articles_t).where(articles_t.c.id == article_id)).rowcount
            )
        )
        await self._run(self._edit, self.index.remove, article_id)
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

    # ------------------------------------------------------------------ the bot

    def has_brain(self, conv_id: str) -> bool:
        return conv_id in self._brains

    def brain(self, conv_id: str, lang: str | None) -> BotBrain:
        brain = self._brains.get(conv_id)
        if brain is None:
            brain = self._brains[conv_id] = BotBrain(self.index, lang)
        return brain

    def forget(self, conv_id: str) -> BotBrain | None:
        handle = self._debounce.pop(conv_id, None)
        if handle is not None:
            handle.cancel()
        return self._brains.pop(conv_id, None)

    async def bot_replies(
        self, conv_id: str, lang: str | None, text: str
    ) -> list[BotReply | HumanRequested]:
        brain = self.brain(conv_id, lang)
        return list(await self._run(brain.on_visitor_message, text, now_ms()))


def bot_message_data(reply: BotReply) -> dict[str, Any]:
    """What a bot message carries beside its text: its kind and the articles it offers."""
    return {
        "bot_kind": reply.kind,
        "articles": [
            {"id": s.article_id, "title": s.title, "snippet": s.snippet} for s in reply.articles
        ],
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
        "updated_ms": article.updated_ms,
    }
