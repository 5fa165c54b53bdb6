"""``kb suggest`` and ``kb eval``: plugged into the ``livedesk`` CLI by ``register``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kb.article import Article
from kb.errors import KbError
from kb.evaluate import evaluate, read_queries, run
from kb.io import read_csv, read_jsonl, read_markdown_dir
from kb.matcher import KnowledgeIndex


def load_articles(path: str | Path) -> list[Article]:
    """Articles from a ``.jsonl``, a ``.csv`` or a folder of Markdown files."""
    p = Path(path)
    if p.is_dir():
        return read_markdown_dir(p)
    if p.suffix.lower() == ".csv":
        return read_csv(p)
    return read_jsonl(p)


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``kb`` with its own ``suggest`` and ``eval`` to an argparse subparsers object.

    Each leaf sets ``func(args) -> int``; the caller runs ``sys.exit(args.func(args))``.
    Returns the ``kb`` parser's subparsers holder so the caller can add ``import``/``export``.
    """
    kb_parser: argparse.ArgumentParser = subparsers.add_parser(
        "kb", help="knowledge base: suggest, evaluate"
    )
    kb_sub = kb_parser.add_subparsers(dest="kb_command", required=True)

    s = kb_sub.add_parser("suggest", help="rank articles for a text")
    s.add_argument("articles", help="articles: .jsonl, .csv or a folder of .md files")
    s.add_argument("text")
    s.add_argument("--lang", default=None, help="the visitor's language, e.g. sl or sr-Cyrl")
    s.add_argument("--limit", type=int, default=3)
    s.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    s.set_defaults(func=cmd_suggest)

    e = kb_sub.add_parser("eval", help="score the matcher on labelled queries (one JSON line)")
    e.add_argument("articles")
    e.add_argument("queries", help="JSON Lines of {text, lang, expected: [ids]}")
    e.add_argument("--misses", action="store_true", help="list wrong answers on stderr")
    e.set_defaults(func=cmd_eval)
    kb_parser.set_defaults(kb_subparsers=kb_sub)
    return kb_parser


def cmd_suggest(args: argparse.Namespace) -> int:
    try:
        index = KnowledgeIndex(load_articles(args.articles))
    except (KbError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    found = index.suggest(args.text, args.lang, args.limit)
    if args.json:
        results = [
            {"id": s.article_id, "score": s.score, "lang": s.lang, "title": s.title} for s in found
        ]
        print(
            json.dumps(
                {"text": args.text, "lang": args.lang, "results": results}, ensure_ascii=False
            )
        )
    elif not found:
        print("no good answer")
    else:
        for s in found:
            print(f"{s.score:.3f}\t{s.article_id}\t{s.lang}\t{s.title}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    try:
        index = KnowledgeIndex(load_articles(args.articles))
        queries = read_queries(args.queries)
        report = evaluate(index, queries)
        if args.misses:
            outcomes, _ = run(index, queries)
            for o in outcomes:
                if not o.correct:
                    got = [f"{s.article_id}:{s.score:.2f}" for s in o.got]
                    print(
                        f"MISS {o.query.lang} {o.query.text!r} want={list(o.query.expected)} got={got}",
                        file=sys.stderr,
                    )
    except (KbError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kb")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
