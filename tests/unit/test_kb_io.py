from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.article import Article, CannedReply
from kb.errors import KbFormatError
from kb.io import (
    read_canned_jsonl,
    read_csv,
    read_jsonl,
    read_markdown_dir,
    write_canned_jsonl,
    write_csv,
    write_jsonl,
    write_markdown_dir,
)

ARTICLES = [
    Article(
        "a1",
        "sl",
        "Plačilo po povzetju",
        "Plačate kurirju.\n\nDrugi odstavek.",
        ("povzetje", "plačilo"),
    ),
    Article("a2", "sr-Cyrl", 'Поруџбина, "наводници"', "Тело: са двотачком", (), updated_ms=5),
    Article(
        "a3", "en", "Cash on delivery", "Pay the courier.", (), answer='Yes: "pay" on delivery.'
    ),
]


def test_jsonl_round_trip_keeps_every_field(tmp_path: Path) -> None:
    path = tmp_path / "kb.jsonl"
    assert write_jsonl(path, ARTICLES) == 3
    assert read_jsonl(path) == ARTICLES


def test_csv_round_trip_keeps_every_field(tmp_path: Path) -> None:
    path = tmp_path / "kb.csv"
    write_csv(path, ARTICLES)
    assert read_csv(path) == ARTICLES


def test_markdown_dir_round_trip_keeps_every_field(tmp_path: Path) -> None:
    write_markdown_dir(tmp_path, ARTICLES)
    assert sorted(read_markdown_dir(tmp_path), key=lambda a: a.id) == ARTICLES


def test_markdown_front_matter_block_lists_and_heading_title(tmp_path: Path) -> None:
    (tmp_path / "returns.md").write_text(
        "---\nlang: en\ntags:\n  - returns\n  - 'refund'\n---\n# Returning a product\n\nSend it back.\n",
        encoding="utf-8",
    )
    [article] = read_markdown_dir(tmp_path)
    assert article == Article(
        "returns", "en", "Returning a product", "Send it back.", ("returns", "refund")
    )


def test_jsonl_bad_rows_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "kb.jsonl"
    good = json.dumps({"id": "x", "lang": "en", "title": "T", "body": "B"})
    path.write_text(good + "\n\n{not json\n", encoding="utf-8")
    with pytest.raises(KbFormatError, match=r"kb\.jsonl:3: invalid JSON"):
        read_jsonl(path)
    path.write_text(good + "\n" + json.dumps({"id": "y", "lang": "en", "title": ""}) + "\n")
    with pytest.raises(KbFormatError, match=r":2: missing or empty field\(s\): title, body"):
        read_jsonl(path)
    path.write_text(good + "\n" + good + "\n")
    with pytest.raises(KbFormatError, match=r":2: duplicate id 'x' \(first on line 1\)"):
        read_jsonl(path)


def test_csv_without_required_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kb.csv"
    path.write_text("id,title\nx,T\n", encoding="utf-8")
    with pytest.raises(KbFormatError, match="header lacks column"):
        read_csv(path)


def test_unclosed_front_matter_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("---\nlang: en\ntitle: T\nbody\n", encoding="utf-8")
    with pytest.raises(KbFormatError):
        read_markdown_dir(tmp_path)


def test_canned_replies_round_trip_and_refuse_duplicate_shortcuts(tmp_path: Path) -> None:
    path = tmp_path / "canned.jsonl"
    replies = [
        CannedReply("refund", "We refund in 5 days.", "en"),
        CannedReply("refund", "Vrnemo v 5 dneh.", "sl"),
    ]
    write_canned_jsonl(path, replies)
    assert read_canned_jsonl(path) == replies
    path.write_text(
        path.read_text() + json.dumps({"shortcut": "/Refund", "text": "x", "lang": "en"}) + "\n"
    )
    with pytest.raises(KbFormatError, match=r":3: duplicate shortcut"):
        read_canned_jsonl(path)
