"""The matcher on the labelled multilingual set, with floors a little under today's figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.cli import main
from kb.evaluate import evaluate, percentile, read_queries
from kb.io import read_jsonl
from kb.matcher import KnowledgeIndex

DATA = Path(__file__).resolve().parent.parent / "data"
ARTICLES = DATA / "kb_articles.jsonl"
QUERIES = DATA / "kb_queries.jsonl"


def test_labelled_set_is_large_and_multilingual() -> None:
    articles = read_jsonl(ARTICLES)
    queries = read_queries(QUERIES)
    assert len(articles) >= 60 and len(queries) >= 150
    assert {a.lang for a in articles} >= {"en", "sl", "lt", "ro", "ru", "sr-Latn", "sr-Cyrl"}
    assert len({q.lang.split("-")[0] for q in queries if q.lang}) >= 6
    assert 0.15 <= sum(not q.expected for q in queries) / len(queries) <= 0.3


def test_matcher_quality_stays_above_its_floor() -> None:
    report = evaluate(KnowledgeIndex(read_jsonl(ARTICLES)), read_queries(QUERIES))
    assert report.top3_recall >= 0.90
    assert report.top1 >= 0.86
    assert report.mrr >= 0.88
    assert report.no_answer_precision >= 0.80
    assert report.no_answer_recall >= 0.85


def test_percentile_is_nearest_rank() -> None:
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile([1.0, 2.0], 99) == 2.0
    assert percentile([], 50) == 0.0


def test_cli_eval_prints_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "eval", str(ARTICLES), str(QUERIES)]) == 0
    line = capsys.readouterr().out.strip()
    assert "\n" not in line
    figures = json.loads(line)
    assert {"top1", "top3_recall", "mrr", "no_answer_precision", "p50_ms", "p99_ms", "n"} <= set(
        figures
    )
    assert figures["n"] == len(read_queries(QUERIES))


def test_cli_suggest_json_ranks_ids(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["kb", "suggest", str(ARTICLES), "zaboravio sam lozinku", "--lang", "sr", "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["results"][0]["id"] == "password-reset-sr-latn"
    assert all(0 <= r["score"] <= 1 for r in out["results"])


def test_cli_reports_a_bad_file_with_exit_code_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n", encoding="utf-8")
    assert main(["kb", "suggest", str(bad), "x"]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err
