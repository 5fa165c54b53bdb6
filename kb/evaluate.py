"""The matcher's report card on a labelled query set."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import KbError, KbFormatError
from kb.matcher import KnowledgeIndex, Suggestion


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    lang: str | None
    expected: tuple[str, ...]
    # How the query is written (keyword, sentence, long, typo, no_answer …), for ``by_style``.
    style: str = ""


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Rank figures are over answerable queries; the no-answer ones over "said nothing"."""

    top1: float
    top3_recall: float
    mrr: float
    no_answer_precision: float
    no_answer_recall: float
    p50_ms: float
    p99_ms: float
    n: int
    n_answerable: int
    n_no_answer: int
    # Per style: n, top1, top3_recall (answerable) or said_nothing (no_answer).
    by_style: dict[str, dict[str, float]] = field(default_factory=dict)
    # Answerable queries whose article is in their own language (cross_language left out).
    same_language_top1: float = 0.0
    same_language_top3: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Outcome:
    query: Query
    got: tuple[Suggestion, ...]

    @property
    def rank(self) -> int | None:
        for i, s in enumerate(self.got, start=1):
            if s.article_id in self.query.expected:
                return i
        return None

    @property
    def correct(self) -> bool:
        if not self.query.expected:
            return not self.got
        return self.rank == 1


def read_queries(path: str | Path) -> list[Query]:
    path = Path(path)
    queries: list[Query] = []
    with path.open(encoding="utf-8-sig") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise KbFormatError(str(path), line_no, f"invalid JSON: {exc.msg}") from exc
            text, lang, expected = row.get("text"), row.get("lang"), row.get("expected")
            style = row.get("style", "")
            if not isinstance(text, str) or not text.strip():
                raise KbFormatError(str(path), line_no, "text must be a non-empty string")
            if lang is not None and not isinstance(lang, str):
                raise KbFormatError(str(path), line_no, "lang must be a string or null")
            if not isinstance(expected, list) or not all(isinstance(e, str) for e in expected):
                raise KbFormatError(str(path), line_no, "expected must be a list of article ids")
            if not isinstance(style, str):
                raise KbFormatError(str(path), line_no, "style must be a string")
            queries.append(Query(text, lang, tuple(expected), style))
    return queries


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: the figure is a time that happened)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def run(
    index: KnowledgeIndex, queries: Sequence[Query], limit: int = 3
) -> tuple[list[Outcome], list[float]]:
    unknown = sorted({e for q in queries for e in q.expected if e not in index})
    if unknown:
        raise KbError(f"queries expect article ids the index lacks: {', '.join(unknown[:10])}")
    outcomes: list[Outcome] = []
    times_ms: list[float] = []
    for q in queries:
        start = time.perf_counter()
        got = index.suggest(q.text, q.lang, limit)
        times_ms.append((time.perf_counter() - start) * 1000.0)
        outcomes.append(Outcome(q, tuple(got)))
    return outcomes, times_ms


def _style_figures(outcomes: Sequence[Outcome]) -> dict[str, float]:
    n = len(outcomes)
    if all(not o.query.expected for o in outcomes):
        return {"n": n, "said_nothing": round(sum(not o.got for o in outcomes) / n, 4)}
    ranks = [o.rank for o in outcomes]
    return {
        "n": n,
        "top1": round(sum(r == 1 for r in ranks) / n, 4),
        "top3_recall": round(sum(r is not None and r <= 3 for r in ranks) / n, 4),
    }


def evaluate(index: KnowledgeIndex, queries: Sequence[Query]) -> EvalReport:
    outcomes, times_ms = run(index, queries, limit=3)
    styles: dict[str, list[Outcome]] = {}
    for o in outcomes:
        styles.setdefault(o.query.style or "unlabelled", []).append(o)
    same = [o.rank for o in outcomes if o.query.expected and o.query.style != "cross_language"]
    answerable = [o for o in outcomes if o.query.expected]
    no_answer = [o for o in outcomes if not o.query.expected]
    said_nothing = [o for o in outcomes if not o.got]
    ranks = [o.rank for o in answerable]

    def share(part: int, whole: int) -> float:
        return round(part / whole, 4) if whole else 0.0

    return EvalReport(
        top1=share(sum(r == 1 for r in ranks), len(answerable)),
        top3_recall=share(sum(r is not None and r <= 3 for r in ranks), len(answerable)),
        mrr=round(sum(1.0 / r for r in ranks if r) / len(answerable), 4) if answerable else 0.0,
        # Nothing said, nothing to be wrong about: an empty "said nothing" set scores 1.
        no_answer_precision=share(
            sum(not o.query.expected for o in said_nothing), len(said_nothing)
        )
        if said_nothing
        else 1.0,
        no_answer_recall=share(sum(not o.got for o in no_answer), len(no_answer)),
        p50_ms=round(percentile(times_ms, 50), 3),
        p99_ms=round(percentile(times_ms, 99), 3),
        n=len(outcomes),
        n_answerable=len(answerable),
        n_no_answer=len(no_answer),
        by_style={k: _style_figures(v) for k, v in sorted(styles.items())},
        same_language_top1=share(sum(r == 1 for r in same), len(same)),
        same_language_top3=share(sum(r is not None and r <= 3 for r in same), len(same)),
    )
