"""The pre-chat form's extra answers (phone, order number, the admin's own question):
what a visitor may send with their session, bounded and checked, stored as one JSON text
on the visitor (``visitors.answers``) and shown to the agent as text."""

from __future__ import annotations

import json
from typing import Any

from chatserver.core.protocol import unstorable_field

# Each answer's longest accepted length (the name and e-mail are the visitor's own columns).
ANSWER_LIMITS = {"phone": 40, "order": 60, "custom": 500}
# The custom question's label as the visitor saw it (the admin may change it later).
LABEL_LIMIT = 80


class AnswersError(ValueError):
    """What is wrong with the answers sent, for a 400."""


def parse_answers(value: Any) -> dict[str, str]:
    """The answers a session body carries (``{"phone": "…", "custom": "…",
    "custom_label": "…"}``): strings within their limits, storable; blanks dropped."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AnswersError("`answers` must be an object")
    limits = {**ANSWER_LIMITS, "custom_label": LABEL_LIMIT}
    out: dict[str, str] = {}
    for key, text in value.items():
        if key not in limits:
            raise AnswersError(f"`answers` holds an unknown field `{str(key)[:40]}`")
        if not isinstance(text, str) or len(text) > limits[key]:
            raise AnswersError(
                f"`answers.{key}` must be a string of at most {limits[key]} characters"
            )
        if text.strip():
            out[key] = text.strip()
    if "custom" not in out:
        out.pop("custom_label", None)
    bad = unstorable_field(out)
    if bad is not None:
        raise AnswersError(f"`answers.{bad}` holds characters that cannot be stored")
    return out


def merged(stored: str | None, new: dict[str, str]) -> str | None:
    """The visitor's stored answers (JSON text) with the new ones over them."""
    answers = {**read_answers(stored), **new}
    return json.dumps(answers, ensure_ascii=False) if answers else None


def read_answers(stored: str | None) -> dict[str, str]:
    """The stored answers, {} when none (or unreadable: a panel never fails on them)."""
    if not stored:
        return {}
    try:
        value = json.loads(stored)
    except ValueError:
        return {}
    return {k: v for k, v in value.items() if isinstance(v, str)} if isinstance(value, dict) else {}
