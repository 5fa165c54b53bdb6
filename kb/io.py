"""Import and export of articles and canned replies: JSON Lines, Markdown folders, CSV.

Readers check every row and raise :class:`KbFormatError` naming the file and line, so a bad
import file is fixed in one pass instead of one error at a time after a partial import.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kb.article import Article, CannedReply
from kb.errors import KbFormatError

ARTICLE_FIELDS = ("id", "lang", "title", "body", "tags", "answer")
_REQUIRED = ("id", "lang", "title", "body")


def _tags(value: Any, where: tuple[str, int]) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return tuple(t.strip() for t in value if t.strip())
    raise KbFormatError(*where, "tags must be a list of strings or a comma-separated string")


# A translation group is named like an article id (the first article's, by the editor).
MAX_GROUP = 64


def article_from_mapping(row: Mapping[str, Any], source: str, line: int) -> Article:
    """One article from a decoded row; the single place import rules live."""
    where = (source, line)
    missing = [k for k in _REQUIRED if not isinstance(row.get(k), str) or not row[k].strip()]
    if missing:
        raise KbFormatError(*where, f"missing or empty field(s): {', '.join(missing)}")
    updated = row.get("updated_ms", row.get("updated", 0)) or 0
    if isinstance(updated, str) and updated.strip().isdigit():
        updated = int(updated)
    if not isinstance(updated, int) or isinstance(updated, bool) or updated < 0:
        raise KbFormatError(*where, "updated_ms must be a non-negative integer (epoch ms)")
    answer = row.get("answer")
    if answer is not None and not isinstance(answer, str):
        raise KbFormatError(*where, "answer must be a string")
    group = row.get("group")
    if group is not None and (not isinstance(group, str) or len(group.strip()) > MAX_GROUP):
        raise KbFormatError(*where, f"group must be a string of at most {MAX_GROUP} characters")
    return Article(
        id=row["id"].strip(),
        lang=row["lang"].strip(),
        title=row["title"].strip(),
        body=row["body"].strip(),
        tags=_tags(row.get("tags"), where),
        updated_ms=updated,
        answer=(answer or "").strip(),
        group=(group or "").strip(),
    )


def _check_unique(articles: list[Article], lines: list[int], source: str) -> None:
    seen: dict[str, int] = {}
    for article, line in zip(articles, lines, strict=True):
        if article.id in seen:
            raise KbFormatError(
                source, line, f"duplicate id {article.id!r} (first on line {seen[article.id]})"
            )
        seen[article.id] = line


def _jsonl_rows(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    source = str(path)
    with path.open(encoding="utf-8-sig") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise KbFormatError(source, line_no, f"invalid JSON: {exc.msg}") from exc
            if not isinstance(row, dict):
                raise KbFormatError(source, line_no, "each line must be a JSON object")
            yield line_no, row


def read_jsonl(path: str | Path) -> list[Article]:
    path = Path(path)
    articles: list[Article] = []
    lines: list[int] = []
    for line_no, row in _jsonl_rows(path):
        articles.append(article_from_mapping(row, str(path), line_no))
        lines.append(line_no)
    _check_unique(articles, lines, str(path))
    return articles


def article_to_dict(article: Article) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": article.id,
        "lang": article.lang,
        "title": article.title,
        "body": article.body,
        "tags": list(article.tags),
    }
    if article.answer:
        out["answer"] = article.answer
    if article.updated_ms:
        out["updated_ms"] = article.updated_ms
    return out


def write_jsonl(path: str | Path, articles: Iterable[Article]) -> int:
    count = 0
    with Path(path).open("w", encoding="utf-8") as fh:
        for article in articles:
            fh.write(json.dumps(article_to_dict(article), ensure_ascii=False) + "\n")
            count += 1
    return count


# -- Markdown with front matter -------------------------------------------------------------


def _parse_front_matter(lines: list[str], source: str) -> tuple[dict[str, Any], int]:
    """A small YAML subset: ``key: value``, ``key: [a, b]`` and ``key:`` followed by ``- a``."""
    meta: dict[str, Any] = {}
    current_list: list[str] | None = None
    for i, raw in enumerate(lines[1:], start=2):
        line = raw.rstrip()
        if line.strip() == "---":
            return meta, i
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.lstrip().startswith("- ") and current_list is not None:
            current_list.append(_unquote(line.lstrip()[2:].strip()))
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip() or key != key.lstrip():
            raise KbFormatError(source, i, f"front matter line is not 'key: value': {line!r}")
        value = value.strip()
        current_list = None
        if not value:
            current_list = []
            meta[key.strip()] = current_list
        elif value.startswith("[") and value.endswith("]"):
            meta[key.strip()] = [_unquote(v.strip()) for v in value[1:-1].split(",") if v.strip()]
        else:
            meta[key.strip()] = _unquote(value)
    raise KbFormatError(source, 1, "front matter opened with '---' is never closed")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:  # double quotes are JSON strings (that is how write_markdown_dir writes them)
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return value[1:-1]
        return decoded if isinstance(decoded, str) else value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    return value


def parse_markdown(text: str, source: str, default_id: str, default_lang: str | None) -> Article:
    lines = text.splitlines()
    meta: dict[str, Any] = {}
    body_start = 0
    if lines and lines[0].strip() == "---":
        meta, body_start = _parse_front_matter(lines, source)
    body_lines = lines[body_start:]
    if "title" not in meta:
        # No title in the front matter: the first "# heading" is the title.
        for j, line in enumerate(body_lines):
            if line.startswith("# "):
                meta["title"] = line[2:].strip()
                body_lines = body_lines[:j] + body_lines[j + 1 :]
                break
            if line.strip():
                break
    meta.setdefault("id", default_id)
    if default_lang is not None:
        meta.setdefault("lang", default_lang)
    meta["body"] = "\n".join(body_lines).strip()
    return article_from_mapping(meta, source, 1)


def read_markdown_dir(path: str | Path, default_lang: str | None = None) -> list[Article]:
    """Every ``*.md`` under ``path`` (recursively); the id defaults to the file's stem."""
    root = Path(path)
    if not root.is_dir():
        raise KbFormatError(str(root), 0, "not a directory")
    articles: list[Article] = []
    lines: list[int] = []
    for file in sorted(root.rglob("*.md")):
        text = file.read_text(encoding="utf-8-sig")
        articles.append(parse_markdown(text, str(file), file.stem, default_lang))
        lines.append(1)
    _check_unique(articles, lines, str(root))
    return articles


