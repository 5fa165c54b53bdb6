"""The kb tables (imported by ``chatserver.backends.models`` so they join the shared metadata)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kb.article import Article, CannedReply


class KbArticle(SQLModel, table=True):
    __tablename__ = "kb_articles"

    id: str = Field(primary_key=True, max_length=64)
    lang: str = Field(max_length=16, index=True)
    title: str = Field(max_length=300)
    body: str = Field(sa_type=sa.Text)
    # A JSON list of strings: tags may hold commas, and JSON reads the same on both backends.
    tags: str = Field(default="[]", sa_type=sa.Text)
    answer: str = Field(default="", sa_type=sa.Text)
    # Articles that translate one another share it (the editor links them); None: alone.
    translation_group: str | None = Field(default=None, max_length=64, index=True)
    created_ms: int = Field(sa_type=sa.BigInteger)
    # The in-memory index is rebuilt per article from rows newer than it has seen.
    updated_ms: int = Field(sa_type=sa.BigInteger, index=True)


class KbCannedReply(SQLModel, table=True):
    __tablename__ = "kb_canned_replies"
    __table_args__ = (sa.UniqueConstraint("shortcut", "lang", name="uq_kb_canned_shortcut_lang"),)

    id: int | None = Field(default=None, primary_key=True)
    shortcut: str = Field(max_length=64)
    text: str = Field(sa_type=sa.Text)
    lang: str = Field(max_length=16)
    updated_ms: int = Field(sa_type=sa.BigInteger)


def article_to_row(article: Article, now_ms: int) -> KbArticle:
    return KbArticle(
        id=article.id,
        lang=article.lang,
        title=article.title,
        body=article.body,
        tags=json.dumps(list(article.tags), ensure_ascii=False),
        answer=article.answer,
        translation_group=article.group or None,
        created_ms=now_ms,
        updated_ms=article.updated_ms or now_ms,
    )


def row_to_article(row: KbArticle) -> Article:
    tags = json.loads(row.tags or "[]")
    return Article(
        id=row.id,
        lang=row.lang,
        title=row.title,
        body=row.body,
        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        updated_ms=row.updated_ms,
        answer=row.answer or "",
        group=row.translation_group or "",
    )


def canned_to_row(reply: CannedReply, now_ms: int) -> KbCannedReply:
    return KbCannedReply(
        id=reply.id, shortcut=reply.shortcut, text=reply.text, lang=reply.lang, updated_ms=now_ms
    )


def row_to_canned(row: KbCannedReply) -> CannedReply:
    return CannedReply(shortcut=row.shortcut, text=row.text, lang=row.lang, id=row.id)
