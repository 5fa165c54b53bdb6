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
HELDOUT = DATA / "kb_queries_heldout.jsonl"


def test_labelled_set_is_written_the_way_customers_write() -> None:
    articles = read_jsonl(ARTICLES)
    queries = read_queries(QUERIES) + read_queries(HELDOUT)
    assert len(articles) >= 60 and len(queries) >= 400
    assert {a.lang for a in articles} >= {"en", "sl", "lt", "ro", "ru", "sr-Latn", "sr-Cyrl"}
    assert len({q.lang.split("-")[0] for q in queries if q.lang}) >= 6
    styles = [q.style for q in queries]
    assert styles.count("sentence") / len(styles) >= 0.3
    assert styles.count("long") / len(styles) >= 0.2
    assert {"keyword", "typo", "no_diacritics", "script_swap", "no_answer"} <= set(styles)
    titles = {a.title.casefold() for a in articles}
    assert not any(q.text.casefold() in titles for q in queries)


def test_matcher_quality_stays_above_its_floor() -> None:
    # Floors a little under the dev-set figures in docs/kb.md.
    report = evaluate(KnowledgeIndex(read_jsonl(ARTICLES)), read_queries(QUERIES))
    assert report.same_language_top1 >= 0.88
    assert report.same_language_top3 >= 0.93
    assert report.by_style["long"]["top3_recall"] >= 0.9
    assert report.no_answer_precision >= 0.8
    assert report.no_answer_recall >= 0.8


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