def write_markdown_dir(path: str | Path, articles: Iterable[Article]) -> int:
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    count = 0
    for a in articles:
        tags = ", ".join(json.dumps(t, ensure_ascii=False) for t in a.tags)
        front = [
            "---",
            f"id: {json.dumps(a.id, ensure_ascii=False)}",
            f"lang: {a.lang}",
            f"title: {json.dumps(a.title, ensure_ascii=False)}",
            f"tags: [{tags}]",
            *([f"answer: {json.dumps(a.answer, ensure_ascii=False)}"] if a.answer else []),
            *([f"updated_ms: {a.updated_ms}"] if a.updated_ms else []),
            "---",
        ]
        (root / f"{a.id}.md").write_text("\n".join(front) + "\n" + a.body + "\n", encoding="utf-8")
        count += 1
    return count


# -- CSV -------------------------------------------------------------------------------------


def read_csv(path: str | Path) -> list[Article]:
    """A header row naming at least id, lang, title, body; tags comma-separated in one cell."""
    path = Path(path)
    source = str(path)
    articles: list[Article] = []
    lines: list[int] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [k for k in _REQUIRED if k not in (reader.fieldnames or [])]
        if missing:
            raise KbFormatError(source, 1, f"header lacks column(s): {', '.join(missing)}")
        for row in reader:
            if None in row:
                raise KbFormatError(source, reader.line_num, "more cells than header columns")
            articles.append(article_from_mapping(row, source, reader.line_num))
            lines.append(reader.line_num)
    _check_unique(articles, lines, source)
    return articles


def write_csv(path: str | Path, articles: Iterable[Article]) -> int:
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*ARTICLE_FIELDS, "updated_ms"])
        for a in articles:
            row = [a.id, a.lang, a.title, a.body, ", ".join(a.tags), a.answer, a.updated_ms]
            writer.writerow(row)
            count += 1
    return count


# -- canned replies --------------------------------------------------------------------------


def read_canned_jsonl(path: str | Path) -> list[CannedReply]:
    """Lines of ``{"shortcut", "text", "lang"}``; (shortcut, lang) must be unique."""
    path = Path(path)
    source = str(path)
    replies: list[CannedReply] = []
    seen: dict[tuple[str, str], int] = {}
    for line_no, row in _jsonl_rows(path):
        bad = [
            k
            for k in ("shortcut", "text", "lang")
            if not isinstance(row.get(k), str) or not row[k].strip()
        ]
        if bad:
            raise KbFormatError(source, line_no, f"missing or empty field(s): {', '.join(bad)}")
        shortcut = row["shortcut"].strip().lstrip("/")
        if not shortcut or any(c.isspace() for c in shortcut):
            raise KbFormatError(source, line_no, "shortcut must be one word")
        key = (shortcut.casefold(), row["lang"].strip())
        if key in seen:
            raise KbFormatError(
                source, line_no, f"duplicate shortcut /{shortcut} (line {seen[key]})"
            )
        seen[key] = line_no
        replies.append(CannedReply(shortcut=shortcut, text=row["text"].strip(), lang=key[1]))
    return replies


def write_canned_jsonl(path: str | Path, replies: Iterable[CannedReply]) -> int:
    count = 0
    with Path(path).open("w", encoding="utf-8") as fh:
        for r in replies:
            row = {"shortcut": r.shortcut, "text": r.text, "lang": r.lang}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count
